//! One error type for the hub, with messages a user can act on.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong searching, downloading or managing models.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot reach Hugging Face at {endpoint}: {reason}")]
    Network {
        /// Redacted.
        endpoint: String,
        reason: String,
        /// Whether trying again later could help (not for a refused
        /// certificate or proxy).
        retryable: bool,
    },
    #[error("not a usable Hugging Face endpoint {endpoint}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("{what} not found on Hugging Face (404)")]
    NotFound { what: String },
    #[error(
        "{repo} is gated: accept its licence at {page} with your Hugging Face account, then run `hearth login` with a token of that account (or set HF_TOKEN)"
    )]
    Gated { repo: String, page: String },
    #[error(
        "your Hugging Face account has not been granted {repo} yet: accept its licence at {page} (some authors approve requests by hand, which can take a while); your token itself is fine"
    )]
    GatedNoAccess { repo: String, page: String },
    #[error(
        "Hugging Face rejected your token: it expired or was revoked. Create a new one at {tokens_page} and run `hearth login` (or `hearth logout` to go on without one)"
    )]
    BadToken { tokens_page: String },
    #[error(
        "your Hugging Face token was not sent: {endpoint} is plain http:// to another machine, where anyone on the way could read it; use an https:// endpoint"
    )]
    TokenWithheld { endpoint: String },
    #[error("{repo} was not found on Hugging Face{}", not_found_hint(*.signed_in))]
    RepoNotFound { repo: String, signed_in: bool },
    #[error("{repo} has been disabled on Hugging Face")]
    Disabled { repo: String },
    #[error("Hugging Face refused access to {what} (HTTP 403){}", forbidden_hint(*.token_sent))]
    Forbidden { what: String, token_sent: bool },
    #[error("Hugging Face is limiting requests (HTTP 429); try again in a minute")]
    RateLimited { retry_after: Option<Duration> },
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
        match self {
            Self::Network { retryable, .. } => *retryable,
            Self::Server { .. } | Self::RateLimited { .. } => true,
            _ => false,
        }
    }
}

fn not_found_hint(signed_in: bool) -> &'static str {
    if signed_in {
        ", or your account cannot see it (a private repo)"
    } else {
        "; if it is a private repo, run `hearth login` with a token of an account that can read it"
    }
}

fn forbidden_hint(token_sent: bool) -> &'static str {
    if token_sent {
        "; your token may lack read access to it (fine-grained tokens): check its permissions in your Hugging Face settings"
    } else {
        ""
    }
}
