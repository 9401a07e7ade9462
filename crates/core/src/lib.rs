//! hearth-core: the application service every front end (CLI, desktop app, API
//! server) calls.
//!
//! - [`App`] opens everything: the configuration ([`Config`], the one reader of
//!   `HEARTH_*` variables), the encrypted history database (hearth-store, its key
//!   in the OS keychain through hearth-secrets, or a passphrase) and the local
//!   model (hearth-engine). Provider keys and tokens live where the user chose
//!   ([`SecretStorage`]: the keychain or the encrypted database) or come from
//!   the environment for a session ([`KeySource`]).
//! - [`App::send`] runs a turn: the user's message is stored first, the answer
//!   streams as [`ChatEvent`]s and is checkpointed while it grows;
//!   [`App::regenerate`], [`App::edit_and_resend`] and [`App::continue_answer`]
//!   branch and resume.
//! - Every answer, local or cloud, chat or API or `hearth run`, takes the one
//!   turn path (`turn/`): the context fitted to the backend's window, the
//!   cloud guard (redaction, budget), streaming with checkpoints, metrics. The
//!   local engine is a [`LocalBackend`], behind the same
//!   [`hearth_backend::ChatBackend`] seam as the cloud providers; [`answer`]
//!   is the path for a caller that keeps nothing.
//! - [`Models`] is the model library: Hugging Face search, pulls that resume,
//!   import, remove, and `-m ID` resolution (hearth-hub underneath); and the
//!   network settings ([`NetworkOverview`]: proxy, extra CA) every HTTP
//!   client is built from (hearth-net).
//! - [`App::api_chat`] answers one stateless request for the API server.
//! - [`context::fit`] keeps a conversation inside the model's context window.
//! - [`App::attach_docs`] gives a conversation a document collection
//!   (hearth-docs): each turn then gets the whole documents when they fit, or
//!   the passages retrieval finds ([`DocumentsUsed`]), and the answer keeps
//!   its sources ([`App::citations`]).
//! - [`App::import_history`] brings conversations in from ChatGPT, Jan, Open
//!   WebUI, LM Studio and Hearth exports; [`App::export_history`] writes them
//!   all out as Markdown and JSON.
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
mod config;
mod cost;
mod docs;
mod error;
pub mod files;
mod json_output;
mod key;
mod keys;
mod load_settings;
mod local;
mod mcp;
mod models;
mod network;
pub mod redact;
pub mod router;
mod stats;
pub mod title;
pub mod tools;
mod transfer;
mod turn;
mod turn_route;
pub mod view;

pub use api::{
    API_TITLE_PREFIX, ApiAnswer, ApiChat, ApiFinish, ApiInput, ApiSettings, ApiTarget,
    CLOUD_MODELS_SETTING, STORE_CONVERSATIONS_SETTING,
};
pub use app::{App, KEYCHAIN_SERVICE, OpenOptions, Secrets};
pub use chat::{ChatEvent, TurnOptions, TurnResult};
pub use cloud::{MIN_CONTEXT_WINDOW, ProviderEntry, ProviderInfo, ProviderKey, StoredKey};
pub use config::{
    Config, ConfigError, DEFAULT_HF_ENDPOINT, EnvSecrets, ProxyEnv, default_model_from_env, env,
    provider_key_var,
};
pub use cost::{Budget, Price};
pub use docs::LocalEmbed;
pub use error::CoreError;
pub use hearth_engine::OutputFormat;
// Sentence embeddings (`/v1/embeddings`, `hearth embed`): the engine's encoder.
pub use hearth_engine::{Embedder, Embeddings};
pub use hearth_hub;
pub use hearth_net;
pub use hearth_providers;
/// The current time as Unix milliseconds: the one clock of the crates above
/// the store (from hearth-store).
pub use hearth_store::now;
pub use json_output::JsonEnforcement;
pub use keys::{KeySource, SecretStorage};
pub use load_settings::{
    LoadSettings, MAX_CONTEXT, MIN_CONTEXT, max_threads, set_startup_threads, threads_in_use,
};
pub use local::{LOCAL_BACKEND, LocalBackend};
pub use mcp::{ALWAYS_ALLOW_SETTING, AlwaysAllowed, AppApprover, AskUser, pick_text, token_name};
pub use models::{CatalogChoice, LibraryModel, Login, Models, PullSpec, RemoteChoice};
pub use network::{CaFileOverview, NetworkOverview, NetworkSettings, ProxyChoice, ProxySetting};
pub use stats::{BackendStats, Stats};
pub use tools::{
    Approval, Approver, ChatTools, ChatTurn, DEFAULT_MAX_ROUNDS, PendingCall, ToolPick,
};
pub use transfer::{ExportReportView, ImportReportView, SkippedView};
pub use turn::documents::{DocMode, DocumentsUsed};
pub use turn::{Answer, CHECKPOINT_EVERY, answer, context};
