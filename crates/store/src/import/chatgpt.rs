//! ChatGPT's data export: `conversations.json` (alone, or inside the export
//! zip), an array of conversations.
//!
//! Each conversation is a tree in `mapping` (node id → `{message, parent,
//! children}`); editing a question or regenerating an answer adds a sibling,
//! and `current_node` is the last message of the branch ChatGPT shows. A
//! message has an `author.role` (`system`, `user`, `assistant`, `tool`) and
//! `content` by `content_type`: `text` and `multimodal_text` (text parts and
//! asset pointers), or tool traffic (`code`, `execution_output`,
//! `tether_*`), reasoning (`thoughts`, `reasoning_recap`) and memory
//! (`*_editable_context`). Times are Unix seconds with a fraction.
//!
//! Hearth keeps the user's and the assistant's text, on the same branches.
//! The custom instructions (a hidden system message) become the system
//! prompt. Hidden and empty messages are passed over; their children hang on
//! the nearest message kept. Tool traffic, reasoning and images are counted
//! as left out.

use std::collections::{HashMap, HashSet};

use hearth_backend::Role;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::source::ImportLimits;
use super::{Draft, DraftMessage, Parsed, Unreadable, millis};
use crate::{MessageStatus, StoreError};

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    create_time: Option<f64>,
    #[serde(default)]
    update_time: Option<f64>,
    mapping: HashMap<String, Node>,
    #[serde(default)]
    current_node: Option<String>,
    #[serde(default)]
    is_archived: Option<bool>,
    #[serde(default)]
    default_model_slug: Option<String>,
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    children: Vec<String>,
}

#[derive(Deserialize)]
struct Message {
    author: Author,
    #[serde(default)]
    create_time: Option<f64>,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    recipient: Option<String>,
}

#[derive(Deserialize)]
struct Author {
    role: String,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    parts: Vec<Value>,
    #[serde(default)]
    text: Option<String>,
    /// `user_editable_context`: the custom instructions in newer exports.
    #[serde(default)]
    user_profile: Option<String>,
    #[serde(default)]
    user_instructions: Option<String>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    model_slug: Option<String>,
    #[serde(default)]
    is_visually_hidden_from_conversation: Option<bool>,
    #[serde(default)]
    is_user_system_message: Option<bool>,
    #[serde(default)]
    user_context_message_data: Option<UserContext>,
}

#[derive(Deserialize)]
struct UserContext {
    #[serde(default)]
    about_user_message: Option<String>,
    #[serde(default)]
    about_model_message: Option<String>,
}

/// Reads `conversations.json` (an array, or one conversation on its own).
pub(crate) fn parse(bytes: &[u8], limits: &ImportLimits) -> Result<Parsed, StoreError> {
    let raws: Vec<&RawValue> = if first_char(bytes) == Some(b'[') {
        serde_json::from_slice(bytes)
    } else {
        serde_json::from_slice::<&RawValue>(bytes).map(|one| vec![one])
    }
    .map_err(|e| StoreError::InvalidImport(format!("not a ChatGPT export: {e}")))?;
    if raws.len() > limits.max_conversations {
        return Err(StoreError::InvalidImport(format!(
            "{} conversations are more than the {} one import takes",
            raws.len(),
            limits.max_conversations
        )));
    }
    let mut parsed = Parsed::default();
    for (i, raw) in raws.into_iter().enumerate() {
        match serde_json::from_str::<Conversation>(raw.get()) {
            Ok(conv) => match read(conv, i) {
                Ok(draft) => parsed.drafts.push(draft),
                Err(unreadable) => parsed.unreadable.push(unreadable),
            },
            Err(e) => parsed.unreadable.push(Unreadable {
                source_id: format!("#{}", i + 1),
                title: title_of(raw).unwrap_or_else(|| format!("conversation {}", i + 1)),
                reason: format!("not in the shape ChatGPT exports ({e})"),
            }),
        }
    }
    Ok(parsed)
}

pub(super) fn first_char(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The title of a conversation that could not be read otherwise.
fn title_of(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Titled {
        title: Option<String>,
    }
    serde_json::from_str::<Titled>(raw.get()).ok()?.title
}

/// What a message contributes.
enum Kept {
    /// Text on the user's or the assistant's side.
    Text(Role, String),
    /// Passed over: its children hang on its parent.
    Skip,
}

fn read(conv: Conversation, index: usize) -> Result<Draft, Unreadable> {
    let title = conv.title.clone().unwrap_or_default();
    let source_id = conv
        .id
        .clone()
        .or_else(|| conv.conversation_id.clone())
        .unwrap_or_else(|| format!("{title}@{}", conv.create_time.unwrap_or(index as f64)));
    let created_at = conv.create_time.and_then(millis).unwrap_or(0);
    let mut draft = Draft {
        source_id: source_id.clone(),
        title: title.clone(),
        created_at,
        updated_at: conv.update_time.and_then(millis).unwrap_or(created_at),
        archived: conv.is_archived.unwrap_or(false),
        ..Draft::default()
    };
    // Roots: nodes whose parent is not in the tree. ChatGPT has one (an
    // empty system message); more are read in a stable order.
    let mut roots: Vec<&String> = conv
        .mapping
        .iter()
        .filter(|(_, node)| {
            node.parent
                .as_ref()
                .is_none_or(|p| !conv.mapping.contains_key(p))
        })
        .map(|(id, _)| id)
        .collect();
    roots.sort();
    if roots.is_empty() && !conv.mapping.is_empty() {
        return Err(Unreadable {
            source_id,
            title,
            reason: "damaged: its message tree has no start".into(),
        });
    }
    // Depth first, parents before children; each node knows the nearest kept
    // message above it. A node reached twice (a damaged tree) is read once.
    let mut kept_above: HashMap<&str, Option<String>> = HashMap::new();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut stack: Vec<(&str, Option<String>)> =
        roots.iter().rev().map(|id| (id.as_str(), None)).collect();
    while let Some((id, parent)) = stack.pop() {
        if !visited.insert(id) {
            continue;
        }
        let Some(node) = conv.mapping.get(id) else {
            continue;
        };
        let here = match node.message.as_ref().map(|m| classify(m, &mut draft)) {
            Some(Kept::Text(role, content)) => {
                let message = node.message.as_ref();
                let model = message
                    .and_then(|m| m.metadata.as_ref())
                    .and_then(|m| m.model_slug.clone())
                    .or_else(|| conv.default_model_slug.clone())
                    .filter(|_| role == Role::Assistant);
                draft.messages.push(DraftMessage {
                    source_id: id.to_owned(),
                    parent: parent.clone(),
                    role,
                    content,
                    status: status(message.and_then(|m| m.status.as_deref())),
                    created_at: message
                        .and_then(|m| m.create_time)
                        .and_then(millis)
                        .unwrap_or(0),
                    model,
                });
                Some(id.to_owned())
            }
            Some(Kept::Skip) | None => parent,
        };
        kept_above.insert(id, here.clone());
        for child in node.children.iter().rev() {
            stack.push((child.as_str(), here.clone()));
        }
    }
    draft.active_leaf = conv
        .current_node
        .as_deref()
        .and_then(|node| kept_above.get(node).cloned().flatten());
    Ok(draft)
}

/// What a message is, noting in the draft what Hearth leaves out.
fn classify(m: &Message, draft: &mut Draft) -> Kept {
    let meta = m.metadata.as_ref();
    let Some(content) = &m.content else {
        return Kept::Skip;
    };
    // The custom instructions: the conversation's system prompt.
    if m.author.role == "system" && meta.and_then(|m| m.is_user_system_message) == Some(true) {
        if let Some(ctx) = meta.and_then(|m| m.user_context_message_data.as_ref()) {
            set_instructions(
                draft,
                ctx.about_user_message.as_deref(),
                ctx.about_model_message.as_deref(),
            );
        }
        return Kept::Skip;
    }
    if content.content_type == "user_editable_context" {
        set_instructions(
            draft,
            content.user_profile.as_deref(),
            content.user_instructions.as_deref(),
        );
        return Kept::Skip;
    }
    if meta.and_then(|m| m.is_visually_hidden_from_conversation) == Some(true) {
        return Kept::Skip;
    }
    let role = match m.author.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => {
            draft.leave_out("tool outputs");
            return Kept::Skip;
        }
        // The empty system message at the root, and any other.
        _ => return Kept::Skip,
    };
    // An assistant message addressed to a tool (code, a search) is a call.
    if role == Role::Assistant && m.recipient.as_deref().is_some_and(|r| r != "all") {
        draft.leave_out("tool calls");
        return Kept::Skip;
    }
    let text = match content.content_type.as_str() {
        "text" | "multimodal_text" => parts_text(&content.parts, draft),
        "code" => {
            draft.leave_out("tool calls");
            return Kept::Skip;
        }
        "execution_output" | "tether_browsing_display" | "tether_quote" | "system_error" => {
            draft.leave_out("tool outputs");
            return Kept::Skip;
        }
        "thoughts" | "reasoning_recap" => {
            draft.leave_out("reasoning summaries");
            return Kept::Skip;
        }
        "model_editable_context" => {
            draft.leave_out("memory notes");
            return Kept::Skip;
        }
        _ => match &content.text {
            Some(text) => text.clone(),
            None => {
                draft.leave_out("messages of other kinds");
                return Kept::Skip;
            }
        },
    };
    if text.trim().is_empty() {
        return Kept::Skip;
    }
    Kept::Text(role, text)
}

/// The text of a message's parts; images and other attachments are counted
/// and stand as a short note in the text, so the answer that follows still
/// reads right.
fn parts_text(parts: &[Value], draft: &mut Draft) -> String {
    let mut text = Vec::new();
    let mut attachments = 0;
    for part in parts {
        match part {
            Value::String(s) => text.push(s.clone()),
            Value::Object(o) => {
                let kind = o.get("content_type").and_then(Value::as_str).unwrap_or("");
                match kind {
                    // Voice conversations keep a transcript.
                    "audio_transcription" => {
                        if let Some(t) = o.get("text").and_then(Value::as_str) {
                            text.push(t.to_owned());
                        }
                    }
                    "image_asset_pointer" => {
                        draft.leave_out("images");
                        attachments += 1;
                    }
                    "audio_asset_pointer" | "real_time_user_audio_video_asset_pointer" => {
                        draft.leave_out("audio recordings");
                    }
                    _ => {
                        draft.leave_out("attachments");
                        attachments += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut joined = text.join("\n");
    if attachments > 0 && joined.trim().is_empty() {
        joined = format!("[{attachments} attachment(s) not imported]");
    }
    joined
}

fn set_instructions(draft: &mut Draft, about_user: Option<&str>, about_model: Option<&str>) {
    let mut parts = Vec::new();
    if let Some(u) = about_user.map(str::trim).filter(|u| !u.is_empty()) {
        parts.push(format!("About me:\n{u}"));
    }
    if let Some(m) = about_model.map(str::trim).filter(|m| !m.is_empty()) {
        parts.push(format!("How to respond:\n{m}"));
    }
    if !parts.is_empty() {
        draft.system_prompt = Some(parts.join("\n\n"));
    }
}

fn status(text: Option<&str>) -> MessageStatus {
    match text {
        Some("in_progress" | "finished_partial_completion") => MessageStatus::Partial,
        _ => MessageStatus::Complete,
    }
}
