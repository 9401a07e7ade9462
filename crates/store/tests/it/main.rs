//! hearth-store against real SQLCipher database files.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod branches;
mod docs;
mod encryption;
mod export;
mod import;
mod migrations;
mod search;
mod tools;

use std::path::{Path, PathBuf};

use hearth_backend::Role;
use hearth_store::{
    ConversationId, DbKey, Message, MessageId, MessageStatus, NewConversation, NewMessage, Store,
};
use sha2::{Digest, Sha256};

pub(crate) fn key() -> DbKey {
    DbKey::Raw(std::array::from_fn(|i| i as u8 * 7 + 1))
}

pub(crate) struct Db {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
}

impl Db {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearth.db");
        Self { _dir: dir, path }
    }

    pub(crate) fn open(&self) -> Store {
        Store::open(&self.path, &key()).unwrap()
    }
}

/// The sha256 of the database file and its sidecars, to prove nothing changed.
pub(crate) fn fingerprint(path: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(PathBuf::from(name)) {
            out.push((suffix.to_owned(), format!("{:x}", Sha256::digest(&bytes))));
        }
    }
    out
}

pub(crate) fn file_contains(path: &Path, needle: &str) -> bool {
    let mut found = false;
    for suffix in ["", "-wal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(PathBuf::from(name)) {
            found |= bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        }
    }
    found
}

pub(crate) fn conversation(store: &Store, title: &str) -> ConversationId {
    store
        .create_conversation(&NewConversation {
            title: Some(title.into()),
            ..NewConversation::default()
        })
        .unwrap()
        .id
}

pub(crate) fn say(
    store: &Store,
    conv: &ConversationId,
    parent: Option<&MessageId>,
    role: Role,
    text: &str,
) -> Message {
    store
        .append_message(&NewMessage {
            conversation_id: conv.clone(),
            parent_id: parent.cloned(),
            role,
            content: text.into(),
            status: MessageStatus::Complete,
            backend: None,
            model: None,
        })
        .unwrap()
}
