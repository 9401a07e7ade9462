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
//!   export/import round-trip through versioned JSON; [`Store::import_path`]
//!   also brings conversations in from ChatGPT, Jan, Open WebUI and LM
//!   Studio exports, and [`Store::export_archive`] writes everything as
//!   Markdown and JSON into a folder or zip.
//! - Secrets the user chose to keep in the database rather than the OS
//!   keychain ([`Store::set_secret`]) live in their own table, only in an
//!   encrypted database.
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

mod archive;
mod citations;
mod conversations;
mod doc_files;
mod docs;
mod error;
mod export;
mod import;
mod messages;
mod migrations;
mod open;
mod search;
mod secrets;
mod types;
mod usage;

pub use archive::{ARCHIVE_JSON, ARCHIVE_MARKDOWN, ArchiveReport};
pub use citations::Citation;
pub use conversations::DEFAULT_TITLE;
pub use doc_files::{DocPassage, DocumentSummary};
pub use docs::{ChunkHit, CollectionSummary, DocCollection, DocStamp, NewChunk, NewDocument};
pub use error::StoreError;
pub use import::{ImportFormat, ImportLimits, ImportReport, PreparedImport, Skipped};
pub use migrations::{MIGRATIONS, latest as latest_schema};
pub use open::DbKey;
pub use types::{
    Conversation, ConversationId, ConversationPatch, ConversationSummary, HIGHLIGHT, ListQuery,
    Message, MessageFinish, MessageId, MessageMetrics, MessageStatus, NetworkRecord,
    NewConversation, NewMessage, Preset, PresetDraft, PresetId, PrivacyPolicy, Redaction, Sampling,
    SearchHit, Timestamp, UsageRecord, UsageRow, UsageSummary, civil_from_days, format_time, now,
};

/// The chat history database (one connection; wrap it in a mutex to share).
pub struct Store {
    conn: rusqlite::Connection,
    /// Opened with a key (SQLCipher): only then may it hold secrets.
    encrypted: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}
