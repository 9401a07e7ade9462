//! A chat's "JSON output" switch: every answer one JSON object. A local model
//! is held to it token by token (the engine's JSON mode,
//! [`hearth_engine::OutputFormat::JsonObject`]); OpenAI, Gemini and
//! OpenAI-compatible servers are asked for it through their own JSON modes
//! (the providers translate `ChatRequest::json`); Anthropic has none, so there
//! the switch is not enforced and the prompt has to ask. Kept per
//! conversation as a setting in the encrypted database, as a chat's tools are.

use hearth_backend::BackendId;
use hearth_store::{Conversation, ConversationId};
use serde::{Deserialize, Serialize};

use crate::{App, CoreError};

/// The settings key prefix; the conversation's id follows.
const PREFIX: &str = "chat_json:";

/// How the conversation's backend keeps to the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum JsonEnforcement {
    /// The local engine only lets tokens through that keep the answer valid
    /// JSON.
    Constrained,
    /// The cloud provider is asked for JSON (its own JSON mode).
    Provider,
    /// The provider has no JSON mode (Anthropic): not enforced.
    NotEnforced,
}

impl App {
    /// Whether the conversation's answers are to be JSON.
    pub fn json_output(&self, conversation: &ConversationId) -> Result<bool, CoreError> {
        Ok(self.store().setting(&key(conversation))?.as_deref() == Some("on"))
    }

    /// Switches JSON output on or off for the conversation; the next answer
    /// follows it.
    pub fn set_json_output(
        &self,
        conversation: &ConversationId,
        on: bool,
    ) -> Result<(), CoreError> {
        if on {
            // An unknown conversation is an error, not a setting kept for nothing.
            self.store().conversation(conversation)?;
            self.store().set_setting(&key(conversation), "on")?;
        } else {
            self.store().delete_setting(&key(conversation))?;
        }
        Ok(())
    }

    /// How the conversation's chosen backend keeps to JSON output (a
    /// provider that is not configured counts as asked: it cannot answer
    /// anyway).
    pub fn json_enforcement(&self, conv: &Conversation) -> JsonEnforcement {
        let Some(id) = conv.backend.as_deref().and_then(BackendId::parse) else {
            return JsonEnforcement::Constrained;
        };
        if id.is_local() {
            return JsonEnforcement::Constrained;
        }
        match self.provider_kind(&id.provider) {
            Some(kind) if !kind.has_json_mode() => JsonEnforcement::NotEnforced,
            _ => JsonEnforcement::Provider,
        }
    }
}

fn key(conversation: &ConversationId) -> String {
    format!("{PREFIX}{conversation}")
}
