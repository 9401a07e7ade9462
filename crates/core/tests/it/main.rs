//! hearth-core end to end: opening (keys, encryption, recovery) and chat turns
//! on the real SmolLM2 test model.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod chat;
mod chat_tools;
mod chat_tools_view;
mod cloud_context;
mod cloud_tools;
mod docs;
mod keys;
mod network;
mod open;
mod router;

use std::sync::Arc;

use hearth_core::{App, Config, OpenOptions, Secrets};
use hearth_engine::EngineOptions;
use hearth_secrets::MemoryStore;
use tempfile::TempDir;

/// A fresh Hearth home with an in-memory keychain.
pub(crate) struct Home {
    pub(crate) dir: TempDir,
    pub(crate) secrets: Arc<MemoryStore>,
}

impl Home {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            secrets: Arc::new(MemoryStore::default()),
        }
    }

    pub(crate) fn config(&self) -> Config {
        Config::with_home(self.dir.path())
    }

    pub(crate) fn open(&self) -> App {
        self.open_with_engine(EngineOptions::default())
    }

    pub(crate) fn open_with_engine(&self, engine: EngineOptions) -> App {
        App::open_with(
            self.config(),
            OpenOptions {
                secrets: Secrets::Store(self.secrets.clone()),
                engine,
                ..OpenOptions::default()
            },
        )
        .unwrap()
    }

    pub(crate) fn db_bytes(&self) -> Vec<u8> {
        let mut bytes = std::fs::read(self.config().db_path()).unwrap();
        let wal = self.config().db_path().with_extension("db-wal");
        if let Ok(more) = std::fs::read(wal) {
            bytes.extend(more);
        }
        bytes
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
