//! hearth-core end to end: opening (keys, encryption, recovery) and chat turns
//! on the real SmolLM2 test model.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod chat;
mod chat_tools;
mod chat_tools_turns;
mod chat_tools_view;
mod cloud_context;
mod cloud_tools;
mod docs;
mod docs_view;
mod json_output;
mod keys;
mod load_settings;
mod local_tools;
mod network;
mod open;
mod reasoning;
mod router;

use std::sync::Arc;

use hearth_core::hearth_providers::{HttpPolicy, ProviderKind};
use hearth_core::{App, Config, OpenOptions, ProviderKey, Secrets};
use hearth_engine::EngineOptions;
use hearth_secrets::{MemoryStore, SecretString};
use hearth_store::{ConversationId, NewConversation, Sampling};
use hearth_testkit::providers::StandIn;
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

    /// The app, for talking to provider stand-ins ([`standin_http`]).
    pub(crate) fn open_for_standins(&self) -> App {
        self.open_custom(self.config(), EngineOptions::default(), standin_http())
    }

    /// The app with its own config, engine options and HTTP policy.
    pub(crate) fn open_custom(
        &self,
        config: Config,
        engine: EngineOptions,
        http: HttpPolicy,
    ) -> App {
        App::open_with(
            config,
            OpenOptions {
                secrets: Secrets::Store(self.secrets.clone()),
                engine,
                http,
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

/// A new conversation on the SmolLM2 test model, sampling greedily (so its
/// answers are the same each run), with `system` as its system prompt; its id.
pub(crate) fn greedy_conversation(app: &App, system: Option<&str>) -> ConversationId {
    app.store()
        .create_conversation(&NewConversation {
            model: Some(hearth_testkit::models::smollm2().display().to_string()),
            system_prompt: system.map(str::to_owned),
            sampling: Sampling {
                temperature: Some(0.0),
                ..Sampling::default()
            },
            ..NewConversation::default()
        })
        .unwrap()
        .id
}

/// A single-threaded runtime to run a test's turns on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// HTTP for a provider stand-in: no retries, and an answer that has not
/// begun within 5 s is a broken test, not a slow server.
pub(crate) fn standin_http() -> HttpPolicy {
    HttpPolicy {
        max_retries: 0,
        first_byte_timeout: std::time::Duration::from_secs(5),
        ..HttpPolicy::default()
    }
}

/// Adds the provider `name` (of `kind`) at `standin`'s address, its key
/// planted in the app's secret store.
pub(crate) fn add_standin(app: &App, name: &str, kind: ProviderKind, standin: &StandIn, key: &str) {
    app.add_provider(
        name,
        kind,
        Some(standin.base_url().to_owned()),
        ProviderKey::Store(SecretString::from(key), None),
    )
    .unwrap();
}

/// A new conversation that answers with `cloud` (the cloud-fallback policy,
/// `cloud` its only link); its id.
pub(crate) fn cloud_fallback_chat(app: &App, cloud: &str) -> String {
    app.store()
        .create_conversation(&hearth_store::NewConversation {
            backend: Some(cloud.into()),
            privacy: hearth_store::PrivacyPolicy::CloudFallback {
                chain: vec![cloud.into()],
            },
            ..Default::default()
        })
        .unwrap()
        .id
        .to_string()
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
