//! Test support for Hearth (a dev-dependency only).
//!
//! - [`models`]: where the real test models are, and what to run when they are not.
//! - [`hf`]: a Hugging Face Hub stand-in serving them, with fault injection.
//! - [`gguf`]: GGUF files written by tests: a writer that writes what it is
//!   told, tiny complete models, and the hostile-file corpus.
//! - [`providers`]: OpenAI, Anthropic and Gemini stand-ins (SSE, error bodies, faults,
//!   hostile servers: redirects, endless streams, gigabyte bodies, trickles).
//! - [`proxy`]: an HTTP proxy (tunnels and forwarding, Basic credentials,
//!   one that refuses or resets).
//! - [`tls`]: a throwaway certificate authority and a TLS front for any stand-in.
//!
//! ```no_run
//! let path = hearth_testkit::models::smollm2();
//! assert!(path.exists());
//! ```

pub mod gguf;
pub mod hf;
pub mod models;
pub mod providers;
pub mod proxy;
pub mod tls;
