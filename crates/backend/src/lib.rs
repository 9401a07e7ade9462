//! The seam between Hearth's router and the backends that answer it.
//!
//! Every backend (the local engine, each cloud provider) implements
//! [`ChatBackend`]: it takes a [`ChatRequest`], streams text into a
//! [`TokenSink`] and ends with a [`Completion`] or a classified
//! [`BackendError`]. The router only ever looks at the error's
//! [`ErrorKind`], never at a provider's own errors.
//!
//! ```
//! use hearth_backend::{Message, Role};
//! let turn = Message::user("What is the capital of France?");
//! assert_eq!(turn.role, Role::User);
//! ```

mod error;
mod message;
mod request;

pub use error::{BackendError, ErrorKind};
pub use message::{Message, Role};
pub use request::{BackendId, ChatRequest, Completion, FinishReason, TokenSink, Usage};
pub use tokio_util::sync::CancellationToken;

/// Something that answers chat requests: the local engine or a cloud provider.
#[async_trait::async_trait]
pub trait ChatBackend: Send + Sync {
    /// Which backend this is (`local:…`, `openai:gpt-4o-mini`, …).
    fn id(&self) -> BackendId;

    /// Streams the answer to `req` into `out`. Cancelling stops it; what was
    /// sent so far stays sent, and the completion says it was cancelled.
    async fn stream(
        &self,
        req: ChatRequest,
        out: TokenSink,
        cancel: CancellationToken,
    ) -> Result<Completion, BackendError>;
}
