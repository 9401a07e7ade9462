//! `App`: the chat service front ends hold. It owns the history database, the
//! secret store and the loaded local model.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hearth_engine::EngineOptions;
use hearth_providers::HttpPolicy;
use hearth_secrets::{KeyringStore, SecretStore, SecretString};
use hearth_store::Store;

use crate::cloud::Cloud;
use crate::docs::EmbedSlot;
use crate::keys::Vault;
use crate::local::LocalModels;
use crate::mcp::McpDesk;
use crate::{Config, CoreError, LoadSettings, Models, key};

/// The service name Hearth's entries have in the OS keychain.
pub const KEYCHAIN_SERVICE: &str = "hearth";

/// Which keychain holds the database key and the API keys kept there. (Keys
/// the user chose to keep in the encrypted database need none.)
#[derive(Default)]
pub enum Secrets {
    /// The OS keychain. It is not touched until a key is needed, and then
    /// never waited on for longer than [`OpenOptions::keychain_timeout`].
    #[default]
    Keychain,
    /// A store the caller provides in its place (tests use an in-memory one).
    Store(Arc<dyn SecretStore>),
    /// No keychain at all: the database needs a passphrase.
    None,
}

/// How to open the app.
#[derive(Default)]
pub struct OpenOptions {
    pub secrets: Secrets,
    /// Passphrase for the database; overrides the keychain key and the
    /// passphrase from the configuration.
    pub passphrase: Option<SecretString>,
    /// How local models are loaded (context length, device, threads); a
    /// library model's own load settings change it.
    pub engine: EngineOptions,
    /// Load settings that win over each model's own (a command line's flags).
    pub forced_load: LoadSettings,
    /// Timeouts, retries and the circuit breaker of cloud providers.
    pub http: HttpPolicy,
    /// How long one call to the OS keychain may take (a locked one may wait
    /// for its password); `None`: [`hearth_secrets::KEYCHAIN_TIMEOUT`].
    pub keychain_timeout: Option<Duration>,
}

/// The chat service. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct App {
    config: Arc<Config>,
    key_in_keychain: bool,
    store: Arc<Mutex<Store>>,
    keychain: Option<Arc<dyn SecretStore>>,
    pub(crate) vault: Arc<Vault>,
    models: Models,
    pub(crate) local: Arc<LocalModels>,
    pub(crate) cloud: Arc<Cloud>,
    /// The embedding model for document retrieval, loaded on first use.
    pub(crate) embed: Arc<EmbedSlot>,
    /// The MCP host, the calls waiting for the user's approval.
    pub(crate) mcp: Arc<McpDesk>,
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
    ///
    /// The keychain is asked only for the database key, and not at all when a
    /// passphrase is given (`HEARTH_DB_PASSPHRASE`). A locked keychain may
    /// show an unlock prompt and wait for it (at most
    /// [`OpenOptions::keychain_timeout`]), so a desktop shell opens its
    /// window first and calls this off its main thread.
    pub fn open(config: Config) -> Result<Self, CoreError> {
        Self::open_with(config, OpenOptions::default())
    }

    /// [`App::open`] with explicit secrets, passphrase and engine options.
    pub fn open_with(config: Config, options: OpenOptions) -> Result<Self, CoreError> {
        crate::files::private_dir(&config.home).map_err(|source| CoreError::Io {
            path: config.home.display().to_string(),
            source,
        })?;
        let keychain: Option<Arc<dyn SecretStore>> = match options.secrets {
            // Nothing is asked yet: a missing or locked keychain shows when
            // (and if) a key is read from it.
            Secrets::Keychain => Some(Arc::new(
                KeyringStore::new(KEYCHAIN_SERVICE).with_timeout(
                    options
                        .keychain_timeout
                        .unwrap_or(hearth_secrets::KEYCHAIN_TIMEOUT),
                ),
            )),
            Secrets::Store(store) => Some(store),
            Secrets::None => None,
        };
        let passphrase = options.passphrase.or_else(|| config.db_passphrase.clone());
        let path = config.db_path();
        let key_in_keychain = passphrase.is_none();
        let key = key::database_key(&path, passphrase.as_ref(), keychain.as_deref())?;
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
        let vault = Arc::new(Vault::new(keychain.clone(), store.clone()));
        Ok(Self {
            models: Models::new(config.clone(), Some(vault.clone() as Arc<dyn SecretStore>))
                .with_ledger(cloud.ledger()),
            cloud,
            config,
            key_in_keychain,
            store,
            keychain,
            vault,
            local: Arc::new(LocalModels::new(options.engine, options.forced_load)),
            embed: Arc::new(EmbedSlot::default()),
            mcp: Arc::new(McpDesk::default()),
        })
    }

    /// The history database. Hold the guard briefly and never across an await.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // Store calls are single SQL transactions: a panic mid-call cannot leave
        // the connection half-updated, so a poisoned lock is safe to reuse.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keychain the app was opened with (none with [`Secrets::None`]).
    /// Nothing has been asked of it unless a key was needed; see
    /// [`App::secret_store`] for all of Hearth's secrets wherever they are.
    pub fn keychain(&self) -> Option<&Arc<dyn SecretStore>> {
        self.keychain.as_ref()
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
