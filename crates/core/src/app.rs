//! `App`: the chat service front ends hold. It owns the history database, the
//! secret store and the loaded local model.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hearth_engine::EngineOptions;
use hearth_providers::HttpPolicy;
use hearth_secrets::{KeyringStore, SecretStore, SecretString};
use hearth_store::Store;

use crate::cloud::Cloud;
use crate::local::LocalModels;
use crate::{Config, CoreError, Models, key};

/// The service name Hearth's entries have in the OS keychain.
pub const KEYCHAIN_SERVICE: &str = "hearth";

/// Where secrets (API keys, the database key) are kept.
#[derive(Default)]
pub enum Secrets {
    /// The OS keychain; without one, a passphrase is needed for the database.
    #[default]
    Keychain,
    /// A store the caller provides (tests use an in-memory one).
    Store(Arc<dyn SecretStore>),
    /// No secret store at all: the database needs a passphrase.
    None,
}

/// How to open the app.
#[derive(Default)]
pub struct OpenOptions {
    pub secrets: Secrets,
    /// Passphrase for the database; overrides the keychain key and the
    /// passphrase from the configuration.
    pub passphrase: Option<SecretString>,
    /// How local models are loaded (context length, device, threads).
    pub engine: EngineOptions,
    /// Timeouts, retries and the circuit breaker of cloud providers.
    pub http: HttpPolicy,
}

/// The chat service. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct App {
    config: Arc<Config>,
    key_in_keychain: bool,
    store: Arc<Mutex<Store>>,
    secrets: Option<Arc<dyn SecretStore>>,
    models: Models,
    pub(crate) local: Arc<LocalModels>,
    pub(crate) cloud: Arc<Cloud>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("home", &self.config.home)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens Hearth with the OS keychain: creates the data directory and the
    /// encrypted database on first run, encrypts a plaintext database left by
    /// an older version, and marks answers a crash interrupted as partial.
    pub fn open(config: Config) -> Result<Self, CoreError> {
        Self::open_with(config, OpenOptions::default())
    }

    /// [`App::open`] with explicit secrets, passphrase and engine options.
    pub fn open_with(config: Config, options: OpenOptions) -> Result<Self, CoreError> {
        crate::files::private_dir(&config.home).map_err(|source| CoreError::Io {
            path: config.home.display().to_string(),
            source,
        })?;
        let secrets: Option<Arc<dyn SecretStore>> = match options.secrets {
            Secrets::Keychain => match KeyringStore::open(KEYCHAIN_SERVICE) {
                Ok(store) => Some(Arc::new(store)),
                Err(err) => {
                    // Said once, by `NeedPassphrase`, if it matters.
                    tracing::debug!(%err, "no OS keychain");
                    None
                }
            },
            Secrets::Store(store) => Some(store),
            Secrets::None => None,
        };
        let passphrase = options.passphrase.or_else(|| config.db_passphrase.clone());
        let path = config.db_path();
        let key_in_keychain = passphrase.is_none();
        let key = key::database_key(&path, passphrase.as_ref(), secrets.as_deref())?;
        if path.exists() && Store::is_plaintext(&path)? {
            Store::encrypt_plaintext(&path, &key)?;
            tracing::info!("encrypted the chat history database, which was plaintext");
        }
        let store = Store::open(&path, &key)?;
        let recovered = store.recover_interrupted()?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "answers interrupted by a crash are kept as partial"
            );
        }
        let offline = config.is_offline();
        let store = Arc::new(Mutex::new(store));
        let config = Arc::new(config);
        let cloud = Arc::new(Cloud::new(store.clone(), offline, options.http));
        Ok(Self {
            models: Models::new(config.clone(), secrets.clone()).with_ledger(cloud.ledger()),
            cloud,
            config,
            key_in_keychain,
            store,
            secrets,
            local: Arc::new(LocalModels::new(options.engine)),
        })
    }

    /// The history database. Hold the guard briefly and never across an await.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // Store calls are single SQL transactions: a panic mid-call cannot leave
        // the connection half-updated, so a poisoned lock is safe to reuse.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The secret store, if one is available.
    pub fn secrets(&self) -> Option<&Arc<dyn SecretStore>> {
        self.secrets.as_ref()
    }

    /// The configuration the app was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the database key is in the OS keychain (else a passphrase opened it).
    pub fn key_in_keychain(&self) -> bool {
        self.key_in_keychain
    }

    /// The model library.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Frees the loaded local model if it was idle for `idle` (the API
    /// server's keep-warm time); returns whether one was unloaded.
    pub async fn unload_idle_model(&self, idle: std::time::Duration) -> bool {
        self.local.unload_if_idle(idle).await
    }

    /// The file a model reference names: a library id (or unique prefix), or a
    /// path to a `.gguf` file.
    pub fn resolve_model(&self, reference: &str) -> Result<PathBuf, CoreError> {
        self.models.resolve(reference)
    }
}
