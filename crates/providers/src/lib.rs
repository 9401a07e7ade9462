//! Cloud chat providers behind Hearth's [`ChatBackend`](hearth_backend::ChatBackend)
//! seam: OpenAI, Anthropic, Google Gemini, and any OpenAI-compatible server
//! (Ollama, llama.cpp, vLLM, LM Studio).
//!
//! - [`ProviderConfig`] says what a provider is: kind, name, base URL, key.
//! - [`Provider`] talks to it: chat streams, model lists, a circuit breaker
//!   ([`BreakerState`]), timeouts and retries ([`HttpPolicy`]), and the
//!   [`Network`] settings (the offline switch and the ledger's
//!   [`NetworkObserver`]).
//! - [`ProviderModel`] is one of its models as a `ChatBackend`; its context
//!   window comes from the user's setting or the table of known models
//!   ([`known_window`]), its token count from [`estimate_tokens`].
//!
//! Inside, each API is a pure translator (`openai.rs`, `anthropic.rs`,
//! `gemini.rs`); `http.rs` is the only code that touches the network.
//!
//! ```
//! use std::sync::Arc;
//! use hearth_providers::{HttpPolicy, Network, Provider, ProviderConfig, ProviderKind};
//! use hearth_backend::ChatBackend;
//!
//! let config = ProviderConfig::new("ollama", ProviderKind::Compat)
//!     .with_base_url("http://localhost:11434/v1");
//! let provider = Arc::new(Provider::new(config, HttpPolicy::default(), Network::default())?);
//! let backend = provider.model("llama3.2:1b");
//! assert_eq!(backend.id().to_string(), "ollama:llama3.2:1b");
//! # Ok::<(), hearth_providers::ConfigError>(())
//! ```

mod anthropic;
mod breaker;
mod config;
mod gemini;
mod http;
mod ledger;
mod openai;
mod provider;
mod window;
mod wire;

pub use breaker::BreakerState;
pub use config::{ConfigError, ProviderConfig, ProviderKind};
pub use http::HttpPolicy;
pub use ledger::{Network, NetworkEvent, NetworkObserver, Purpose};
pub use provider::{Provider, ProviderModel};
pub use window::{MESSAGE_OVERHEAD, ModelWindow, estimate_tokens, known_window};
pub use wire::RemoteModel;
