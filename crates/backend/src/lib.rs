//! The seam between Hearth's router and the backends that answer it.
//!
//! Every backend (the local engine, each cloud provider) implements
//! [`ChatBackend`]: it takes a [`ChatRequest`], streams text into a
//! [`TokenSink`] and ends with a [`Completion`] or a classified
//! [`BackendError`]. The router only ever looks at the error's
//! [`ErrorKind`], never at a provider's own errors. A backend that knows its
//! context window and counts tokens (the local engine, a known cloud model) says so, and the turn
//! path fits the conversation into it.
//!
//! ```
//! use hearth_backend::{Message, Role};
//! let turn = Message::user("What is the capital of France?");
//! assert_eq!(turn.role, Role::User);
//! ```

mod error;
mod logprobs;
mod message;
pub mod reasoning;
mod request;
mod tools;

pub use error::{BackendError, ErrorKind};
pub use logprobs::{MAX_TOP_LOGPROBS, TokenLogprob, TopLogprob};
pub use message::{Message, Role};
pub use request::{
    BackendId, ChatRequest, Completion, EngineStats, FinishReason, PromptMode, TokenSink, Usage,
};
pub use tokio_util::sync::CancellationToken;
pub use tools::{ToolCall, ToolChoice, ToolSpec};

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

    /// The context window in tokens, when the backend knows it and can count
    /// a prompt's tokens ([`ChatBackend::count_tokens`]): a conversation is
    /// then fitted into it before it is sent. The local engine reads it from
    /// the model; a cloud provider from its table of known models or the
    /// user's setting (`None`: a model it does not know, sent whole).
    fn context_window(&self) -> Option<usize> {
        None
    }

    /// The tokens to keep free for the answer when the request sets no
    /// `max_tokens` (a cloud model's default output size). `None`: the turn
    /// path's own rule.
    fn default_max_output(&self) -> Option<usize> {
        None
    }

    /// How many tokens the prompt of `req` is, as this backend would build it
    /// (the local engine: its chat template and tokenizer, exactly; a cloud
    /// provider: a deliberate over-estimate; no I/O). `None`: the backend
    /// cannot count.
    fn count_tokens(&self, req: &ChatRequest) -> Result<Option<usize>, BackendError> {
        let _ = req;
        Ok(None)
    }
}
