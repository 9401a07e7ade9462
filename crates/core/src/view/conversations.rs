//! The conversation list (pinned first), search, and each conversation's
//! settings: create, open, change, delete, export, switch branch.

use std::collections::BTreeSet;

use hearth_store::{
    Conversation, ConversationPatch, ConversationSummary, ListQuery, NewConversation, PresetId,
    PrivacyPolicy, Sampling, SearchHit,
};
use serde::{Deserialize, Serialize};

use super::chat::{MessageView, message_view};
use super::settings::{DEFAULT_SAMPLING, SamplingView};
use super::{parse_conversation, parse_message};
use crate::{App, CoreError, JsonEnforcement};

/// The settings key holding the pinned conversations (a JSON list of ids).
const PINNED: &str = "ui.pinned";

/// A row of the conversation list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummaryView {
    pub id: String,
    pub title: String,
    pub model: Option<String>,
    pub pinned: bool,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub updated_at: i64,
}

/// A conversation's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConversationInfo {
    pub id: String,
    pub title: String,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub sampling: SamplingView,
    pub preset_id: Option<String>,
    pub pinned: bool,
    /// A chosen cloud model (`provider:model`); `null`: the local `model`.
    pub backend: Option<String>,
    /// Where its messages may be sent.
    pub privacy: PrivacyView,
    /// Its model lets thinking be switched on and off (`sampling.thinking`):
    /// a local model whose chat template reads `enable_thinking` (Qwen3).
    pub supports_thinking: bool,
    /// Every answer one JSON object (the chat's switch).
    pub json_output: bool,
    /// How its backend keeps to that.
    pub json_enforcement: JsonEnforcement,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub created_at: i64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub updated_at: i64,
}

/// A conversation with the messages of its active branch, root first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub conversation: ConversationInfo,
    pub messages: Vec<MessageView>,
    /// The document collection attached to the conversation, if any.
    pub documents: Option<String>,
}

/// A search result; matched words are wrapped in `[[` and `]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SearchHitView {
    pub conversation_id: String,
    pub message_id: String,
    pub title: String,
    pub snippet: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub at: i64,
}

/// A new conversation.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct NewConversationView {
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub preset_id: Option<String>,
}

/// Changes to a conversation; absent fields stay as they are.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConversationPatchView {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "specta", specta(optional, type = Option<String>))]
    pub model: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "specta", specta(optional, type = Option<String>))]
    pub system_prompt: Option<Option<String>>,
    #[serde(default)]
    pub sampling: Option<SamplingView>,
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "specta", specta(optional, type = Option<String>))]
    pub preset_id: Option<Option<String>>,
    #[serde(default)]
    pub pinned: Option<bool>,
    /// A cloud model (`provider:model`), or `null` for the local model.
    #[serde(default, with = "double_option")]
    #[cfg_attr(feature = "specta", specta(optional, type = Option<String>))]
    pub backend: Option<Option<String>>,
    #[serde(default)]
    pub privacy: Option<PrivacyView>,
    /// The chat's JSON output switch.
    #[serde(default)]
    pub json_output: Option<bool>,
}

/// `absent` → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Where a conversation's messages may be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "policy",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PrivacyView {
    /// Never leaves the machine (the default).
    #[default]
    LocalOnly,
    /// Ask before anything goes to a cloud model; these fallbacks in order.
    AskBeforeCloud { chain: Vec<String> },
    /// Fall back to these cloud models, in order, when the local one cannot answer.
    CloudFallback { chain: Vec<String> },
}

impl From<&PrivacyPolicy> for PrivacyView {
    fn from(p: &PrivacyPolicy) -> Self {
        match p {
            PrivacyPolicy::LocalOnly => Self::LocalOnly,
            PrivacyPolicy::AskBeforeCloud { chain } => Self::AskBeforeCloud {
                chain: chain.clone(),
            },
            PrivacyPolicy::CloudFallback { chain } => Self::CloudFallback {
                chain: chain.clone(),
            },
        }
    }
}

impl From<&PrivacyView> for PrivacyPolicy {
    fn from(p: &PrivacyView) -> Self {
        let clean = |chain: &[String]| {
            chain
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        };
        match p {
            PrivacyView::LocalOnly => Self::LocalOnly,
            PrivacyView::AskBeforeCloud { chain } => Self::AskBeforeCloud {
                chain: clean(chain),
            },
            PrivacyView::CloudFallback { chain } => Self::CloudFallback {
                chain: clean(chain),
            },
        }
    }
}

/// Whether `text` reads `provider:model` (both parts non-empty).
fn is_cloud_model(text: &str) -> bool {
    text.trim()
        .split_once(':')
        .is_some_and(|(p, m)| !p.is_empty() && !m.is_empty())
}

impl App {
    fn pinned(&self) -> BTreeSet<String> {
        self.store()
            .setting(PINNED)
            .ok()
            .flatten()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    fn set_pinned(&self, id: &str, pinned: bool) -> Result<(), CoreError> {
        let mut all = self.pinned();
        if pinned {
            all.insert(id.to_owned());
        } else {
            all.remove(id);
        }
        let text = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
        Ok(self.store().set_setting(PINNED, &text)?)
    }

    fn info(&self, c: &Conversation) -> ConversationInfo {
        ConversationInfo {
            id: c.id.to_string(),
            title: c.title.clone(),
            model: c.model.clone(),
            system_prompt: c.system_prompt.clone(),
            sampling: (&c.sampling).into(),
            preset_id: c.preset.as_ref().map(|(id, _)| id.to_string()),
            pinned: self.pinned().contains(c.id.as_str()),
            backend: c.backend.clone(),
            privacy: (&c.privacy).into(),
            supports_thinking: self.supports_thinking(c),
            json_output: self.json_output(&c.id).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read a chat's JSON output switch");
                false
            }),
            json_enforcement: self.json_enforcement(c),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }

    /// All conversations (not archived), pinned first, then most recent first.
    pub fn conversation_list(&self) -> Result<Vec<ConversationSummaryView>, CoreError> {
        let pinned = self.pinned();
        let rows: Vec<ConversationSummary> = self.store().list_conversations(&ListQuery {
            include_archived: false,
            limit: 10_000,
            after: None,
        })?;
        let mut out: Vec<ConversationSummaryView> = rows
            .into_iter()
            .map(|c| ConversationSummaryView {
                pinned: pinned.contains(c.id.as_str()),
                id: c.id.to_string(),
                title: c.title,
                model: c.model,
                updated_at: c.updated_at,
            })
            .collect();
        out.sort_by_key(|c| !c.pinned);
        Ok(out)
    }

    /// Full-text search over every message.
    pub fn search_view(&self, query: &str) -> Result<Vec<SearchHitView>, CoreError> {
        let store = self.store();
        let hits: Vec<SearchHit> = store.search(query, 50)?;
        Ok(hits
            .into_iter()
            .map(|h| SearchHitView {
                at: store.message(&h.message_id).map_or(0, |m| m.created_at),
                conversation_id: h.conversation_id.to_string(),
                message_id: h.message_id.to_string(),
                title: h.conversation_title,
                snippet: h.snippet,
            })
            .collect())
    }

    /// Starts a conversation (with the default sampling, or the preset's).
    pub fn create_conversation_view(
        &self,
        new: &NewConversationView,
    ) -> Result<ConversationInfo, CoreError> {
        let store = self.store();
        let preset = match &new.preset_id {
            Some(id) => Some(store.preset(&PresetId::parse(id)?, None)?),
            None => None,
        };
        let sampling = match &preset {
            Some(p) => p.sampling.clone(),
            None => store
                .setting(DEFAULT_SAMPLING)?
                .and_then(|t| serde_json::from_str::<SamplingView>(&t).ok())
                .map(|s| Sampling::from(&s))
                .unwrap_or_default(),
        };
        let conv = store.create_conversation(&NewConversation {
            model: new.model.clone(),
            system_prompt: new
                .system_prompt
                .clone()
                .or_else(|| preset.as_ref().and_then(|p| p.system_prompt.clone())),
            sampling,
            preset: preset.as_ref().map(|p| (p.id.clone(), p.version)),
            ..NewConversation::default()
        })?;
        drop(store);
        Ok(self.info(&conv))
    }

    /// A conversation with its active branch.
    pub fn conversation_view(&self, id: &str) -> Result<ConversationView, CoreError> {
        let id = parse_conversation(id)?;
        let (conv, path) = {
            let store = self.store();
            (store.conversation(&id)?, store.active_path(&id)?)
        };
        let messages = path
            .iter()
            .map(|m| message_view(self, m))
            .collect::<Result<_, _>>()?;
        Ok(ConversationView {
            conversation: self.info(&conv),
            messages,
            documents: self.attached_docs(&id)?,
        })
    }

    /// Attaches a document collection to a conversation (`None` detaches it):
    /// its turns then use the documents.
    pub fn attach_docs_view(&self, id: &str, collection: Option<&str>) -> Result<(), CoreError> {
        self.attach_docs(&parse_conversation(id)?, collection)
    }

    /// Changes a conversation's title, model, system prompt, sampling, preset or pin.
    pub fn update_conversation_view(
        &self,
        id: &str,
        patch: &ConversationPatchView,
    ) -> Result<ConversationInfo, CoreError> {
        let cid = parse_conversation(id)?;
        let preset = match &patch.preset_id {
            Some(Some(p)) => {
                let preset = self.store().preset(&PresetId::parse(p)?, None)?;
                Some(Some((preset.id, preset.version)))
            }
            Some(None) => Some(None),
            None => None,
        };
        if let Some(title) = &patch.title
            && title.trim().is_empty()
        {
            return Err(CoreError::Invalid("a title cannot be empty".into()));
        }
        if let Some(Some(backend)) = &patch.backend
            && !backend.trim().is_empty()
            && !is_cloud_model(backend)
        {
            return Err(CoreError::Invalid(
                "a cloud model is written provider:model".into(),
            ));
        }
        let conv = self.store().update_conversation(
            &cid,
            &ConversationPatch {
                title: patch.title.as_ref().map(|t| t.trim().to_owned()),
                model: patch.model.clone(),
                system_prompt: patch.system_prompt.clone(),
                sampling: patch.sampling.as_ref().map(Sampling::from),
                preset,
                backend: patch.backend.as_ref().map(|b| {
                    b.as_ref()
                        .map(|b| b.trim().to_owned())
                        .filter(|b| !b.is_empty())
                }),
                privacy: patch.privacy.as_ref().map(PrivacyPolicy::from),
                ..ConversationPatch::default()
            },
        )?;
        if let Some(pinned) = patch.pinned {
            self.set_pinned(id, pinned)?;
        }
        if let Some(on) = patch.json_output {
            self.set_json_output(&cid, on)?;
        }
        Ok(self.info(&conv))
    }

    /// Deletes a conversation and everything in it.
    pub fn delete_conversation_view(&self, id: &str) -> Result<(), CoreError> {
        let cid = parse_conversation(id)?;
        self.store().delete_conversation(&cid)?;
        self.set_pinned(id, false)?;
        self.set_json_output(&cid, false)
    }

    /// One conversation as Markdown (`json = false`) or Hearth's JSON export.
    pub fn export_conversation(&self, id: &str, json: bool) -> Result<String, CoreError> {
        let cid = parse_conversation(id)?;
        let store = self.store();
        Ok(if json {
            store.export_json(Some(&cid))?
        } else {
            store.export_markdown(Some(&cid))?
        })
    }

    /// Makes the branch through `message` the active one.
    pub fn switch_branch_view(
        &self,
        conversation: &str,
        message: &str,
    ) -> Result<ConversationView, CoreError> {
        let mid = parse_message(message)?;
        let owner = self.store().message(&mid)?.conversation_id;
        if owner.as_str() != conversation {
            return Err(CoreError::Invalid(
                "that message belongs to another conversation".into(),
            ));
        }
        self.store().switch_branch(&mid)?;
        self.conversation_view(conversation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_tell_absent_from_null() {
        let p: ConversationPatchView =
            serde_json::from_str(r#"{"model": null, "title": "x"}"#).unwrap_or_default();
        assert_eq!(p.model, Some(None));
        assert_eq!(p.system_prompt, None);
        assert_eq!(p.title.as_deref(), Some("x"));
    }

    #[test]
    fn privacy_views_are_tagged_and_round_trip() {
        let policy = PrivacyPolicy::CloudFallback {
            chain: vec!["openai:gpt-4o-mini".into()],
        };
        let view = PrivacyView::from(&policy);
        let text = serde_json::to_string(&view).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"policy":"cloudFallback","chain":["openai:gpt-4o-mini"]}"#
        );
        assert_eq!(PrivacyPolicy::from(&view), policy);
        let local: PrivacyView =
            serde_json::from_str(r#"{"policy":"localOnly"}"#).unwrap_or_default();
        assert_eq!(PrivacyPolicy::from(&local), PrivacyPolicy::LocalOnly);
        let ask = PrivacyView::AskBeforeCloud {
            chain: vec![" a:b ".into(), "  ".into()],
        };
        assert_eq!(
            PrivacyPolicy::from(&ask),
            PrivacyPolicy::AskBeforeCloud {
                chain: vec!["a:b".into()]
            }
        );
    }

    #[test]
    fn patches_carry_backend_and_privacy() {
        let p: ConversationPatchView = serde_json::from_str(
            r#"{"backend": "openai:gpt-4o", "privacy": {"policy": "askBeforeCloud", "chain": []}}"#,
        )
        .unwrap_or_default();
        assert_eq!(p.backend, Some(Some("openai:gpt-4o".into())));
        assert_eq!(
            p.privacy,
            Some(PrivacyView::AskBeforeCloud { chain: vec![] })
        );
        assert!(is_cloud_model("openai:gpt-4o"));
        assert!(!is_cloud_model("openai"));
        assert!(!is_cloud_model(":x"));
    }
}
