//! hearth-server: Hearth's OpenAI-compatible HTTP API, on 127.0.0.1 by default.
//!
//! - [`ServerConfig`] says where to listen, the optional API key, the CORS
//!   allow-list, the body limit and how many generations may wait or run.
//! - [`bind`] opens the socket (port 0 picks a free one) and returns a
//!   [`Bound`] server whose [`Bound::serve`] runs until `shutdown` completes;
//!   [`serve`] does both.
//! - [`Bound::log`] is a [`RequestLog`]: the last [`LOG_CAPACITY`] requests
//!   (method, path, status, time taken, model), refused ones too; never a
//!   header, body or key.
//! - [`key_in`] reads or creates the `api-key` file (random, owner-only).
//! - Every answer comes from [`hearth_core::App::api_chat`]: local models
//!   (library id or unique prefix; a file by path only inside a folder of
//!   [`ServerConfig::allow_model_dirs`]) and, when the user allows it
//!   ([`hearth_core::ApiSettings::cloud_models`]), `provider:model`, which
//!   `/v1/models` then lists too (each provider's list, cached for 5 minutes).
//!   Nothing is stored but a usage record, unless the user turned on
//!   [`hearth_core::ApiSettings::store_conversations`].
//!
//! Routes: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions`,
//! `POST /v1/completions` (JSON or server-sent events with `"stream": true`),
//! `POST /v1/embeddings` (see `embeddings.rs`).
//! Errors have OpenAI's shape `{"error": {"message", "type", "param", "code"}}`.
//!
//! Safety (SECURITY.md has the threat model): a non-loopback address needs an
//! API key; with a key every `/v1` request needs `Authorization: Bearer KEY`;
//! the `Host` header must name the loopback or the bound address (DNS
//! rebinding); a request from a web page (`Origin`, or `Sec-Fetch-Site:
//! cross-site`) is refused with 403 unless the page is on the allow-list,
//! before any other work; generation routes take `Content-Type:
//! application/json` only (415 otherwise), so no form post or `text/plain`
//! beacon reaches them; unknown model ids and every path outside the allowed
//! folders get the same 404; at most [`ServerConfig::max_connections`]
//! connections, request headers within [`ServerConfig::header_timeout`],
//! bodies within [`ServerConfig::body_timeout`], generations stopped after
//! [`ServerConfig::max_generation`]; prompts and keys are never logged.
//!
//! ```no_run
//! # async fn demo(app: hearth_core::App) -> Result<(), hearth_server::ServerError> {
//! let bound = hearth_server::bind(app, hearth_server::ServerConfig::default()).await?;
//! println!("listening on http://{}", bound.local_addr());
//! bound.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod embeddings;
mod error;
mod guard;
mod keyfile;
mod log;
mod routes;
mod server;
mod tools;
mod wire;

pub use keyfile::{KEY_FILE, key_in, masked, read_key};
pub use log::{LOG_CAPACITY, LoggedRequest, RequestLog};
pub use server::{Bound, DEFAULT_PORT, ServerConfig, ServerError, bind, serve};
