//! Jan's threads: one folder per thread under `<Jan data folder>/threads/`,
//! holding `thread.json` (`{id, object: "thread", title, assistants,
//! created, updated, metadata}`) and `messages.jsonl`, one message per line
//! in the order written (`{id, thread_id, role, content: [{type: "text",
//! text: {value, annotations}}], status, created_at, completed_at, …}`).
//!
//! Jan keeps one line of messages, no branches. The assistant's
//! `instructions` become the system prompt and its model names the answers.
//! Times are Unix seconds in older Jan, milliseconds in newer. Reasoning,
//! images and tool calls are counted as left out; a line of
//! `messages.jsonl` that cannot be read (a crash mid-write) is too.

use hearth_backend::Role;
use serde::Deserialize;
use serde_json::Value;

use super::source::{ImportLimits, InputFile};
use super::{Draft, DraftMessage, Parsed, Unreadable, millis};
use crate::{MessageStatus, StoreError};

#[derive(Deserialize)]
struct Thread {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    assistants: Vec<Assistant>,
    #[serde(default)]
    created: Option<f64>,
    #[serde(default)]
    updated: Option<f64>,
}

#[derive(Deserialize)]
struct Assistant {
    #[serde(default)]
    model: Option<Model>,
    #[serde(default)]
    instructions: Option<String>,
}

#[derive(Deserialize)]
struct Model {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    id: Option<String>,
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<f64>,
}

/// Reads a thread: its `thread.json` and (when there is one) its
/// `messages.jsonl`.
pub(crate) fn parse(
    thread: &InputFile,
    messages: Option<&InputFile>,
    limits: &ImportLimits,
) -> Result<Parsed, StoreError> {
    let meta: Thread = serde_json::from_slice(&thread.bytes).map_err(|e| {
        StoreError::InvalidImport(format!(
            "not a Jan thread.json in the shape Hearth knows ({e})"
        ))
    })?;
    let folder = thread.dir().rsplit('/').next().unwrap_or_default();
    let source_id = meta
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| folder.to_owned());
    let title = meta.title.clone().unwrap_or_default();
    let Some(messages) = messages else {
        return Ok(Parsed {
            drafts: Vec::new(),
            unreadable: vec![Unreadable {
                source_id,
                title,
                reason: "its messages.jsonl is missing".into(),
            }],
        });
    };
    let assistant = meta.assistants.first();
    let model = assistant
        .and_then(|a| a.model.as_ref())
        .and_then(|m| m.id.clone());
    let created_at = meta.created.and_then(millis).unwrap_or(0);
    let mut draft = Draft {
        source_id,
        title,
        created_at,
        updated_at: meta.updated.and_then(millis).unwrap_or(created_at),
        system_prompt: assistant
            .and_then(|a| a.instructions.clone())
            .filter(|s| !s.trim().is_empty()),
        ..Draft::default()
    };
    let text = std::str::from_utf8(&messages.bytes)
        .map_err(|_| StoreError::InvalidImport("its messages.jsonl is not UTF-8 text".into()))?;
    let mut previous: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if draft.messages.len() >= limits.max_messages {
            return Err(StoreError::InvalidImport(format!(
                "more than {} messages",
                limits.max_messages
            )));
        }
        let Ok(line) = serde_json::from_str::<Line>(line) else {
            draft.leave_out("damaged lines");
            continue;
        };
        let role = match line.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => {
                if draft.system_prompt.is_none() {
                    draft.system_prompt = Some(content_text(&line.content, &mut draft))
                        .filter(|s| !s.trim().is_empty());
                }
                continue;
            }
            _ => {
                draft.leave_out("tool outputs");
                continue;
            }
        };
        let content = content_text(&line.content, &mut draft);
        if content.trim().is_empty() {
            continue;
        }
        let id = line.id.clone().unwrap_or_else(|| format!("line{n}"));
        draft.messages.push(DraftMessage {
            source_id: id.clone(),
            parent: previous.replace(id),
            role,
            content,
            status: match line.status.as_deref() {
                Some("stopped") => MessageStatus::Cancelled,
                Some("error") => MessageStatus::Error,
                Some("pending") => MessageStatus::Partial,
                _ => MessageStatus::Complete,
            },
            created_at: line.created_at.and_then(millis).unwrap_or(0),
            model: model.clone().filter(|_| role == Role::Assistant),
        });
    }
    draft.active_leaf = previous;
    Ok(Parsed {
        drafts: vec![draft],
        unreadable: Vec::new(),
    })
}

/// A message's text: its `text` parts (`{value}` or a plain string).
fn content_text(content: &Value, draft: &mut Draft) -> String {
    let parts = match content {
        Value::String(s) => return s.clone(),
        Value::Array(parts) => parts,
        _ => return String::new(),
    };
    let mut out = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text") {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(obj) => {
                    if let Some(v) = obj.get("value").and_then(Value::as_str) {
                        out.push(v.to_owned());
                    }
                }
                None => {}
            },
            Some("reasoning") => draft.leave_out("reasoning summaries"),
            Some("image_url") => draft.leave_out("images"),
            Some("tool_call") => draft.leave_out("tool calls"),
            _ => draft.leave_out("attachments"),
        }
    }
    out.join("\n")
}
