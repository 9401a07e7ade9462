//! A request to a backend and what comes back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::Message;

/// A backend and model: `local:<model>` or `<provider>:<model>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackendId {
    /// `local`, or the name of a configured provider (`openai`, `my-ollama`, …).
    pub provider: String,
    /// The model the provider knows it by.
    pub model: String,
}

impl BackendId {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
        }
    }

    /// Parses `provider:model` (the model may contain further colons, as in
    /// Ollama's `llama3.2:1b`).
    pub fn parse(text: &str) -> Option<Self> {
        let (provider, model) = text.split_once(':')?;
        let ok = |s: &str| !s.trim().is_empty();
        (ok(provider) && ok(model)).then(|| Self::new(provider.trim(), model.trim()))
    }

    /// Whether this is the local engine.
    pub fn is_local(&self) -> bool {
        self.provider == "local"
    }
}

impl std::fmt::Display for BackendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

/// What to answer and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to ask (the provider's name for it).
    pub model: String,
    /// The conversation, system prompt first if there is one.
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Vec<String>,
    /// The answer must be one JSON object (OpenAI's `response_format:
    /// json_object`, Gemini's `responseMimeType: application/json`). Providers
    /// without such a switch (Anthropic) are not asked with it.
    pub json: bool,
}

/// Where a backend sends the answer's text as it arrives.
#[derive(Debug, Clone)]
pub struct TokenSink {
    tx: UnboundedSender<String>,
}

impl TokenSink {
    /// A sink and the receiver that reads it.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Sends a piece of text; `false` when nobody listens any more.
    pub fn send(&self, text: impl Into<String>) -> bool {
        self.tx.send(text.into()).is_ok()
    }
}

/// Tokens counted by the backend (a provider's own usage fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why an answer ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished (or hit a stop string).
    Stop,
    /// The token limit.
    Length,
    /// The caller cancelled.
    Cancelled,
    /// The provider's content filter.
    ContentFilter,
    /// Anything else the provider said.
    Other(String),
}

/// A finished answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The whole text (the same as what went into the sink).
    pub text: String,
    pub finish: FinishReason,
    /// `None` when the backend did not report usage.
    pub usage: Option<Usage>,
    /// The model that answered, as the backend names it.
    pub model: String,
    /// Time from the request to the first piece of text.
    pub time_to_first_token: Option<Duration>,
    /// Attempts that failed before this one succeeded (retries).
    pub retries: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_ids_parse_and_print() {
        let id = BackendId::parse("ollama:llama3.2:1b").unwrap_or_else(|| panic!("parses"));
        assert_eq!(id.provider, "ollama");
        assert_eq!(id.model, "llama3.2:1b");
        assert_eq!(id.to_string(), "ollama:llama3.2:1b");
        assert!(BackendId::parse("gpt-4o").is_none());
        assert!(BackendId::parse(":x").is_none());
        assert!(BackendId::parse("openai: ").is_none());
        assert!(BackendId::new("local", "x").is_local());
    }
}
