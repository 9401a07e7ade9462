//! A request to a backend and what comes back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::{Message, ToolCall, ToolChoice, ToolSpec};

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
///
/// `None` settings are the backend's own defaults. A backend without a knob
/// ignores it: cloud providers have no `top_k`, `min_p`, repeat penalty or
/// seed, and send every [`PromptMode`] as a chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to ask (the provider's name for it).
    pub model: String,
    /// The conversation, system prompt first if there is one.
    pub messages: Vec<Message>,
    /// How the messages become the model's prompt.
    pub mode: PromptMode,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Keep only the K most likely tokens (0: off).
    pub top_k: Option<u32>,
    /// Drop tokens less likely than this times the most likely one.
    pub min_p: Option<f32>,
    /// Penalty for tokens seen in the last `repeat_last_n` (1: off).
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<u32>,
    /// Seed of the sampler, for a reproducible answer.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// The answer must be one JSON object (OpenAI's `response_format:
    /// json_object`, Gemini's `responseMimeType: application/json`). Providers
    /// without such a switch (Anthropic) are not asked with it.
    pub json: bool,
    /// Report each generated token's log-probability and this many of the
    /// most likely alternatives (0 to [`crate::MAX_TOP_LOGPROBS`]); `None`: none.
    /// Backends that cannot leave [`Completion::logprobs`] empty.
    pub logprobs: Option<u8>,
    /// Functions the model may call (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Whether it must call one ([`ToolChoice::None`]: the tools are not shown).
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// Whether a reasoning model thinks before it answers (`None`: the
    /// model's default). The local engine passes it to chat templates that
    /// read `enable_thinking` (Qwen3); others, and cloud providers, ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,
}

impl ChatRequest {
    /// The tools the model is shown: none when the choice is [`ToolChoice::None`].
    pub fn offered_tools(&self) -> &[ToolSpec] {
        if self.tool_choice == ToolChoice::None {
            &[]
        } else {
            &self.tools
        }
    }
}

/// How a request's messages become the model's prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// A conversation: the model writes the next answer.
    #[default]
    Chat,
    /// The last message is an assistant answer that was cut short: the model
    /// carries it on, in the same message. Cloud providers get it as a
    /// trailing assistant message, which is how their APIs say the same.
    Continue,
    /// Text completion: the messages' text, as it is, without the chat
    /// template (front ends send one user message). Only the local engine
    /// reads it so; cloud providers get that message as a chat.
    Text,
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
    /// The model finished (cloud providers: or hit a stop string).
    Stop,
    /// A stop string appeared (backends that tell it apart from [`Self::Stop`]).
    StopSequence,
    /// The token limit.
    Length,
    /// The context window is full (the local engine; providers say [`Self::Length`]).
    ContextFull,
    /// The caller cancelled.
    Cancelled,
    /// The provider's content filter.
    ContentFilter,
    /// The model called tools ([`Completion::tool_calls`]).
    ToolCalls,
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
    /// What the local engine measured; `None` from cloud providers, whose
    /// speed is worked out from the usage and the clock.
    pub engine: Option<EngineStats>,
    /// The generated tokens' log-probabilities, when the request asked and
    /// the backend computes them.
    pub logprobs: Option<Vec<crate::TokenLogprob>>,
    /// The tools the model called (then `finish` is [`FinishReason::ToolCalls`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl FinishReason {
    /// Whether the answer was cut by a limit (OpenAI's `finish_reason: length`).
    pub fn is_length(&self) -> bool {
        matches!(self, Self::Length | Self::ContextFull)
    }
}

/// What the local engine measures about a generation, beyond [`Usage`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Prompt tokens whose cache entries were reused from the previous request.
    pub prompt_tokens_reused: u64,
    /// New prompt tokens per second.
    pub prefill_tok_s: f64,
    /// Generated tokens per second after the first.
    pub decode_tok_s: f64,
    /// How long loading the model took.
    pub load_time: Duration,
    /// `cpu`, `cuda:0`, `metal:0`.
    pub device: String,
    /// The sampling seed used (given or random), to reproduce the answer.
    pub seed: u64,
    /// Tokens a draft model proposed (speculative decoding; 0 without one).
    #[serde(default)]
    pub draft_tokens: u64,
    /// Of those, the ones the model kept.
    #[serde(default)]
    pub draft_accepted: u64,
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
