//! Open WebUI's "Export chats" file (`chat-export-<ms>.json`): an array of
//! the server's chat records, `{id, title, chat, created_at, updated_at,
//! archived, …}` (one record alone is read too).
//!
//! `chat.history.messages` maps message ids to `{id, parentId, childrenIds,
//! role, content, timestamp, model, done, files}`: regenerated answers and
//! edited questions are siblings, and `chat.history.currentId` is the last
//! message shown. Older records have only the `chat.messages` list. Record
//! times are Unix seconds; older chats kept milliseconds.
//!
//! Hearth keeps the text. Reasoning and tool-call blocks, which Open WebUI
//! stores inside the text as `<details type="reasoning">…</details>`, and
//! attached files are counted as left out.

use std::collections::{HashMap, HashSet};

use hearth_backend::Role;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::chatgpt::first_char;
use super::source::ImportLimits;
use super::{Draft, DraftMessage, Parsed, Unreadable, millis};
use crate::{MessageStatus, StoreError};

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    chat: Chat,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    updated_at: Option<f64>,
    #[serde(default)]
    archived: Option<bool>,
}

#[derive(Deserialize)]
struct Chat {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    history: Option<History>,
    #[serde(default)]
    messages: Vec<WebMessage>,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    system: Option<String>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    messages: HashMap<String, WebMessage>,
    #[serde(default, rename = "currentId")]
    current_id: Option<String>,
}

#[derive(Deserialize, Clone)]
struct WebMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "parentId")]
    parent_id: Option<String>,
    #[serde(default, rename = "childrenIds")]
    children_ids: Vec<String>,
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    files: Vec<Value>,
}

/// Reads an export (an array of chat records, or one record).
pub(crate) fn parse(bytes: &[u8], limits: &ImportLimits) -> Result<Parsed, StoreError> {
    let raws: Vec<&RawValue> = if first_char(bytes) == Some(b'[') {
        serde_json::from_slice(bytes)
    } else {
        serde_json::from_slice::<&RawValue>(bytes).map(|one| vec![one])
    }
    .map_err(|e| StoreError::InvalidImport(format!("not an Open WebUI export: {e}")))?;
    if raws.len() > limits.max_conversations {
        return Err(StoreError::InvalidImport(format!(
            "{} chats are more than the {} one import takes",
            raws.len(),
            limits.max_conversations
        )));
    }
    let mut parsed = Parsed::default();
    for (i, raw) in raws.into_iter().enumerate() {
        match serde_json::from_str::<Record>(raw.get()) {
            Ok(record) => parsed.drafts.push(read(record, i)),
            Err(e) => parsed.unreadable.push(Unreadable {
                source_id: format!("#{}", i + 1),
                title: format!("chat {}", i + 1),
                reason: format!("not in the shape Open WebUI exports ({e})"),
            }),
        }
    }
    Ok(parsed)
}

fn read(record: Record, index: usize) -> Draft {
    let title = record
        .title
        .clone()
        .or_else(|| record.chat.title.clone())
        .unwrap_or_default();
    let created_at = record
        .created_at
        .or(record.chat.timestamp)
        .and_then(millis)
        .unwrap_or(0);
    let source_id = record
        .id
        .clone()
        .or_else(|| record.chat.id.clone().filter(|id| !id.is_empty()))
        .unwrap_or_else(|| format!("{title}@{created_at}#{index}"));
    let mut draft = Draft {
        source_id,
        title,
        created_at,
        updated_at: record.updated_at.and_then(millis).unwrap_or(created_at),
        archived: record.archived.unwrap_or(false),
        system_prompt: record
            .chat
            .params
            .as_ref()
            .and_then(|p| p.system.clone())
            .or_else(|| record.chat.system.clone())
            .filter(|s| !s.trim().is_empty()),
        ..Draft::default()
    };
    let (messages, current) = match record.chat.history {
        Some(history) if !history.messages.is_empty() => {
            (ordered(history.messages), history.current_id)
        }
        // The older, flat form: each message follows the one before.
        _ => {
            let mut previous: Option<String> = None;
            let list = record
                .chat
                .messages
                .into_iter()
                .enumerate()
                .map(|(i, mut m)| {
                    let id = m.id.clone().unwrap_or_else(|| format!("m{i}"));
                    m.id = Some(id.clone());
                    m.parent_id = previous.replace(id);
                    m
                })
                .collect();
            (list, None)
        }
    };
    // Messages Hearth passes over hand their children to their parent.
    let mut kept_as: HashMap<String, Option<String>> = HashMap::new();
    for m in messages {
        let Some(id) = m.id.clone() else { continue };
        let parent = m
            .parent_id
            .as_ref()
            .and_then(|p| kept_as.get(p).cloned().flatten());
        let role = match m.role.as_str() {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "system" => {
                if draft.system_prompt.is_none() {
                    draft.system_prompt = text_of(&m.content, &mut draft);
                }
                None
            }
            _ => {
                draft.leave_out("tool outputs");
                None
            }
        };
        for _ in &m.files {
            draft.leave_out("attachments");
        }
        let text = role.and_then(|_| text_of(&m.content, &mut draft));
        match (role, text) {
            (Some(role), Some(content)) => {
                draft.messages.push(DraftMessage {
                    source_id: id.clone(),
                    parent,
                    role,
                    content,
                    status: if m.done == Some(false) {
                        MessageStatus::Partial
                    } else {
                        MessageStatus::Complete
                    },
                    created_at: m.timestamp.and_then(millis).unwrap_or(0),
                    model: m.model.clone().filter(|_| role == Role::Assistant),
                });
                kept_as.insert(id.clone(), Some(id));
            }
            _ => {
                kept_as.insert(id, parent);
            }
        }
    }
    draft.active_leaf = current.and_then(|c| kept_as.get(&c).cloned().flatten());
    draft
}

/// The history's messages, parents before children, siblings in the order
/// their parent lists them (else by time). Messages not reachable from a
/// root (a damaged history) are left out.
fn ordered(all: HashMap<String, WebMessage>) -> Vec<WebMessage> {
    let mut children: HashMap<Option<String>, Vec<String>> = HashMap::new();
    for (id, m) in &all {
        let parent = m.parent_id.clone().filter(|p| all.contains_key(p));
        children.entry(parent).or_default().push(id.clone());
    }
    let time = |id: &String| all.get(id).and_then(|m| m.timestamp).unwrap_or(0.0);
    for (parent, list) in &mut children {
        let listed: Vec<String> = parent
            .as_ref()
            .and_then(|p| all.get(p))
            .map(|p| p.children_ids.clone())
            .unwrap_or_default();
        let rank = |id: &String| listed.iter().position(|c| c == id).unwrap_or(usize::MAX);
        list.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then(time(a).total_cmp(&time(b)))
                .then(a.cmp(b))
        });
    }
    let mut out = Vec::with_capacity(all.len());
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(m) = all.get(&id) {
            let mut m = m.clone();
            m.id = Some(id.clone());
            out.push(m);
        }
        if let Some(kids) = children.get(&Some(id)) {
            stack.extend(kids.iter().rev().cloned());
        }
    }
    out
}

/// A message's text without the reasoning and tool blocks Open WebUI keeps
/// inline; `None` when nothing is left.
fn text_of(content: &Value, draft: &mut Draft) -> Option<String> {
    let raw = match content {
        Value::String(s) => s.clone(),
        // Multi-part content (OpenAI's shape): its text parts.
        Value::Array(parts) => {
            let mut texts = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = p.get("text").and_then(Value::as_str) {
                            texts.push(t.to_owned());
                        }
                    }
                    Some("image_url") => draft.leave_out("images"),
                    _ => draft.leave_out("attachments"),
                }
            }
            texts.join("\n")
        }
        _ => String::new(),
    };
    let text = strip_details(&raw, draft);
    (!text.trim().is_empty()).then(|| text.trim().to_owned())
}

/// Removes `<details type="…">…</details>` blocks, counting them.
fn strip_details(text: &str, draft: &mut Draft) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<details") {
        let Some(end) = rest[start..].find("</details>") else {
            break;
        };
        let block = &rest[start..start + end];
        if block.contains("type=\"reasoning\"") {
            draft.leave_out("reasoning summaries");
        } else if block.contains("type=\"tool_calls\"")
            || block.contains("type=\"code_interpreter\"")
        {
            draft.leave_out("tool calls");
        } else {
            // A details block the user or model wrote: keep it.
            out.push_str(&rest[..start + end + "</details>".len()]);
            rest = &rest[start + end + "</details>".len()..];
            continue;
        }
        out.push_str(&rest[..start]);
        rest = &rest[start + end + "</details>".len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_blocks_are_left_out_and_other_details_kept() {
        let mut draft = Draft::default();
        let text = "<details type=\"reasoning\" done=\"true\">\n<summary>Thought</summary>\nhmm\n</details>\nParis.\n<details><summary>More</summary>x</details>";
        let out = strip_details(text, &mut draft);
        assert_eq!(out, "\nParis.\n<details><summary>More</summary>x</details>");
        assert_eq!(draft.left_out.get("reasoning summaries"), Some(&1));
    }
}
