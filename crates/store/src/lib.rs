//! hearth-store: Hearth's chat history, in one SQLite file encrypted with
//! SQLCipher.
//!
//! - [`Store`] is the database: [`Store::open`] takes the path and a [`DbKey`]
//!   (checked before anything is written), applies the embedded migrations,
//!   and refuses files from a newer Hearth.
//! - Conversations hold settings (model, system prompt, [`Sampling`],
//!   [`PrivacyPolicy`], preset version); their [`Message`]s form a tree, so an
//!   edit or a regenerated answer is a sibling branch and the conversation's
//!   active leaf picks the branch shown.
//! - [`Store::search`] is full-text search (FTS5) kept in step by triggers;
//!   export/import round-trip through versioned JSON.
//!
//! ```
//! use hearth_backend::Role;
//! use hearth_store::{MessageStatus, NewConversation, NewMessage, Store};
//!
//! let store = Store::open_in_memory()?;
//! let conv = store.create_conversation(&NewConversation::default())?;
//! store.append_message(&NewMessage {
//!     conversation_id: conv.id.clone(),
//!     parent_id: None,
//!     role: Role::User,
//!     content: "Where do otters sleep?".into(),
//!     status: MessageStatus::Complete,
//!     backend: None,
//!     model: None,
//! })?;
//! assert_eq!(store.search("otter", 10)?.len(), 1);
//! # Ok::<(), hearth_store::StoreError>(())
//! ```

mod conversations;
mod error;
mod export;
mod messages;
mod migrations;
mod open;
mod search;
mod types;
mod usage;

pub use conversations::DEFAULT_TITLE;
pub use error::StoreError;
pub use migrations::{MIGRATIONS, latest as latest_schema};
pub use open::DbKey;
pub use types::{
    Conversation, ConversationId, ConversationPatch, ConversationSummary, HIGHLIGHT, ImportReport,
    ListQuery, Message, MessageFinish, MessageId, MessageMetrics, MessageStatus, NetworkRecord,
    NewConversation, NewMessage, Preset, PresetDraft, PresetId, PrivacyPolicy, Redaction, Sampling,
    SearchHit, Timestamp, UsageRecord, UsageRow, UsageSummary, civil_from_days, format_time, now,
};

/// The chat history database (one connection; wrap it in a mutex to share).
pub struct Store {
    conn: rusqlite::Connection,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}
