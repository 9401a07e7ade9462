//! Backend errors that classify themselves: can the request be tried again,
//! may the router fall back to another backend, and what should the user read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What went wrong, in the router's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The key was rejected (401/403).
    Auth,
    /// 429: too many requests or out of quota.
    RateLimit,
    /// 5xx from the provider.
    Server,
    /// No answer in time (connect, first byte, a gap in the stream, total).
    Timeout,
    /// The connection failed or dropped before any text arrived.
    Connection,
    /// The provider sent something that is not its wire format.
    Malformed,
    /// The stream stopped in the middle of the answer (text already shown).
    Interrupted,
    /// The request itself was refused (400, 404: unknown model, bad settings).
    Rejected,
    /// The provider refused the prompt as longer than the model's context
    /// window (OpenAI `context_length_exceeded`, Anthropic "prompt is too
    /// long", Gemini "exceeds the maximum number of tokens"). The turn path
    /// may send it again with fewer turns; another backend would not help.
    ContextLength,
    /// The provider's circuit breaker is open after repeated failures.
    CircuitOpen,
    /// Hearth's offline switch is on.
    Offline,
    /// The local model does not fit in memory, or loading it ran out.
    OutOfMemory,
    /// The local model decodes slower than the user's minimum.
    TooSlow,
    /// The local engine failed.
    Local,
}

impl ErrorKind {
    /// The short name used in statistics (`hearth stats`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::RateLimit => "rate_limit",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Malformed => "malformed",
            Self::Interrupted => "interrupted",
            Self::Rejected => "rejected",
            Self::ContextLength => "context_length",
            Self::CircuitOpen => "circuit_open",
            Self::Offline => "offline",
            Self::OutOfMemory => "out_of_memory",
            Self::TooSlow => "too_slow",
            Self::Local => "local",
        }
    }
}

/// A failed request. The message is written for the user: it never holds a
/// key, a prompt or a raw response body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    pub kind: ErrorKind,
    message: String,
    /// How long the provider asked us to wait (Retry-After).
    pub retry_after: Option<Duration>,
    /// Text that reached the user before the failure.
    pub partial: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            partial: String::new(),
        }
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    pub fn with_partial(mut self, text: impl Into<String>) -> Self {
        self.partial = text.into();
        self
    }

    /// Whether the same request may simply be sent again (only ever before
    /// any text reached the user; the HTTP layer checks that).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimit | ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Connection
        )
    }

    /// Whether the router may try the next backend of a fallback chain. Not
    /// after text was shown (the answer would be written twice), and not for
    /// a request the user must fix (a rejected key or request).
    pub fn allows_fallback(&self) -> bool {
        self.partial.is_empty()
            && !matches!(
                self.kind,
                ErrorKind::Auth
                    | ErrorKind::Rejected
                    | ErrorKind::ContextLength
                    | ErrorKind::Interrupted
            )
    }

    /// What the user reads.
    pub fn user_message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_classify_themselves() {
        let limited = BackendError::new(ErrorKind::RateLimit, "OpenAI is rate limiting")
            .with_retry_after(Some(Duration::from_secs(2)));
        assert!(limited.is_retryable() && limited.allows_fallback());
        let auth = BackendError::new(ErrorKind::Auth, "the OpenAI key was rejected");
        assert!(!auth.is_retryable() && !auth.allows_fallback());
        assert_eq!(auth.to_string(), "the OpenAI key was rejected");
        let cut = BackendError::new(ErrorKind::Server, "x").with_partial("Paris is");
        assert!(!cut.allows_fallback());
        assert!(BackendError::new(ErrorKind::OutOfMemory, "x").allows_fallback());
        assert_eq!(ErrorKind::RateLimit.as_str(), "rate_limit");
        let long = BackendError::new(ErrorKind::ContextLength, "too long");
        assert!(!long.is_retryable() && !long.allows_fallback());
        assert_eq!(ErrorKind::ContextLength.as_str(), "context_length");
    }
}
