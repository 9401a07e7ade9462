//! What can go wrong with the history database.

/// Errors of the store. None of them carries key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot unlock the chat history database: wrong key or passphrase, or the file is not \
         a Hearth database (the file was not changed)"
    )]
    CannotUnlock,
    #[error(
        "this chat history was written by a newer Hearth (schema {found}; this build knows up \
         to {supported}); update Hearth to open it (the file was not changed)"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("{prefix:?} matches more than one conversation; type more of the id")]
    Ambiguous { prefix: String },
    #[error("cannot import: {0}")]
    InvalidImport(String),
    #[error("{0}")]
    Invalid(String),
    /// Secrets are kept only in an encrypted database.
    #[error("this chat history database is not encrypted, so it cannot hold keys")]
    NotEncrypted,
    #[error("the chat history database is damaged: {0}")]
    Corrupt(String),
    #[error("chat history file: {0}")]
    Io(#[from] std::io::Error),
    #[error("chat history database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
