//! What front ends show: plain, serialisable views of conversations, messages,
//! models, downloads and the machine, with camelCase fields. The desktop app
//! sends them over IPC (with the `specta` feature they also describe their
//! TypeScript types); the API server and tests can use them as they are.
//!
//! The `App` methods here each do one thing a screen needs and return a view.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hearth_backend::Role;
use hearth_hub::{
    CatalogEntry, DownloadEvent, FitEstimate, ModelEntry, PendingDownload, RepoSummary, Source,
};
use hearth_store::{
    Conversation, ConversationId, ConversationPatch, ConversationSummary, ListQuery, Message,
    MessageId, MessageMetrics, MessageStatus, NewConversation, Preset, PresetDraft, PresetId,
    PrivacyPolicy, Sampling, SearchHit,
};
use serde::{Deserialize, Serialize};

use hearth_hub::{DownloadControl, DownloadOptions};
use tokio_util::sync::CancellationToken;

use hearth_providers::{BreakerState, ProviderKind};
use hearth_secrets::SecretString;
use hearth_store::{NetworkRecord, Redaction};

use crate::redact::RedactionSettings;
use crate::router::Consent;
use crate::{
    App, BackendStats, Budget, ChatEvent, CoreError, LibraryModel, Price, ProviderInfo, PullSpec,
    RemoteChoice, Stats, TurnOptions,
};

/// The settings key holding the pinned conversations (a JSON list of ids).
const PINNED: &str = "ui.pinned";
/// The settings key holding the theme.
const THEME: &str = "ui.theme";
/// The settings key holding the default sampling (JSON).
const DEFAULT_SAMPLING: &str = "chat.default_sampling";

/// An error as a front end shows it: switch on `kind`, show `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub kind: ErrorKind,
    pub message: String,
    /// With `consentNeeded`: where the message would go and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "specta", specta(optional))]
    pub consent: Option<ConsentRequestView>,
}

/// What a consent dialog asks: "Send this message to `backend`?" and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequestView {
    /// `provider:model`.
    pub backend: String,
    /// Why the router wants to go there (a fallback's reason), if not chosen.
    pub reason: Option<String>,
}

/// What went wrong, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    NotFound,
    Invalid,
    TooLong,
    NoModel,
    Model,
    Hub,
    Store,
    Locked,
    Keychain,
    Internal,
    /// A cloud provider failed (the message says how).
    Cloud,
    /// The conversation asks before cloud: ask the user, then send again.
    ConsentNeeded,
    /// Refused by the privacy policy or a budget; nothing was sent.
    Refused,
}

impl From<&CoreError> for ErrorView {
    fn from(err: &CoreError) -> Self {
        use hearth_store::StoreError;
        let kind = match err {
            CoreError::NoModel
            | CoreError::ModelNotFound(_)
            | CoreError::NoModelFile(_)
            | CoreError::UnknownApiModel(_) => ErrorKind::NoModel,
            CoreError::Engine(_) => ErrorKind::Model,
            CoreError::Hub(_) => ErrorKind::Hub,
            CoreError::TooLong(_) => ErrorKind::TooLong,
            CoreError::Invalid(_) => ErrorKind::Invalid,
            CoreError::Store(StoreError::NotFound { .. }) => ErrorKind::NotFound,
            CoreError::Store(StoreError::CannotUnlock | StoreError::NewerSchema { .. }) => {
                ErrorKind::Locked
            }
            CoreError::Store(_) => ErrorKind::Store,
            CoreError::NeedPassphrase
            | CoreError::KeyNotInKeychain
            | CoreError::BadKeyInKeychain
            | CoreError::NoKeychain
            | CoreError::Secrets(_) => ErrorKind::Keychain,
            CoreError::Config(_) | CoreError::Io { .. } | CoreError::WorkerGone => {
                ErrorKind::Internal
            }
            CoreError::Backend(_) | CoreError::UnknownProvider(_) => ErrorKind::Cloud,
            CoreError::ConsentNeeded { .. } => ErrorKind::ConsentNeeded,
            CoreError::Refused(_) | CoreError::OverBudget(_) | CoreError::Offline(_) => {
                ErrorKind::Refused
            }
        };
        let consent = match err {
            CoreError::ConsentNeeded { backend, reason } => Some(ConsentRequestView {
                backend: backend.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        };
        Self {
            kind,
            message: err.to_string(),
            consent,
        }
    }
}

impl From<CoreError> for ErrorView {
    fn from(err: CoreError) -> Self {
        Self::from(&err)
    }
}

impl ErrorView {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            consent: None,
        }
    }
}

/// Sampling settings; `null` means the model's default.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SamplingView {
    pub temperature: Option<f32>,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub seed: Option<u64>,
    pub max_tokens: Option<u32>,
}

impl From<&Sampling> for SamplingView {
    fn from(s: &Sampling) -> Self {
        Self {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            seed: s.seed,
            max_tokens: s.max_tokens.and_then(|n| u32::try_from(n).ok()),
        }
    }
}

impl From<&SamplingView> for Sampling {
    fn from(s: &SamplingView) -> Self {
        Self {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            seed: s.seed,
            max_tokens: s.max_tokens.map(|n| n as usize),
        }
    }
}

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
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub created_at: i64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub updated_at: i64,
}

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
    pub content: String,
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
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum RoleView {
    System,
    User,
    Assistant,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::System => Self::System,
            Role::User => Self::User,
            Role::Assistant => Self::Assistant,
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

/// A conversation with the messages of its active branch, root first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    pub conversation: ConversationInfo,
    pub messages: Vec<MessageView>,
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
    Token {
        text: String,
    },
    Finished {
        message: Box<MessageView>,
    },
    Failed {
        error: ErrorView,
    },
}

/// Fits / tight / won't fit, the memory needed and the expected speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FitView {
    pub fit: FitVerdict,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub total: u64,
    pub decode_tok_s: Option<f64>,
    pub approximate: bool,
    pub measured: bool,
}

/// The fit verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    Fits,
    Tight,
    WontFit,
}

impl From<&FitEstimate> for FitView {
    fn from(f: &FitEstimate) -> Self {
        Self {
            fit: match f.fit {
                hearth_hub::Fit::Fits => FitVerdict::Fits,
                hearth_hub::Fit::Tight => FitVerdict::Tight,
                hearth_hub::Fit::WontFit => FitVerdict::WontFit,
            },
            total: f.total,
            decode_tok_s: f.decode_tok_s,
            approximate: f.approximate,
            measured: f.measured,
        }
    }
}

/// Where a library model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SourceView {
    Downloaded { repo: String },
    Imported { copied: bool },
    External { app: String, label: String },
}

/// A model in the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LibraryModelView {
    pub id: String,
    pub name: Option<String>,
    pub architecture: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub parameters: u64,
    pub quant: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub context_length: Option<u64>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    pub has_chat_template: bool,
    pub source: SourceView,
    pub owned: bool,
    pub path: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub added_at: u64,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub last_used: Option<u64>,
    pub fit: FitView,
}

impl LibraryModelView {
    fn new(model: &LibraryModel, models_dir: &Path) -> Self {
        let e: &ModelEntry = &model.entry;
        let path = e
            .files
            .first()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    models_dir.join(f)
                }
            })
            .unwrap_or_default();
        Self {
            id: e.id.clone(),
            name: e.info.name.clone(),
            architecture: e.info.architecture.clone(),
            parameters: e.info.parameters,
            quant: e.info.quant.clone(),
            context_length: e.info.context_length,
            size: e.size,
            has_chat_template: e.info.has_chat_template,
            source: match &e.source {
                Source::Downloaded { repo, .. } => SourceView::Downloaded { repo: repo.clone() },
                Source::Imported { copied } => SourceView::Imported { copied: *copied },
                Source::External { app, label } => SourceView::External {
                    app: match app {
                        hearth_hub::ExternalApp::HuggingFaceCache => "hugging_face_cache",
                        hearth_hub::ExternalApp::LmStudio => "lm_studio",
                        hearth_hub::ExternalApp::Ollama => "ollama",
                    }
                    .to_owned(),
                    label: label.clone(),
                },
            },
            owned: e.owned(),
            path: path.display().to_string(),
            added_at: e.added_at,
            last_used: e.last_used,
            fit: FitView::from(&model.fit),
        }
    }
}

/// A curated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CatalogModelView {
    pub name: String,
    pub repo: String,
    pub file: String,
    pub quant: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub parameters: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub context: u64,
    pub license: String,
    pub fit: FitView,
    pub recommended: bool,
}

impl CatalogModelView {
    fn new(e: &CatalogEntry, fit: &FitEstimate, recommended: bool) -> Self {
        Self {
            name: e.name.clone(),
            repo: e.repo.clone(),
            file: e.file.clone(),
            quant: e.quant.clone(),
            size: e.size,
            parameters: e.parameters,
            context: e.context,
            license: e.license.clone(),
            fit: fit.into(),
            recommended,
        }
    }
}

/// A Hugging Face search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RepoSummaryView {
    pub id: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub downloads: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub likes: u64,
    pub updated: Option<String>,
    pub license: Option<String>,
    pub gated: bool,
}

impl From<RepoSummary> for RepoSummaryView {
    fn from(r: RepoSummary) -> Self {
        Self {
            id: r.id,
            downloads: r.downloads,
            likes: r.likes,
            updated: r.updated,
            license: r.license,
            gated: r.gated,
        }
    }
}

/// A downloadable model of a repo (split parts count as one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RemoteFileView {
    pub name: String,
    pub quant: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    pub parts: u32,
    pub fit: FitView,
}

/// A repo's models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RepoFilesView {
    pub repo: String,
    pub gated: bool,
    pub license: Option<String>,
    pub files: Vec<RemoteFileView>,
}

/// An interrupted download that can be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PendingDownloadView {
    pub repo: String,
    pub file: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub done: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
}

impl From<PendingDownload> for PendingDownloadView {
    fn from(p: PendingDownload) -> Self {
        Self {
            repo: p.repo,
            file: p.file,
            done: p.done,
            size: p.size,
        }
    }
}

/// Streamed during a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DownloadEventView {
    Started {
        model: String,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        total: u64,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        done: u64,
    },
    Progress {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        done: u64,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        total: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
    },
    Retrying {
        attempt: u32,
        reason: String,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        wait_ms: u64,
    },
    Verifying,
    Finished {
        id: String,
    },
    Paused,
    Cancelled,
    Failed {
        error: ErrorView,
    },
}

impl DownloadEventView {
    /// The view of a hub event (`None` for the ones a screen does not show).
    pub fn from_event(event: &DownloadEvent) -> Option<Self> {
        Some(match event {
            DownloadEvent::Started { model, total, done } => Self::Started {
                model: model.clone(),
                total: *total,
                done: *done,
            },
            DownloadEvent::Progress {
                done,
                total,
                bytes_per_sec,
                eta_secs,
            } => Self::Progress {
                done: *done,
                total: *total,
                bytes_per_sec: *bytes_per_sec,
                eta_secs: *eta_secs,
            },
            DownloadEvent::Retrying {
                attempt,
                reason,
                wait_ms,
                ..
            } => Self::Retrying {
                attempt: *attempt,
                reason: reason.clone(),
                wait_ms: *wait_ms,
            },
            DownloadEvent::Verifying { .. } => Self::Verifying,
            DownloadEvent::Finished { id } => Self::Finished { id: id.clone() },
            DownloadEvent::Rehashing { .. } | DownloadEvent::Unverified { .. } => return None,
        })
    }
}

/// This machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct HardwareView {
    pub cpu: String,
    pub cores: u32,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub ram_total: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub ram_available: u64,
    pub gpu: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub vram: Option<u64>,
    pub device: String,
    pub bandwidth: f64,
}

/// A preset (the latest version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PresetView {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: SamplingView,
}

impl From<&Preset> for PresetView {
    fn from(p: &Preset) -> Self {
        Self {
            id: p.id.to_string(),
            version: p.version,
            name: p.name.clone(),
            system_prompt: p.system_prompt.clone(),
            sampling: (&p.sampling).into(),
        }
    }
}

/// A preset to create (`id` null) or change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PresetDraftView {
    pub id: Option<String>,
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: SamplingView,
}

/// The colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// Settings and where the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub data_dir: String,
    pub encrypted: bool,
    pub key_in_keychain: bool,
    pub theme: Theme,
    pub default_sampling: SamplingView,
}

/// Changes to the settings.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatchView {
    #[serde(default)]
    pub theme: Option<Theme>,
    #[serde(default)]
    pub default_sampling: Option<SamplingView>,
}

fn message_view(app: &App, m: &Message) -> Result<MessageView, CoreError> {
    let siblings = app.store().siblings(&m.id)?;
    Ok(MessageView {
        id: m.id.to_string(),
        parent_id: m.parent_id.as_ref().map(ToString::to_string),
        role: m.role.into(),
        content: m.content.clone(),
        status: m.status.into(),
        backend: m.backend.clone(),
        model: m.model.clone(),
        metrics: (&m.metrics).into(),
        error: m.error.clone(),
        fallback_reason: m.fallback_reason.clone(),
        created_at: m.created_at,
        siblings: siblings.iter().map(ToString::to_string).collect(),
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
            ChatEvent::Token { text } => Self::Token { text },
            ChatEvent::Finished { message } => match message_view(app, &message) {
                Ok(message) => Self::Finished {
                    message: Box::new(message),
                },
                Err(e) => Self::Failed { error: e.into() },
            },
        }
    }
}

fn parse_conversation(id: &str) -> Result<ConversationId, CoreError> {
    Ok(ConversationId::parse(id)?)
}

fn parse_message(id: &str) -> Result<MessageId, CoreError> {
    Ok(MessageId::parse(id)?)
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
        })
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
        Ok(self.info(&conv))
    }

    /// Deletes a conversation and everything in it.
    pub fn delete_conversation_view(&self, id: &str) -> Result<(), CoreError> {
        let cid = parse_conversation(id)?;
        self.store().delete_conversation(&cid)?;
        self.set_pinned(id, false)
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

    /// The library with fit at the default context.
    pub fn library_view(&self) -> Result<Vec<LibraryModelView>, CoreError> {
        let dir = self.config().models_dir();
        Ok(self
            .models()
            .list(hearth_hub::RECOMMEND_CONTEXT)?
            .iter()
            .map(|m| LibraryModelView::new(m, &dir))
            .collect())
    }

    /// The curated catalog with fit and the recommendation.
    pub fn catalog_view(&self) -> Result<Vec<CatalogModelView>, CoreError> {
        Ok(self
            .models()
            .catalog(hearth_hub::RECOMMEND_CONTEXT)?
            .iter()
            .map(|c| CatalogModelView::new(&c.entry, &c.fit, c.recommended))
            .collect())
    }

    /// A repo's downloadable models with fit.
    pub async fn repo_files_view(&self, repo: &str) -> Result<RepoFilesView, CoreError> {
        let (info, choices) = self
            .models()
            .files(repo, hearth_hub::RECOMMEND_CONTEXT)
            .await?;
        Ok(RepoFilesView {
            repo: info.id,
            gated: info.gated,
            license: info.license,
            files: choices
                .iter()
                .map(|c: &RemoteChoice| RemoteFileView {
                    name: c.model.name.clone(),
                    quant: c.model.quant.clone(),
                    size: c.model.size,
                    parts: u32::try_from(c.model.files.len()).unwrap_or(u32::MAX),
                    fit: (&c.fit).into(),
                })
                .collect(),
        })
    }

    /// This machine: CPU, cores, memory, the device models run on, bandwidth.
    pub fn hardware_view(&self) -> HardwareView {
        let machine = self.models().machine();
        let (cpu, cores) = match sysinfo::System::new() {
            Ok(mut sys) => {
                sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
                let brand = sys
                    .cpus()
                    .first()
                    .map(|c| c.brand().trim().to_owned())
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| "unknown CPU".into());
                (brand, u32::try_from(sys.cpus().len()).unwrap_or(0))
            }
            Err(_) => ("unknown CPU".into(), 0),
        };
        HardwareView {
            cpu,
            cores,
            ram_total: machine.total_ram,
            ram_available: machine.available_ram,
            gpu: None,
            vram: None,
            device: if cfg!(feature = "cuda") {
                "cuda".into()
            } else if cfg!(feature = "metal") {
                "metal".into()
            } else {
                "cpu".into()
            },
            bandwidth: machine.bandwidth.unwrap_or(0.0),
        }
    }

    /// The latest version of every preset.
    pub fn presets_view(&self) -> Result<Vec<PresetView>, CoreError> {
        Ok(self
            .store()
            .list_presets()?
            .iter()
            .map(PresetView::from)
            .collect())
    }

    /// Creates a preset, or a new version of one.
    pub fn save_preset_view(&self, draft: &PresetDraftView) -> Result<PresetView, CoreError> {
        if draft.name.trim().is_empty() {
            return Err(CoreError::Invalid("a preset needs a name".into()));
        }
        let stored = PresetDraft {
            name: draft.name.trim().to_owned(),
            system_prompt: draft.system_prompt.clone(),
            sampling: (&draft.sampling).into(),
        };
        let store = self.store();
        let preset = match &draft.id {
            Some(id) => store.update_preset(&PresetId::parse(id)?, &stored)?,
            None => store.create_preset(&stored)?,
        };
        Ok((&preset).into())
    }

    /// Deletes a preset (conversations that used it keep their version).
    pub fn delete_preset_view(&self, id: &str) -> Result<(), CoreError> {
        Ok(self.store().delete_preset(&PresetId::parse(id)?)?)
    }

    /// Settings and where the data is.
    pub fn settings_view(&self) -> Result<SettingsView, CoreError> {
        let store = self.store();
        let theme = store
            .setting(THEME)?
            .and_then(|t| serde_json::from_str(&format!("\"{t}\"")).ok())
            .unwrap_or_default();
        let default_sampling = store
            .setting(DEFAULT_SAMPLING)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(SettingsView {
            data_dir: self.config().home().display().to_string(),
            encrypted: true,
            key_in_keychain: self.key_in_keychain(),
            theme,
            default_sampling,
        })
    }

    /// Changes the theme or the default sampling.
    pub fn update_settings_view(
        &self,
        patch: &SettingsPatchView,
    ) -> Result<SettingsView, CoreError> {
        {
            let store = self.store();
            if let Some(theme) = patch.theme {
                let name = match theme {
                    Theme::System => "system",
                    Theme::Light => "light",
                    Theme::Dark => "dark",
                };
                store.set_setting(THEME, name)?;
            }
            if let Some(sampling) = &patch.default_sampling {
                let text = serde_json::to_string(sampling).unwrap_or_else(|_| "{}".into());
                store.set_setting(DEFAULT_SAMPLING, &text)?;
            }
        }
        self.settings_view()
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

/// A provider's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BreakerView {
    /// Requests go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Requests fail at once for `retryInMs` more.
    Open {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        retry_in_ms: u64,
    },
    /// The next request is a probe.
    HalfOpen,
}

impl From<&BreakerState> for BreakerView {
    fn from(b: &BreakerState) -> Self {
        match b {
            BreakerState::Closed { failures } => Self::Closed {
                failures: *failures,
            },
            BreakerState::Open { retry_in } => Self::Open {
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            },
            BreakerState::HalfOpen => Self::HalfOpen,
        }
    }
}

/// A configured cloud provider; its key only ever masked (`sk-…1234`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub name: String,
    /// `openai`, `anthropic`, `gemini` or `compat`.
    pub kind: String,
    pub kind_label: String,
    pub base_url: String,
    pub key: Option<String>,
    pub breaker: BreakerView,
}

impl From<&ProviderInfo> for ProviderView {
    fn from(p: &ProviderInfo) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            kind_label: p.kind.label().to_owned(),
            base_url: p.base_url.clone(),
            key: p.key.clone(),
            breaker: (&p.breaker).into(),
        }
    }
}

/// A kind of provider the add form offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderKindView {
    pub kind: String,
    pub label: String,
    pub default_base_url: Option<String>,
    pub needs_key: bool,
}

/// A model a provider offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderModelView {
    pub id: String,
    pub name: Option<String>,
}

/// One outbound connection Hearth made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct NetworkRecordView {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub at: i64,
    pub host: String,
    pub purpose: String,
    pub detail: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub bytes_sent: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub bytes_received: u64,
    pub status: Option<u16>,
    pub ok: bool,
}

impl From<&NetworkRecord> for NetworkRecordView {
    fn from(r: &NetworkRecord) -> Self {
        Self {
            at: r.at,
            host: r.host.clone(),
            purpose: r.purpose.clone(),
            detail: r.detail.clone(),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            status: r.status,
            ok: r.ok,
        }
    }
}

/// How one backend and model has been doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BackendStatsView {
    pub backend: String,
    pub model: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub requests: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub errors: u64,
    #[cfg_attr(feature = "specta", specta(type = std::collections::BTreeMap<String, u32>))]
    pub errors_by_kind: BTreeMap<String, u64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tok_s_p50: Option<f64>,
    pub tok_s_p95: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub fallbacks: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub retries: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub tokens_in: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub tokens_out: u64,
    pub cost_usd: f64,
}

impl From<&BackendStats> for BackendStatsView {
    fn from(b: &BackendStats) -> Self {
        Self {
            backend: b.backend.clone(),
            model: b.model.clone(),
            requests: b.requests,
            errors: b.errors,
            errors_by_kind: b.errors_by_kind.clone(),
            ttft_p50_ms: b.ttft_p50_ms,
            ttft_p95_ms: b.ttft_p95_ms,
            tok_s_p50: b.tok_s_p50,
            tok_s_p95: b.tok_s_p95,
            fallbacks: b.fallbacks,
            retries: b.retries,
            tokens_in: b.tokens_in,
            tokens_out: b.tokens_out,
            cost_usd: b.cost_usd,
        }
    }
}

/// Usage of every backend since a time (all time when `since` is null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub since: Option<i64>,
    pub backends: Vec<BackendStatsView>,
    /// The cost of all of them, in US dollars.
    pub total_cost_usd: f64,
}

impl From<&Stats> for StatsView {
    fn from(s: &Stats) -> Self {
        Self {
            since: s.since,
            backends: s.backends.iter().map(Into::into).collect(),
            total_cost_usd: s.backends.iter().map(|b| b.cost_usd).sum(),
        }
    }
}

/// Spending caps in US dollars; `null` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

impl From<Budget> for BudgetView {
    fn from(b: Budget) -> Self {
        Self {
            daily_usd: b.daily_usd,
            monthly_usd: b.monthly_usd,
        }
    }
}

impl From<BudgetView> for Budget {
    fn from(b: BudgetView) -> Self {
        Self {
            daily_usd: b.daily_usd,
            monthly_usd: b.monthly_usd,
        }
    }
}

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PriceView {
    pub input: f64,
    pub output: f64,
}

/// What is replaced before a message goes to a cloud model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RedactionView {
    pub enabled: bool,
    /// Words and names always replaced (whole words, ignoring case).
    pub words: Vec<String>,
}

impl From<&RedactionSettings> for RedactionView {
    fn from(r: &RedactionSettings) -> Self {
        Self {
            enabled: r.enabled,
            words: r.words.clone(),
        }
    }
}

impl From<&RedactionView> for RedactionSettings {
    fn from(r: &RedactionView) -> Self {
        Self {
            enabled: r.enabled,
            words: r
                .words
                .iter()
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }
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

/// Whether `text` reads `provider:model` (both parts non-empty).
fn is_cloud_model(text: &str) -> bool {
    text.trim()
        .split_once(':')
        .is_some_and(|(p, m)| !p.is_empty() && !m.is_empty())
}

/// The kinds of provider, for the add form.
pub fn provider_kinds() -> Vec<ProviderKindView> {
    ProviderKind::ALL
        .into_iter()
        .map(|k| ProviderKindView {
            kind: k.as_str().to_owned(),
            label: k.label().to_owned(),
            default_base_url: k.default_base_url().map(str::to_owned),
            needs_key: k.needs_key(),
        })
        .collect()
}

impl App {
    /// The configured providers, keys masked.
    pub fn providers_view(&self) -> Result<Vec<ProviderView>, CoreError> {
        Ok(self.providers()?.iter().map(Into::into).collect())
    }

    /// Adds (or replaces) a provider; the key goes to the keychain and only
    /// its masked form comes back. An empty key or URL counts as none.
    pub fn add_provider_view(
        &self,
        name: &str,
        kind: &str,
        base_url: Option<String>,
        key: Option<String>,
    ) -> Result<ProviderView, CoreError> {
        let kind: ProviderKind = kind
            .parse()
            .map_err(|e: hearth_providers::ConfigError| CoreError::Invalid(e.to_string()))?;
        let base_url = base_url.filter(|u| !u.trim().is_empty());
        let key = key
            .filter(|k| !k.trim().is_empty())
            .map(|k| SecretString::from(k.trim().to_owned()));
        Ok((&self.add_provider(name.trim(), kind, base_url, key)?).into())
    }

    /// The models a provider offers.
    pub async fn provider_models_view(
        &self,
        name: &str,
    ) -> Result<Vec<ProviderModelView>, CoreError> {
        Ok(self
            .provider_models(name)
            .await?
            .into_iter()
            .map(|m| ProviderModelView {
                id: m.id,
                name: m.name,
            })
            .collect())
    }

    /// The newest `limit` connections, newest first.
    pub fn network_view(&self, limit: u32) -> Result<Vec<NetworkRecordView>, CoreError> {
        Ok(self
            .network_log(limit as usize)?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Usage since `since` (all time when `None`).
    pub fn stats_view(&self, since: Option<i64>) -> Result<StatsView, CoreError> {
        Ok((&self.stats(since)?).into())
    }

    pub fn budget_view(&self) -> Result<BudgetView, CoreError> {
        Ok(self.budget()?.into())
    }

    /// Sets the spending caps; a negative cap is refused.
    pub fn set_budget_view(&self, budget: BudgetView) -> Result<BudgetView, CoreError> {
        for cap in [budget.daily_usd, budget.monthly_usd].into_iter().flatten() {
            if !cap.is_finite() || cap < 0.0 {
                return Err(CoreError::Invalid("a budget is a positive amount".into()));
            }
        }
        self.set_budget(budget.into())?;
        self.budget_view()
    }

    /// A model's price (the user's, else the built-in list price).
    pub fn price_view(&self, provider: &str, model: &str) -> Result<Option<PriceView>, CoreError> {
        Ok(self.price(provider, model)?.map(|p| PriceView {
            input: p.input,
            output: p.output,
        }))
    }

    /// Sets (or with `None` forgets) the user's price of a model.
    pub fn set_price_view(
        &self,
        provider: &str,
        model: &str,
        price: Option<PriceView>,
    ) -> Result<(), CoreError> {
        if let Some(p) = &price
            && (!p.input.is_finite() || !p.output.is_finite() || p.input < 0.0 || p.output < 0.0)
        {
            return Err(CoreError::Invalid("a price is a positive amount".into()));
        }
        self.set_price(
            provider,
            model,
            price.map(|p| Price {
                input: p.input,
                output: p.output,
            }),
        )
    }

    pub fn redaction_view(&self) -> Result<RedactionView, CoreError> {
        Ok((&self.redaction()?).into())
    }

    pub fn set_redaction_view(&self, settings: &RedactionView) -> Result<RedactionView, CoreError> {
        self.set_redaction(&settings.into())?;
        self.redaction_view()
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

/// Which turn to run, named by ids as front ends hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// A new user message in a conversation.
    Send { conversation: String, text: String },
    /// A new answer to the same question as this assistant message.
    Regenerate { message: String },
    /// This user message edited, as a new branch, and answered.
    Edit { message: String, text: String },
    /// More of this unfinished assistant message.
    Continue { message: String },
}

impl App {
    /// Runs `turn`, streaming its events as views. Errors after the answer
    /// started are also in the stored message (status `error`).
    /// `consent` is the user's answer to a `consentNeeded` error (send the
    /// same turn again with it).
    pub async fn turn_view(
        &self,
        turn: Turn,
        consent: ConsentView,
        cancel: CancellationToken,
        mut on_event: impl FnMut(ChatEventView) + Send,
    ) -> Result<(), CoreError> {
        let options = TurnOptions {
            consent: consent.into(),
            ..TurnOptions::default()
        };
        let app = self.clone();
        let emit = move |event: ChatEvent| on_event(ChatEventView::new(&app, event));
        match turn {
            Turn::Send { conversation, text } => {
                let id = parse_conversation(&conversation)?;
                self.send(&id, &text, &options, cancel, emit).await?;
            }
            Turn::Regenerate { message } => {
                let id = parse_message(&message)?;
                self.regenerate(&id, &options, cancel, emit).await?;
            }
            Turn::Edit { message, text } => {
                let id = parse_message(&message)?;
                self.edit_and_resend(&id, &text, &options, cancel, emit)
                    .await?;
            }
            Turn::Continue { message } => {
                let id = parse_message(&message)?;
                self.continue_answer(&id, &options, cancel, emit).await?;
            }
        }
        Ok(())
    }

    /// Pulls `spec` (`owner/name[:QUANT_OR_FILE]`), streaming progress as
    /// views; `control` pauses or cancels it. Ends with `Finished`, `Paused`,
    /// `Cancelled` or `Failed`, and the same outcome as the result.
    pub async fn pull_view(
        &self,
        spec: &str,
        control: DownloadControl,
        on_event: impl Fn(DownloadEventView) + Send + Sync + 'static,
    ) -> Result<String, CoreError> {
        let on_event = std::sync::Arc::new(on_event);
        let sink = on_event.clone();
        let options = DownloadOptions {
            control,
            on_event: std::sync::Arc::new(move |event| {
                if let Some(view) = DownloadEventView::from_event(event) {
                    sink(view);
                }
            }),
            ..DownloadOptions::default()
        };
        let result = match PullSpec::parse(spec) {
            Ok(spec) => self.models().pull(&spec, &options).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => {}
            Err(CoreError::Hub(hearth_hub::HubError::Paused)) => {
                on_event(DownloadEventView::Paused)
            }
            Err(CoreError::Hub(hearth_hub::HubError::Cancelled)) => {
                on_event(DownloadEventView::Cancelled);
            }
            Err(e) => on_event(DownloadEventView::Failed { error: e.into() }),
        }
        result.map(|entry| entry.id)
    }

    /// Deletes an interrupted download's partial file.
    pub fn discard_download(&self, repo: &str, file: &str) -> Result<bool, CoreError> {
        let library = hearth_hub::Library::open(self.config().models_dir())?;
        Ok(hearth_hub::discard_pending(&library, repo, file)?)
    }

    /// Downloads that were interrupted and can be resumed.
    pub fn pending_view(&self) -> Result<Vec<PendingDownloadView>, CoreError> {
        Ok(self
            .models()
            .pending()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Adds a local `.gguf` (copied or by reference) and returns its view.
    pub fn import_view(&self, path: &Path, copy: bool) -> Result<LibraryModelView, CoreError> {
        let entry = self.models().import(path, copy)?;
        self.library_view()?
            .into_iter()
            .find(|m| m.id == entry.id)
            .ok_or_else(|| CoreError::ModelNotFound(entry.id))
    }

    /// Whether this looks like a first run: no model in the library yet.
    pub fn first_run(&self) -> Result<bool, CoreError> {
        Ok(self.models().library()?.list().is_empty())
    }

    /// The first file of a library model (to show it in the file manager).
    pub fn model_file(&self, id: &str) -> Result<std::path::PathBuf, CoreError> {
        self.models().resolve(id)
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

    #[test]
    fn breakers_and_providers_show_no_durations_or_keys_in_full() {
        let open = BreakerView::from(&BreakerState::Open {
            retry_in: std::time::Duration::from_millis(1500),
        });
        assert_eq!(open, BreakerView::Open { retry_in_ms: 1500 });
        let text = serde_json::to_string(&open).unwrap_or_default();
        assert_eq!(text, r#"{"state":"open","retryInMs":1500}"#);
        let info = ProviderInfo {
            name: "work".into(),
            kind: ProviderKind::OpenAi,
            base_url: "https://api.openai.com/v1".into(),
            key: Some("sk-…1234".into()),
            breaker: BreakerState::HalfOpen,
        };
        let view = ProviderView::from(&info);
        assert_eq!(view.kind, "openai");
        assert_eq!(view.kind_label, "OpenAI");
        assert_eq!(view.key.as_deref(), Some("sk-…1234"));
        assert_eq!(view.breaker, BreakerView::HalfOpen);
        assert_eq!(provider_kinds().len(), ProviderKind::ALL.len());
    }

    #[test]
    fn consent_errors_say_where_and_why() {
        let e = ErrorView::from(&CoreError::ConsentNeeded {
            backend: "openai:gpt-4o-mini".into(),
            reason: Some("the local model is too slow".into()),
        });
        assert_eq!(e.kind, ErrorKind::ConsentNeeded);
        let text = serde_json::to_string(&e).unwrap_or_default();
        assert!(text.contains(r#""kind":"consentNeeded""#), "{text}");
        assert!(
            text.contains(r#""consent":{"backend":"openai:gpt-4o-mini","reason":"the local model is too slow"}"#),
            "{text}"
        );
        // Other errors carry no consent field at all.
        let other =
            serde_json::to_string(&ErrorView::new(ErrorKind::Invalid, "x")).unwrap_or_default();
        assert!(!other.contains("consent"), "{other}");
    }

    #[test]
    fn stats_and_network_views_convert() {
        let stats = Stats {
            since: None,
            backends: vec![
                BackendStats {
                    backend: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    requests: 3,
                    cost_usd: 0.25,
                    ..BackendStats::default()
                },
                BackendStats {
                    backend: "local".into(),
                    model: "smol".into(),
                    requests: 1,
                    ..BackendStats::default()
                },
            ],
        };
        let view = StatsView::from(&stats);
        assert_eq!(view.backends.len(), 2);
        assert!((view.total_cost_usd - 0.25).abs() < 1e-9);
        let record = NetworkRecord {
            at: 5,
            host: "api.openai.com".into(),
            purpose: "provider call".into(),
            detail: Some("openai".into()),
            bytes_sent: 10,
            bytes_received: 20,
            status: Some(200),
            ok: true,
        };
        let text = serde_json::to_string(&NetworkRecordView::from(&record)).unwrap_or_default();
        assert!(text.contains(r#""bytesReceived":20"#), "{text}");
        let r = RedactionSettings::from(&RedactionView {
            enabled: true,
            words: vec![" Ada ".into(), String::new()],
        });
        assert_eq!(r.words, vec!["Ada".to_owned()]);
    }
}
