//! hearth-core: the application service every front end (CLI, desktop app, API
//! server) calls.
//!
//! - [`App`] opens everything: the configuration ([`Config`], the one reader of
//!   `HEARTH_*` variables), the encrypted history database (hearth-store, its key
//!   in the OS keychain through hearth-secrets) and the local model
//!   (hearth-engine).
//! - [`App::send`] runs a turn: the user's message is stored first, the answer
//!   streams as [`ChatEvent`]s and is checkpointed while it grows;
//!   [`App::regenerate`], [`App::edit_and_resend`] and [`App::continue_answer`]
//!   branch and resume.
//! - [`Models`] is the model library: Hugging Face search, pulls that resume,
//!   import, remove, and `-m ID` resolution (hearth-hub underneath).
//! - [`App::api_chat`] answers one stateless request for the API server.
//! - [`context::fit`] keeps a conversation inside the model's context window.
//! - [`files`] keeps the data folder private (0700) and writes exports 0600.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hearth_core::CoreError> {
//! use hearth_core::{App, Config, TurnOptions};
//! use hearth_store::NewConversation;
//!
//! let app = App::open(Config::from_env()?)?;
//! let conv = app.store().create_conversation(&NewConversation {
//!     model: Some("/models/SmolLM2-135M-Instruct.Q4_1.gguf".into()),
//!     ..NewConversation::default()
//! })?;
//! let cancel = tokio_util::sync::CancellationToken::new();
//! let turn = app
//!     .send(&conv.id, "Hello!", &TurnOptions::default(), cancel, |event| {
//!         println!("{event:?}")
//!     })
//!     .await?;
//! println!("{}", turn.answer.content);
//! # Ok(()) }
//! ```

pub mod api;
mod app;
mod chat;
mod cloud;
mod cloud_turn;
mod config;
pub mod context;
mod cost;
mod error;
pub mod files;
mod key;
mod local;
mod models;
pub mod redact;
pub mod router;
mod stats;
pub mod title;
mod turn_route;
pub mod view;

pub use api::{
    API_TITLE_PREFIX, ApiAnswer, ApiChat, ApiFinish, ApiInput, ApiSettings, ApiTarget,
    CLOUD_MODELS_SETTING, STORE_CONVERSATIONS_SETTING,
};
pub use app::{App, KEYCHAIN_SERVICE, OpenOptions, Secrets};
pub use chat::{CHECKPOINT_EVERY, ChatEvent, LOCAL_BACKEND, TurnOptions, TurnResult};
pub use cloud::{ProviderEntry, ProviderInfo};
pub use config::{Config, ConfigError, DEFAULT_HF_ENDPOINT, default_model_from_env, env};
pub use cost::{Budget, Price};
pub use error::CoreError;
pub use hearth_engine::OutputFormat;
pub use hearth_hub;
pub use hearth_providers;
pub use models::{CatalogChoice, LibraryModel, Models, PullSpec, RemoteChoice};
pub use stats::{BackendStats, Stats};
