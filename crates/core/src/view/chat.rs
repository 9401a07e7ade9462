//! The chat screen: a conversation's messages, the turns that add to them
//! (streamed as events), the consent answer, and what redaction replaced.

use std::sync::Arc;

use hearth_backend::Role;
use hearth_backend::reasoning::{self, Part, Splitter};
use hearth_store::{Citation, Message, MessageMetrics, MessageStatus, Redaction};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::error::ErrorView;
use super::tools::PendingCallView;
use super::{parse_conversation, parse_message};
use crate::router::Consent;
use crate::{App, AskUser, ChatEvent, ChatTools, ChatTurn, CoreError, DocumentsUsed, TurnOptions};

/// Speed and size of one answer.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub tokens_in: Option<u64>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub tokens_out: Option<u64>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub prompt_tokens_reused: Option<u64>,
    pub ttft_ms: Option<f64>,
    pub decode_tok_s: Option<f64>,
    pub latency_ms: Option<f64>,
}

impl From<&MessageMetrics> for MetricsView {
    fn from(m: &MessageMetrics) -> Self {
        Self {
            tokens_in: m.tokens_in,
            tokens_out: m.tokens_out,
            prompt_tokens_reused: m.prompt_tokens_reused,
            ttft_ms: m.ttft_ms,
            decode_tok_s: m.decode_tok_s,
            latency_ms: m.latency_ms,
        }
    }
}

/// One message, with the ids of its versions (branches) for the switcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub parent_id: Option<String>,
    pub role: RoleView,
    /// The text; for an answer, without its reasoning.
    pub content: String,
    /// A reasoning model's thinking before the answer (`<think>…</think>`),
    /// shown folded above it; `null`: none.
    pub reasoning: Option<String>,
    pub status: StatusView,
    pub backend: Option<String>,
    pub model: Option<String>,
    pub metrics: MetricsView,
    pub error: Option<String>,
    /// Why a fallback answered in place of the chosen backend.
    pub fallback_reason: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub created_at: i64,
    /// This message's versions, itself included, oldest first.
    pub siblings: Vec<String>,
    /// The document sources an answer was given, numbered as it cites them.
    pub citations: Vec<CitationView>,
    /// How the documents entered the answer (`using 2 passages from "notes"
    /// (retrieval)`), as the CLI says it; `null`: no documents.
    pub documents: Option<String>,
    /// The tools an answer called (their results are the `tool` messages after it).
    pub tool_calls: Vec<ToolCallView>,
    /// The call a `tool` message answers.
    pub tool_call_id: Option<String>,
}

/// One call an answer made: the tool's name and its arguments (JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ToolCallView {
    pub id: String,
    pub name: String,
    /// Pretty-printed when it is JSON, else as the model wrote it.
    pub arguments: String,
}

impl From<&hearth_backend::ToolCall> for ToolCallView {
    fn from(c: &hearth_backend::ToolCall) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            arguments: super::tools::pretty_json(&c.arguments),
        }
    }
}

/// One document source an answer was given: `[n] collection/file § heading`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CitationView {
    pub n: u32,
    pub collection: String,
    /// The file's path when it was indexed.
    pub source: String,
    /// The file's name.
    pub file: String,
    pub heading: Option<String>,
    /// The page the passage is on (PDF).
    pub page: Option<u32>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub chunk_id: Option<i64>,
    pub snippet: String,
    /// `whole` or `retrieval`.
    pub mode: String,
    /// The whole line, as the CLI prints it.
    pub line: String,
}

impl From<&Citation> for CitationView {
    fn from(c: &Citation) -> Self {
        Self {
            n: c.n,
            collection: c.collection.clone(),
            source: c.source.clone(),
            file: c.file_name().to_owned(),
            heading: c.heading.clone(),
            page: c.page,
            chunk_id: c.chunk_id,
            snippet: c.snippet.clone(),
            mode: c.mode.clone(),
            line: c.line(),
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum RoleView {
    System,
    User,
    Assistant,
    /// A tool call's result.
    Tool,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::System => Self::System,
            Role::User => Self::User,
            Role::Assistant => Self::Assistant,
            Role::Tool => Self::Tool,
        }
    }
}

/// Where an answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum StatusView {
    Complete,
    Streaming,
    Partial,
    Cancelled,
    Error,
}

impl From<MessageStatus> for StatusView {
    fn from(status: MessageStatus) -> Self {
        match status {
            MessageStatus::Complete => Self::Complete,
            MessageStatus::Streaming => Self::Streaming,
            MessageStatus::Partial => Self::Partial,
            MessageStatus::Cancelled => Self::Cancelled,
            MessageStatus::Error => Self::Error,
        }
    }
}

/// Streamed while an answer is produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ChatEventView {
    Started {
        user_message: Option<String>,
        assistant_message: String,
        dropped_turns: u32,
        prompt_tokens: u32,
    },
    /// The provider refused the prompt as too long; it is sent again without
    /// the `droppedTurns` oldest turns (in all).
    Trimmed {
        dropped_turns: u32,
        prompt_tokens: u32,
    },
    /// The conversation's documents went into the turn (whole or retrieved).
    Documents {
        used: DocumentsUsed,
        /// "using 3 passages from \"notes\" (retrieval)".
        summary: String,
    },
    /// The next piece of the answer's text.
    Token {
        text: String,
    },
    /// The next piece of a reasoning model's thinking (before the answer).
    Reasoning {
        text: String,
    },
    Finished {
        message: Box<MessageView>,
    },
    Failed {
        error: ErrorView,
    },
    /// A tool call's result, stored under the answer that called it.
    ToolResult {
        message: Box<MessageView>,
    },
    /// The most rounds of tool calls were taken; the model answers without.
    ToolLimit {
        rounds: u32,
    },
    /// A tool call waits for the user: show it, then answer with
    /// `answer_tool_call` (Stop answers Deny).
    ToolApproval {
        call: PendingCallView,
    },
}

pub(super) fn message_view(app: &App, m: &Message) -> Result<MessageView, CoreError> {
    let siblings = app.store().siblings(&m.id)?;
    let citations = app.store().citations(&m.id)?;
    let (reasoning, content) = match m.role {
        Role::Assistant => match reasoning::split(&m.content) {
            (Some(thought), answer) => (Some(thought.to_owned()), answer.to_owned()),
            (None, _) => (None, m.content.clone()),
        },
        _ => (None, m.content.clone()),
    };
    Ok(MessageView {
        id: m.id.to_string(),
        parent_id: m.parent_id.as_ref().map(ToString::to_string),
        role: m.role.into(),
        content,
        reasoning,
        status: m.status.into(),
        backend: m.backend.clone(),
        model: m.model.clone(),
        metrics: (&m.metrics).into(),
        error: m.error.clone(),
        fallback_reason: m.fallback_reason.clone(),
        created_at: m.created_at,
        siblings: siblings.iter().map(ToString::to_string).collect(),
        documents: super::docs::documents_line(&citations),
        citations: citations.iter().map(CitationView::from).collect(),
        tool_calls: m.tool_calls.iter().map(ToolCallView::from).collect(),
        tool_call_id: m.tool_call_id.clone(),
    })
}

impl ChatEventView {
    /// The view of a chat event.
    pub fn new(app: &App, event: ChatEvent) -> Self {
        match event {
            ChatEvent::Started {
                user_message,
                assistant_message,
                dropped_turns,
                prompt_tokens,
            } => Self::Started {
                user_message: user_message.map(|m| m.to_string()),
                assistant_message: assistant_message.to_string(),
                dropped_turns: u32::try_from(dropped_turns).unwrap_or(u32::MAX),
                prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
            },
            ChatEvent::Trimmed {
                dropped_turns,
                prompt_tokens,
            } => Self::Trimmed {
                dropped_turns: u32::try_from(dropped_turns).unwrap_or(u32::MAX),
                prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
            },
            ChatEvent::Documents { used } => Self::Documents {
                summary: used.summary(),
                used,
            },
            ChatEvent::Token { text } => Self::Token { text },
            ChatEvent::Finished { message } => match message_view(app, &message) {
                Ok(message) => Self::Finished {
                    message: Box::new(message),
                },
                Err(e) => Self::Failed { error: e.into() },
            },
            ChatEvent::ToolResult { message } => match message_view(app, &message) {
                Ok(message) => Self::ToolResult {
                    message: Box::new(message),
                },
                Err(e) => Self::Failed { error: e.into() },
            },
            ChatEvent::ToolLimit { rounds } => Self::ToolLimit {
                rounds: u32::try_from(rounds).unwrap_or(u32::MAX),
            },
        }
    }
}

/// The user's answer to a consent dialog, sent with the turn again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ConsentView {
    #[default]
    NotAsked,
    Granted,
    Denied,
}

impl From<ConsentView> for Consent {
    fn from(c: ConsentView) -> Self {
        match c {
            ConsentView::NotAsked => Self::NotAsked,
            ConsentView::Granted => Self::Granted,
            ConsentView::Denied => Self::Denied,
        }
    }
}

/// Which turn to run, named by ids as front ends hold them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TurnRequest {
    /// A new user message in a conversation.
    Send {
        conversation_id: String,
        text: String,
    },
    /// A new answer to the same question as this assistant message.
    Regenerate { message_id: String },
    /// This user message edited, as a new branch, and answered.
    Edit { message_id: String, text: String },
    /// More of this unfinished assistant message.
    Continue { message_id: String },
}

/// One replacement made in a message before it left the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct MessageRedactionView {
    /// `email`, `phone`, `card`, `iban` or `word`.
    pub kind: String,
    pub placeholder: String,
    pub original: String,
}

impl From<&Redaction> for MessageRedactionView {
    fn from(r: &Redaction) -> Self {
        Self {
            kind: r.kind.clone(),
            placeholder: r.placeholder.clone(),
            original: r.original.clone(),
        }
    }
}

impl App {
    /// Runs `turn`, streaming its events as views. Errors after the answer
    /// started are also in the stored message (status `error`).
    /// `consent` is the user's answer to a `consentNeeded` error (send the
    /// same turn again with it).
    pub async fn turn_view(
        &self,
        turn: TurnRequest,
        consent: ConsentView,
        cancel: CancellationToken,
        on_event: impl Fn(ChatEventView) + Send + Sync + 'static,
    ) -> Result<(), CoreError> {
        let options = TurnOptions {
            consent: consent.into(),
            ..TurnOptions::default()
        };
        let app = self.clone();
        // The answer's thinking and text go apart, split as every front end
        // splits them; each answer (a turn with tools has several) starts
        // where its stored text is (a continued one has some).
        let on_event = Arc::new(on_event);
        let sink = on_event.clone();
        let mut splitter = Splitter::default();
        let emit = move |event: ChatEvent| match event {
            ChatEvent::Token { text } => {
                for (part, text) in splitter.push(&text) {
                    sink(match part {
                        Part::Reasoning => ChatEventView::Reasoning { text },
                        Part::Content => ChatEventView::Token { text },
                    });
                }
            }
            event => {
                if let ChatEvent::Started {
                    assistant_message, ..
                } = &event
                {
                    let so_far = app.store().message(assistant_message).map(|m| m.content);
                    splitter = Splitter::after(&so_far.unwrap_or_default());
                }
                sink(ChatEventView::new(&app, event));
            }
        };
        // Every kind of turn takes the chat's tools, through the one loop.
        let (conversation, message, text) = match &turn {
            TurnRequest::Send {
                conversation_id,
                text,
            } => (parse_conversation(conversation_id)?, None, text.as_str()),
            TurnRequest::Regenerate { message_id } | TurnRequest::Continue { message_id } => {
                let id = parse_message(message_id)?;
                (self.store().message(&id)?.conversation_id, Some(id), "")
            }
            TurnRequest::Edit { message_id, text } => {
                let id = parse_message(message_id)?;
                (
                    self.store().message(&id)?.conversation_id,
                    Some(id),
                    text.as_str(),
                )
            }
        };
        let chat_turn = match (&turn, &message) {
            (TurnRequest::Regenerate { .. }, Some(answer)) => ChatTurn::Regenerate { answer },
            (TurnRequest::Continue { .. }, Some(answer)) => ChatTurn::Continue { answer },
            (TurnRequest::Edit { .. }, Some(message)) => ChatTurn::Edit { message, text },
            _ => ChatTurn::Send {
                conversation: &conversation,
                text,
            },
        };
        let picks = self.chat_tools(&conversation)?;
        let mut tools = if picks.is_empty() {
            None
        } else {
            // The chat has tools: each call is shown to the user (the
            // `toolApproval` event) and waits for their answer.
            let ask: AskUser = Arc::new(move |approval_id, call| {
                on_event(ChatEventView::ToolApproval {
                    call: PendingCallView::new(approval_id, call),
                });
            });
            Some(
                ChatTools::connect(self.mcp_host(), &picks)
                    .await?
                    .approver(Box::new(self.approver(
                        &conversation,
                        ask,
                        cancel.clone(),
                    )?)),
            )
        };
        self.chat_turn(chat_turn, &options, tools.as_mut(), cancel, emit)
            .await?;
        Ok(())
    }

    /// What was replaced in a message before it went to a cloud model.
    pub fn message_redactions_view(
        &self,
        message: &str,
    ) -> Result<Vec<MessageRedactionView>, CoreError> {
        let id = parse_message(message)?;
        Ok(self
            .store()
            .redactions(&id)?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Forgets a conversation's fallback (back to its local model).
    pub fn clear_fallback_view(&self, conversation: &str) -> Result<(), CoreError> {
        self.clear_fallback(&parse_conversation(conversation)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_camel_case() {
        let e = ChatEventView::Started {
            user_message: None,
            assistant_message: "a".into(),
            dropped_turns: 2,
            prompt_tokens: 10,
        };
        let text = serde_json::to_string(&e).unwrap_or_default();
        assert!(text.contains(r#""kind":"started""#), "{text}");
        assert!(text.contains(r#""droppedTurns":2"#), "{text}");
    }
}
