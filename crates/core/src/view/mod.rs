//! What front ends show: plain, serialisable views with camelCase fields, one
//! file per screen, each holding its views and the `App` methods that fill
//! them. The desktop app sends them over IPC (with the `specta` feature they
//! also describe their TypeScript types, and the desktop commands take and
//! return them as they are); the API server and tests can use them too.
//!
//! | file | screen |
//! |---|---|
//! | `conversations.rs` | the conversation list, search, a conversation's settings |
//! | `chat.rs` | messages, turns and their events, consent, redactions of a message |
//! | `models.rs` | library, catalog, Hugging Face search, pulls, imports |
//! | `hardware.rs` | this machine |
//! | `settings.rs` | theme, default sampling, presets |
//! | `providers.rs` | cloud providers |
//! | `network.rs` | the network ledger, redaction settings |
//! | `usage.rs` | usage statistics, budgets, prices |
//! | `tools.rs` | MCP servers, a chat's tools, a call waiting for approval |
//! | `docs.rs` | document collections, indexing, files attached to a chat, a cited passage |
//! | `error.rs` | errors as every screen shows them |

mod chat;
mod conversations;
mod docs;
mod error;
mod hardware;
mod models;
mod network;
mod providers;
mod settings;
mod tools;
mod usage;

use hearth_store::{ConversationId, MessageId};

pub use chat::{
    ChatEventView, ConsentView, MessageRedactionView, MessageView, MetricsView, RoleView,
    StatusView, ToolCallView, TurnRequest,
};
pub use conversations::{
    ConversationInfo, ConversationPatchView, ConversationSummaryView, ConversationView,
    NewConversationView, PrivacyView, SearchHitView,
};
pub use docs::{
    CollectionView, DocFileView, FileErrorView, FileOutcomeView, IndexEventView, IndexReportView,
    PassagePartView, PassageView, UnfinishedView, chat_collection_name,
};
pub use error::{ConsentRequestView, ErrorKind, ErrorView};
pub use hardware::HardwareView;
pub use models::{
    CatalogModelView, DownloadEventView, FitVerdict, FitView, LibraryModelView, LoadSettingsForm,
    LoadSettingsView, PendingDownloadView, RemoteFileView, RepoFilesView, RepoSummaryView,
    SourceView,
};
pub use network::{NetworkRecordView, RedactionView};
pub use providers::{
    BreakerView, ContextWindow, ProviderKindView, ProviderModelView, ProviderView, provider_kinds,
};
pub use settings::{
    PresetDraftView, PresetView, SamplingView, SettingsPatchView, SettingsView, Theme,
};
pub use tools::{
    ApprovalView, EnvVarView, McpImportView, McpServerView, McpStatusView, McpToolView,
    McpTransportView, NewMcpServerView, PendingCallView,
};
pub use usage::{BackendStatsView, BudgetView, PriceView, StatsView};

fn parse_conversation(id: &str) -> Result<ConversationId, crate::CoreError> {
    Ok(ConversationId::parse(id)?)
}

fn parse_message(id: &str) -> Result<MessageId, crate::CoreError> {
    Ok(MessageId::parse(id)?)
}
