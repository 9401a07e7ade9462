//! One error type for the hub, with messages a user can act on.

use std::path::{Path, PathBuf};

/// Everything that can go wrong searching, downloading or managing models.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot reach Hugging Face at {endpoint}: {reason}")]
    Network { endpoint: String, reason: String },
    #[error("{what} not found on Hugging Face (404)")]
    NotFound { what: String },
    #[error(
        "{repo} is gated: this model needs a Hugging Face token (accept its licence on huggingface.co, then set HF_TOKEN)"
    )]
    Gated { repo: String },
    #[error("Hugging Face refused the request for {what}: HTTP {status}")]
    Http { what: String, status: u16 },
    #[error("Hugging Face is having trouble (HTTP {status}) for {what}; try again later")]
    Server { what: String, status: u16 },
    #[error("unexpected answer from Hugging Face for {what}: {reason}")]
    BadResponse { what: String, reason: String },
    #[error("unsafe file name from the Hub refused: {name:?} ({reason})")]
    UnsafeName { name: String, reason: &'static str },
    #[error("not a valid repository id: {0:?} (expected owner/name)")]
    BadRepoId(String),
    #[error("no GGUF file in {repo} matches {wanted:?}; available: {available}")]
    NoSuchFile {
        repo: String,
        wanted: String,
        available: String,
    },
    #[error("{repo} has no GGUF files")]
    NoGguf { repo: String },
    #[error(
        "{repo} has several GGUF files; choose one with {repo}:QUANT or {repo}:FILE ({available})"
    )]
    Ambiguous { repo: String, available: String },
    #[error(
        "not enough free disk space in {}: need {need} bytes, {free} free",
        dir.display()
    )]
    DiskFull { dir: PathBuf, need: u64, free: u64 },
    #[error(
        "{file} is corrupt: sha256 {actual} does not match the Hub's {expected}; the partial download was deleted"
    )]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file}: the server sent {got} bytes, expected {expected}")]
    SizeMismatch {
        file: String,
        expected: u64,
        got: u64,
    },
    #[error("download of {file} stalled and failed after {attempts} attempts: {last}")]
    Exhausted {
        file: String,
        attempts: u32,
        last: String,
    },
    #[error("download paused; run the same pull again to resume")]
    Paused,
    #[error("download cancelled; the partial file was deleted")]
    Cancelled,
    #[error("{} is not a usable GGUF model: {reason}", path.display())]
    BadGguf { path: PathBuf, reason: String },
    #[error("no model {0:?} in the library (see `hearth list`)")]
    UnknownModel(String),
    #[error("{query:?} matches several models: {candidates}")]
    AmbiguousModel { query: String, candidates: String },
    #[error("Hearth did not download {id}; delete it in {app}")]
    NotOwned { id: String, app: String },
    #[error("the library manifest {} is damaged: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error("bad catalog: {0}")]
    Catalog(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether trying the same request again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Network { .. } | Self::Server { .. })
    }
}
