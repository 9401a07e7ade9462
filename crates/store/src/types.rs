//! The plain data the store reads and writes.

use std::fmt;

use hearth_backend::{Role, ToolCall};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Unix time in milliseconds.
pub type Timestamp = i64;

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `2026-11-23 21:05` (UTC) from a [`Timestamp`].
pub fn format_time(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id (128 bits, 32 lowercase hex digits).
            pub fn random() -> Self {
                Self(format!("{:032x}", rand::random::<u128>()))
            }

            /// Checks the form of an id from outside (a file, a user).
            pub fn parse(text: &str) -> Result<Self, StoreError> {
                if is_id(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(StoreError::NotFound { what: $what, id: text.to_owned() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub(crate) fn from_db(text: String) -> Self {
                Self(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(text: &str) -> Result<Self, StoreError> {
                Self::parse(text)
            }
        }
    };
}

id_type!(
    /// Names a conversation.
    ConversationId,
    "conversation"
);
id_type!(
    /// Names a message.
    MessageId,
    "message"
);
id_type!(
    /// Names a preset (all its versions).
    PresetId,
    "preset"
);

pub(crate) fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where an answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Finished normally.
    Complete,
    /// Being written right now.
    Streaming,
    /// Cut short by a crash; the text is the last checkpoint.
    Partial,
    /// Stopped by the user; the text so far is kept.
    Cancelled,
    /// Failed; see the message's error.
    Error,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Streaming => "streaming",
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }

    pub(crate) fn from_db(text: &str) -> Self {
        match text {
            "streaming" => Self::Streaming,
            "partial" => Self::Partial,
            "cancelled" => Self::Cancelled,
            "error" => Self::Error,
            _ => Self::Complete,
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn role_from_db(text: &str) -> Role {
    match text {
        "system" => Role::System,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => Role::User,
    }
}

/// Sampling settings; `None` means the backend's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sampling {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub max_tokens: Option<usize>,
    /// Whether a reasoning model thinks before it answers, where its chat
    /// template has the switch; `None`: the model's default. Kept with the
    /// sampling (a JSON column), so a conversation, a preset and the
    /// default settings all carry it without a new column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,
}

/// Where a conversation's messages may be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum PrivacyPolicy {
    /// Never leaves the machine (the default).
    #[default]
    LocalOnly,
    /// Ask before anything goes to a cloud provider (a chosen cloud model, or
    /// these fallbacks in order).
    AskBeforeCloud {
        #[serde(default)]
        chain: Vec<String>,
    },
    /// Fall back to these backends, in order, when the local one cannot answer.
    CloudFallback { chain: Vec<String> },
}

/// A conversation's settings and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub title: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The model it is pinned to (a library id or a file path).
    pub model: Option<String>,
    /// The backend it is pinned to (`local` or a provider).
    pub backend: Option<String>,
    pub system_prompt: Option<String>,
    pub sampling: Sampling,
    pub privacy: PrivacyPolicy,
    pub archived: bool,
    /// The last message of the active branch.
    pub active_leaf: Option<MessageId>,
    /// The preset (id and version) the conversation was started from.
    pub preset: Option<(PresetId, u32)>,
}

/// A conversation as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub title: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub model: Option<String>,
    pub archived: bool,
    pub message_count: u64,
}

/// What a new conversation starts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewConversation {
    /// `None`: "New chat" (the chat service names it after the first message).
    pub title: Option<String>,
    pub model: Option<String>,
    pub backend: Option<String>,
    pub system_prompt: Option<String>,
    pub sampling: Sampling,
    pub privacy: PrivacyPolicy,
    pub preset: Option<(PresetId, u32)>,
}

/// Changes to a conversation; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationPatch {
    pub title: Option<String>,
    pub model: Option<Option<String>>,
    pub backend: Option<Option<String>>,
    pub system_prompt: Option<Option<String>>,
    pub sampling: Option<Sampling>,
    pub privacy: Option<PrivacyPolicy>,
    pub archived: Option<bool>,
    pub preset: Option<Option<(PresetId, u32)>>,
}

/// Which conversations to list: newest first, a page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub include_archived: bool,
    pub limit: usize,
    /// Continue after this entry of the previous page.
    pub after: Option<(Timestamp, ConversationId)>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            include_archived: false,
            limit: 50,
            after: None,
        }
    }
}

/// How an answer was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageMetrics {
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    pub prompt_tokens_reused: Option<u64>,
    pub ttft_ms: Option<f64>,
    pub decode_tok_s: Option<f64>,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
}

/// One message in a conversation's tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub parent_id: Option<MessageId>,
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    pub backend: Option<String>,
    pub model: Option<String>,
    pub metrics: MessageMetrics,
    pub fallback_reason: Option<String>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The tools an assistant message called (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a [`Role::Tool`] message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A message to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub conversation_id: ConversationId,
    /// The message this one answers or follows (`None`: the first message).
    pub parent_id: Option<MessageId>,
    pub role: Role,
    pub content: String,
    pub status: MessageStatus,
    pub backend: Option<String>,
    pub model: Option<String>,
}

/// How a message ends (or is reopened).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFinish {
    pub content: String,
    pub status: MessageStatus,
    pub metrics: MessageMetrics,
    pub error: Option<String>,
    pub fallback_reason: Option<String>,
    pub backend: Option<String>,
    pub model: Option<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub conversation_title: String,
    pub role: Role,
    /// Text around the match, the matched words between [`HIGHLIGHT`] markers.
    pub snippet: String,
}

/// The markers around matched words in a [`SearchHit::snippet`].
pub const HIGHLIGHT: (&str, &str) = ("[[", "]]");

/// One request to a backend, for the usage view and budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub at: Timestamp,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    pub backend: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub ttft_ms: Option<f64>,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub fallback_reason: Option<String>,
    /// Why the request failed (`ErrorKind::as_str`), `None` when it succeeded.
    #[serde(default)]
    pub error_kind: Option<String>,
    /// Attempts retried before the last one.
    #[serde(default)]
    pub retries: u32,
}

/// A piece of text replaced by a placeholder before a message went to a
/// cloud provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    /// `email`, `phone`, `card`, `iban` or `word`.
    pub kind: String,
    pub placeholder: String,
    pub original: String,
}

/// One outbound connection Hearth made (or one HTTP attempt over it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub at: Timestamp,
    pub host: String,
    /// What for: `model search`, `download`, `provider call`, `model list`.
    pub purpose: String,
    /// Which provider or repository, when there is one.
    pub detail: Option<String>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    pub ok: bool,
    /// The proxy (`host:port`) the connection went through; `None`: direct.
    #[serde(default)]
    pub via: Option<String>,
}

/// Usage totals for one backend and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub backend: String,
    pub model: String,
    pub requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// Usage totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub by_model: Vec<UsageRow>,
}

/// What a preset holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PresetDraft {
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: Sampling,
}

/// One version of a preset ("assistant").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    pub id: PresetId,
    pub version: u32,
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: Sampling,
    pub created_at: Timestamp,
    /// Deleted presets stay readable for the conversations that used them.
    pub deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_795_467_900_000), "2026-11-23 21:05");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00");
    }
}
