//! LM Studio's conversation files (`~/.lmstudio/conversations/<ms>.conversation.json`,
//! one conversation each).
//!
//! `{name, createdAt (ms), systemPrompt, messages, lastUsedModel,
//! perChatPredictionConfig, …}`. Each entry of `messages` is one turn with
//! its `versions` (regenerations and edits) and `currentlySelected`, the one
//! shown. A version is `singleStep` (`role`, `content: [{type: "text",
//! text}]`) or, for answers, `multiStep` (`steps` of `contentBlock`s with the
//! same content, plus tool and debug steps; `senderInfo.senderName` is the
//! model).
//!
//! Later turns follow the selected version of the turn before, so the
//! selected versions are the active branch and the others become siblings
//! of them, as regenerated answers are in Hearth. Attached files, tool steps
//! and thinking blocks are counted as left out.

use hearth_backend::Role;
use serde::Deserialize;
use serde_json::Value;

use super::source::{ImportLimits, InputFile};
use super::{Draft, DraftMessage, Parsed, millis};
use crate::{MessageStatus, StoreError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Conversation {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    created_at: Option<f64>,
    #[serde(default)]
    system_prompt: Option<String>,
    messages: Vec<Turn>,
    #[serde(default)]
    last_used_model: Option<LastModel>,
    #[serde(default)]
    per_chat_prediction_config: Option<Config>,
}

#[derive(Deserialize)]
struct LastModel {
    #[serde(default)]
    identifier: Option<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Deserialize)]
struct Field {
    key: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Turn {
    versions: Vec<Version>,
    #[serde(default)]
    currently_selected: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    #[serde(default, rename = "type")]
    kind: String,
    role: String,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    steps: Vec<Value>,
    #[serde(default)]
    sender_info: Option<SenderInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SenderInfo {
    #[serde(default)]
    sender_name: Option<String>,
}

/// The key of the system prompt in `perChatPredictionConfig`.
const SYSTEM_PROMPT_KEY: &str = "llm.prediction.systemPrompt";

/// Reads one conversation file.
pub(crate) fn parse(file: &InputFile, limits: &ImportLimits) -> Result<Parsed, StoreError> {
    let conv: Conversation = serde_json::from_slice(&file.bytes).map_err(|e| {
        StoreError::InvalidImport(format!(
            "not an LM Studio conversation in the shape Hearth knows ({e}); a newer LM Studio may \
             have written it"
        ))
    })?;
    if conv.messages.len() > limits.max_messages {
        return Err(StoreError::InvalidImport(format!(
            "more than {} messages",
            limits.max_messages
        )));
    }
    let created_at = conv.created_at.and_then(millis).unwrap_or(0);
    // The file name is LM Studio's id for the conversation (its creation
    // time in ms); the time itself stands in when the name is something else.
    let base = file.base_name();
    let source_id = base
        .strip_suffix(".conversation.json")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{created_at}"));
    let system = conv
        .per_chat_prediction_config
        .as_ref()
        .and_then(|c| c.fields.iter().find(|f| f.key == SYSTEM_PROMPT_KEY))
        .and_then(|f| f.value.as_str().map(str::to_owned))
        .or(conv.system_prompt.clone())
        .filter(|s| !s.trim().is_empty());
    let default_model = conv.last_used_model.and_then(|m| m.identifier);
    let mut draft = Draft {
        source_id,
        title: conv.name.unwrap_or_default(),
        created_at,
        updated_at: created_at,
        system_prompt: system,
        ..Draft::default()
    };
    // The selected version of the last turn kept: what the next turn follows.
    let mut active: Option<String> = None;
    for (t, turn) in conv.messages.iter().enumerate() {
        let selected = turn
            .currently_selected
            .filter(|s| *s < turn.versions.len())
            .unwrap_or(0);
        let parent = active.clone();
        let mut next_active = None;
        for (v, version) in turn.versions.iter().enumerate() {
            let role = match version.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" => {
                    if draft.system_prompt.is_none() {
                        draft.system_prompt = Some(text(&version.content, &mut draft))
                            .filter(|s| !s.trim().is_empty());
                    }
                    continue;
                }
                _ => {
                    draft.leave_out("tool outputs");
                    continue;
                }
            };
            let content = if version.kind == "multiStep" {
                steps_text(&version.steps, &mut draft)
            } else {
                text(&version.content, &mut draft)
            };
            if content.trim().is_empty() {
                continue;
            }
            let id = format!("{t}.{v}");
            let model = version
                .sender_info
                .as_ref()
                .and_then(|s| s.sender_name.clone())
                .or_else(|| default_model.clone())
                .filter(|_| role == Role::Assistant);
            draft.messages.push(DraftMessage {
                source_id: id.clone(),
                parent: parent.clone(),
                role,
                content,
                status: MessageStatus::Complete,
                created_at: 0,
                model,
            });
            if v == selected {
                next_active = Some(id);
            }
        }
        // A turn whose selected version held nothing Hearth keeps leaves the
        // branch where it was.
        if next_active.is_some() {
            active = next_active;
        }
    }
    draft.active_leaf = active;
    Ok(Parsed {
        drafts: vec![draft],
        unreadable: Vec::new(),
    })
}

/// The text parts of a content list; files and images are counted.
fn text(content: &[Value], draft: &mut Draft) -> String {
    let mut out = Vec::new();
    for part in content {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    out.push(t);
                }
            }
            Some("image" | "imageBase64") => draft.leave_out("images"),
            _ => draft.leave_out("attachments"),
        }
    }
    out.concat()
}

/// An answer's text: its content blocks, without tool steps or thinking.
fn steps_text(steps: &[Value], draft: &mut Draft) -> String {
    let mut out = Vec::new();
    for step in steps {
        match step.get("type").and_then(Value::as_str) {
            Some("contentBlock") => {
                let thinking = step
                    .get("style")
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str)
                    == Some("thinking");
                if thinking {
                    draft.leave_out("reasoning summaries");
                    continue;
                }
                if let Some(content) = step.get("content").and_then(Value::as_array) {
                    let t = text(content, draft);
                    if !t.is_empty() {
                        out.push(t);
                    }
                }
            }
            // Debug info says nothing the user wrote or read.
            Some("debugInfoBlock") => {}
            Some("toolStatus") => draft.leave_out("tool calls"),
            _ => draft.leave_out("messages of other kinds"),
        }
    }
    out.join("\n\n")
}
