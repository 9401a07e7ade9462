//! Errors of the chat service, each with a message a person can act on.

use hearth_backend::{BackendError, BackendId};
use hearth_engine::EngineError;
use hearth_hub::HubError;
use hearth_secrets::SecretError;
use hearth_store::StoreError;

use crate::config::{ConfigError, env};
use crate::turn::context::TooLong;

/// Everything `App` can fail with. No variant carries a secret or a prompt.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    TooLong(#[from] TooLong),
    #[error(transparent)]
    Hub(#[from] HubError),
    /// A secret must be stored in (or read from) the OS keychain, but there is
    /// none. Hearth never falls back to another place on its own.
    #[error(
        "no OS keychain is available (no Secret Service on this session): keep the key in \
         Hearth's encrypted database instead (`--store db`, or Settings), or give it for this \
         session only in its environment variable (e.g. {})",
        env::OPENAI_API_KEY
    )]
    NoKeychain,
    /// The OS keychain is locked (unlocking was cancelled, could not be asked
    /// for, or took too long) and holds what was needed.
    #[error(
        "the OS keychain is locked, and {what}: unlock it (your desktop may be asking for its \
         password) and try again"
    )]
    KeychainLocked { what: &'static str },
    /// No keychain can hold the database key and no passphrase was given.
    #[error(
        "no OS keychain is available to hold the key of the chat history database; \
         enter a passphrase or set {}",
        env::DB_PASSPHRASE
    )]
    NeedPassphrase,
    /// The database exists but its key is not in the keychain (it was created
    /// with a passphrase, or the keychain was reset).
    #[error(
        "the key of the chat history database is not in the OS keychain; \
         enter the passphrase it was created with or set {}",
        env::DB_PASSPHRASE
    )]
    KeyNotInKeychain,
    /// The keychain holds something that is not a database key.
    #[error("the database key in the OS keychain is damaged (expected 64 hex digits)")]
    BadKeyInKeychain,
    #[error("this conversation has no model; choose one first")]
    NoModel,
    #[error("no model {0:?}: not in the library (see `hearth list`) and not a .gguf file")]
    ModelNotFound(String),
    #[error("cannot read the model file {}: it does not exist", .0.display())]
    NoModelFile(std::path::PathBuf),
    /// A model an API client named that it may not use: the same words for an
    /// unknown id and for any path, so the answer tells nothing about files.
    #[error(
        "the model {0:?} does not exist: name a model of the library (GET /v1/models lists them)"
    )]
    UnknownApiModel(String),
    #[error(transparent)]
    Tools(#[from] hearth_tools::ToolsError),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot create {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the generation worker stopped unexpectedly")]
    WorkerGone,
    /// A cloud backend failed (its message says what to do).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The local model failed while answering (loading fails as
    /// [`CoreError::Engine`]).
    #[error(transparent)]
    LocalModel(BackendError),
    #[error("no provider named {0:?} is set up (see `hearth provider list`)")]
    UnknownProvider(String),
    /// The conversation's policy is "ask before cloud": nothing was sent; ask
    /// the user and send again with their answer.
    #[error(
        "this message would go to {backend}{}{}; send it again once the user agreed",
        reason_suffix(.reason),
        documents_suffix(.documents)
    )]
    ConsentNeeded {
        backend: String,
        reason: Option<String>,
        /// How much document text would go with it (a conversation with a
        /// collection attached): "12,345 characters (about 3,086 tokens) of
        /// document text from \"notes\"".
        documents: Option<String>,
    },
    /// The router refused the turn (policy, nothing can answer); nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// The offline switch is on.
    #[error(
        "Hearth is offline: nothing was sent to {0}. Turn the offline switch off \
         (`hearth network online`) to connect"
    )]
    Offline(&'static str),
    /// Documents: a collection missing, a file or the search failing.
    #[error(transparent)]
    Docs(#[from] hearth_docs::DocError),
    /// Retrieval needs a local embedding model and there is none.
    #[error(
        "no embedding model to search the documents with: import one (copy a \
         sentence-transformers folder such as all-MiniLM-L6-v2 into {}) or set {}",
        .models_dir.display(),
        env::EMBED_MODEL
    )]
    NoEmbedModel { models_dir: std::path::PathBuf },
    /// Over a daily or monthly budget; nothing was sent.
    #[error("{0}")]
    OverBudget(String),
}

impl CoreError {
    /// A backend's failure: the local engine's is the model's
    /// ([`CoreError::LocalModel`]), a provider's the cloud's
    /// ([`CoreError::Backend`]).
    pub(crate) fn from_backend(backend: &BackendId, err: BackendError) -> Self {
        if backend.is_local() {
            Self::LocalModel(err)
        } else {
            Self::Backend(err)
        }
    }
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" because {r}"))
        .unwrap_or_default()
}

fn documents_suffix(documents: &Option<String>) -> String {
    documents
        .as_ref()
        .map(|d| format!(", with {d}"))
        .unwrap_or_default()
}
