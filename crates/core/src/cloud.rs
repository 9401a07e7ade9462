//! Cloud providers as Hearth keeps them: their settings in the database, their
//! keys where the user chose (the OS keychain, the encrypted database, or the
//! environment for a session: see `keys.rs`), one live [`Provider`] each (so
//! its circuit breaker lasts; built with the network settings of
//! `network.rs`), the network ledger every connection is written to (with the
//! proxy it went through), and the offline switch that stops all of them.
//!
//! A provider entry records where its key is and its masked form, so listing
//! providers never asks the keychain: only a call that needs the key does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_backend::BackendId;
use hearth_providers::{
    BreakerState, HttpPolicy, Network, NetworkEvent, NetworkObserver, Provider, ProviderConfig,
    ProviderKind, Purpose, RemoteModel,
};
use hearth_secrets::{SecretString, mask, provider_key};
use hearth_store::{NetworkRecord, Store};
use serde::{Deserialize, Serialize};

use crate::config::{is_env_var_name, provider_key_var};
use crate::keys::{KeySource, SecretStorage, keychain_error};
use crate::router::CloudHealth;
use crate::{App, CoreError};

/// The smallest context window a user may set (a system prompt and one
/// short question, with room for an answer).
pub const MIN_CONTEXT_WINDOW: usize = 64;

/// The setting holding the configured providers (JSON, no keys).
const PROVIDERS_SETTING: &str = "providers";

/// A configured provider as stored (no key: see [`StoredKey`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderEntry {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// Where its key is.
    #[serde(default)]
    pub key: StoredKey,
    /// The user allowed its key over plain `http://` to another machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// The user's context window for its models, in tokens (`None`: the
    /// table of known models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<usize>,
}

/// Where a provider's key is, as its entry records it. The masks are what
/// lists show, so listing never needs the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum StoredKey {
    /// Saved by a Hearth that did not record it: in the keychain, if anywhere.
    #[default]
    Unrecorded,
    /// No key (a server that needs none).
    None,
    Keychain {
        mask: String,
    },
    Database {
        mask: String,
    },
    /// Read from this variable each session; never stored.
    Environment {
        var: String,
    },
}

/// Where `hearth provider add` / the add form takes the key from and keeps it.
#[derive(Debug, Clone)]
pub enum ProviderKey {
    /// No key.
    None,
    /// This key, kept in the keychain or the database (`None`: where the
    /// `secrets.storage` setting says).
    Store(SecretString, Option<SecretStorage>),
    /// Read from this environment variable each session; nothing is stored.
    Environment(String),
    /// Keep whatever key the provider already has (changing only its URL).
    Keep,
}

/// A configured provider as front ends show it.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInfo {
    pub name: String,
    pub kind: ProviderKind,
    /// The URL requests go to, redacted (no user, password or query).
    pub base_url: String,
    /// Its key may cross the network unencrypted (plain `http://`).
    pub allow_http: bool,
    /// The key, masked (`sk-…1234`), when there is one.
    pub key: Option<String>,
    /// Where the key is (or comes from).
    pub key_source: KeySource,
    /// `false` for a provider that exists only because its key is in the
    /// environment for this session (e.g. `OPENAI_API_KEY` with no `openai`
    /// provider set up); it cannot be removed, only unset.
    pub configured: bool,
    pub breaker: BreakerState,
    /// The context window the user set for its models (`None`: each model's
    /// known window, if any).
    pub context_window: Option<usize>,
}

/// The live providers and the switch and ledger they share.
pub(crate) struct Cloud {
    live: Mutex<HashMap<String, Arc<Provider>>>,
    offline: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
    policy: HttpPolicy,
}

impl Cloud {
    pub(crate) fn new(store: Arc<Mutex<Store>>, offline: bool, policy: HttpPolicy) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            offline: Arc::new(AtomicBool::new(offline)),
            ledger: Arc::new(Ledger { store }),
            policy,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Provider>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the live providers: the next call builds them again with the
    /// current network settings (their circuit breakers start closed).
    pub(crate) fn rebuild(&self) {
        self.live().clear();
    }

    /// The shared offline flag (hearth-hub's client reads it too).
    pub(crate) fn offline_flag(&self) -> Arc<AtomicBool> {
        self.offline.clone()
    }

    /// The ledger, for connections made outside the providers.
    pub(crate) fn ledger(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }
}

/// Writes each outbound connection into the database's network ledger.
pub(crate) struct Ledger {
    store: Arc<Mutex<Store>>,
}

impl Ledger {
    pub(crate) fn write(&self, record: &NetworkRecord) {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = store.record_network(record) {
            tracing::warn!(error = %e, "cannot write the network ledger");
        }
    }
}

impl NetworkObserver for Ledger {
    fn record(&self, event: &NetworkEvent) {
        self.write(&NetworkRecord {
            at: event
                .started_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            host: event.host.clone(),
            purpose: match event.purpose {
                Purpose::ProviderCall => "provider call",
                Purpose::ListModels => "model list",
            }
            .to_owned(),
            detail: Some(event.provider.clone()),
            bytes_sent: event.bytes_sent,
            bytes_received: event.bytes_received,
            status: event.status,
            ok: event.ok,
            via: event.via.clone(),
        });
    }
}

impl App {
    /// The configured providers, with masked keys, where each key is and
    /// breaker states; then the providers the environment gives for this
    /// session. Asks no keychain.
    pub fn providers(&self) -> Result<Vec<ProviderInfo>, CoreError> {
        let mut entries: Vec<(ProviderEntry, bool)> = self
            .provider_entries()?
            .into_iter()
            .map(|e| (e, true))
            .collect();
        let configured: Vec<ProviderEntry> = entries.iter().map(|(e, _)| e.clone()).collect();
        entries.extend(
            self.session_providers(&configured)
                .into_iter()
                .map(|e| (e, false)),
        );
        let live = self.cloud.live();
        entries
            .into_iter()
            .map(|(entry, configured)| {
                let (key_source, key) = self.describe_key(&entry)?;
                Ok(ProviderInfo {
                    base_url: entry
                        .base_url
                        .as_deref()
                        .or_else(|| entry.kind.default_base_url())
                        .map(hearth_net::redact)
                        .unwrap_or_default(),
                    allow_http: entry.allow_http,
                    context_window: entry.context_window,
                    breaker: live
                        .get(&entry.name)
                        .map_or(BreakerState::Closed { failures: 0 }, |p| p.breaker()),
                    key,
                    key_source,
                    configured,
                    name: entry.name,
                    kind: entry.kind,
                })
            })
            .collect()
    }

    /// Adds (or replaces) a provider. The key goes where `key` says (see
    /// [`ProviderKey`]); the rest to the database. A key is never sent over
    /// plain `http://` to another machine: see [`App::add_provider_with`].
    pub fn add_provider(
        &self,
        name: &str,
        kind: ProviderKind,
        base_url: Option<String>,
        key: ProviderKey,
    ) -> Result<ProviderInfo, CoreError> {
        self.add_provider_with(name, kind, base_url, key, false)
    }

    /// [`App::add_provider`], with `allow_http`: the user trusts every
    /// network between them and a plain `http://` server on another machine,
    /// and lets its key cross it unencrypted.
    pub fn add_provider_with(
        &self,
        name: &str,
        kind: ProviderKind,
        base_url: Option<String>,
        key: ProviderKey,
        allow_http: bool,
    ) -> Result<ProviderInfo, CoreError> {
        validate_name(name)?;
        let base_url = base_url.map(|u| u.trim().trim_end_matches('/').to_owned());
        let previous = self
            .provider_entries()?
            .into_iter()
            .find(|e| e.name == name);
        // The key to check the settings with, and what the entry will record.
        let (check_key, stored) = match &key {
            ProviderKey::None => (None, StoredKey::None),
            ProviderKey::Store(value, storage) => {
                let storage = match storage {
                    Some(storage) => *storage,
                    None => self.secret_storage()?,
                };
                let stored = match storage {
                    SecretStorage::Keychain => StoredKey::Keychain { mask: mask(value) },
                    SecretStorage::Database => StoredKey::Database { mask: mask(value) },
                };
                (Some(value.clone()), stored)
            }
            ProviderKey::Environment(var) => {
                if !is_env_var_name(var) {
                    return Err(CoreError::Invalid(format!(
                        "{var:?} cannot name an environment variable"
                    )));
                }
                let value = self.config().env_secrets.get(var).ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "{var} is not set: set it to the key (it is read from there each \
                         session and never stored)"
                    ))
                })?;
                (Some(value), StoredKey::Environment { var: var.clone() })
            }
            ProviderKey::Keep => match &previous {
                Some(entry) => (self.entry_key(entry)?, entry.key.clone()),
                None => (None, StoredKey::None),
            },
        };
        // Checks the combination (a compat server needs a URL, the others a
        // key). Building one opens no connection.
        let config = ProviderConfig {
            name: name.to_owned(),
            kind,
            base_url: base_url.clone(),
            api_key: check_key,
            allow_http,
            context_window: None,
        };
        Provider::new(config, HttpPolicy::default(), Network::default())
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        if let ProviderKey::Store(value, _) = &key {
            let storage = match &stored {
                StoredKey::Database { .. } => SecretStorage::Database,
                _ => SecretStorage::Keychain,
            };
            self.vault.put(&provider_key(name), value, storage)?;
        }
        // A key kept somewhere else before is not left behind.
        if let Some(old) = &previous
            && !same_place(&old.key, &stored)
        {
            self.forget_key(old);
        }
        let mut entries = self.provider_entries()?;
        entries.retain(|e| e.name != name);
        entries.push(ProviderEntry {
            name: name.to_owned(),
            kind,
            base_url,
            key: stored,
            allow_http,
            // Kept when a provider is set up again.
            context_window: previous.as_ref().and_then(|p| p.context_window),
        });
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.save_changed_provider(&entries, name)
    }

    /// Removes a provider and its stored key; returns whether it existed.
    pub fn remove_provider(&self, name: &str) -> Result<bool, CoreError> {
        let mut entries = self.provider_entries()?;
        let Some(entry) = entries.iter().find(|e| e.name == name).cloned() else {
            if self
                .session_providers(&entries)
                .iter()
                .any(|e| e.name == name)
            {
                return Err(CoreError::Invalid(format!(
                    "{name} is not set up in Hearth: its key comes from the environment for this \
                     session only (unset the variable to stop using it)"
                )));
            }
            return Ok(false);
        };
        // The key first: a key that cannot be deleted (a locked keychain)
        // keeps the provider too, so nothing is left without an owner.
        match &entry.key {
            StoredKey::Keychain { .. } | StoredKey::Unrecorded => {
                if let Some(keychain) = self.keychain() {
                    match keychain.delete(&provider_key(name)) {
                        Ok(_) | Err(hearth_secrets::SecretError::Unavailable(_)) => {}
                        Err(err) => {
                            return Err(keychain_error(err, "the provider's key is kept there"));
                        }
                    }
                }
            }
            StoredKey::Database { .. } => {
                self.store().delete_secret(&provider_key(name))?;
            }
            StoredKey::None | StoredKey::Environment { .. } => {}
        }
        entries.retain(|e| e.name != name);
        self.cloud.live().remove(name);
        self.save_provider_entries(&entries)?;
        Ok(true)
    }

    /// Saves `entries` after provider `name` changed, drops its live
    /// backend (the next turn builds it from the new entry) and returns it.
    fn save_changed_provider(
        &self,
        entries: &[ProviderEntry],
        name: &str,
    ) -> Result<ProviderInfo, CoreError> {
        self.save_provider_entries(entries)?;
        self.cloud.live().remove(name);
        self.providers()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| CoreError::UnknownProvider(name.to_owned()))
    }

    /// Sets the context window of every model of provider `name`, in tokens,
    /// in place of the table of known models; `None` goes back to the table.
    /// Turns to it are then fitted into that window.
    pub fn set_provider_context_window(
        &self,
        name: &str,
        tokens: Option<usize>,
    ) -> Result<ProviderInfo, CoreError> {
        if let Some(tokens) = tokens
            && tokens < MIN_CONTEXT_WINDOW
        {
            return Err(CoreError::Invalid(format!(
                "a context window of {tokens} tokens is too small: at least \
                 {MIN_CONTEXT_WINDOW}"
            )));
        }
        let mut entries = self.provider_entries()?;
        let Some(entry) = entries.iter_mut().find(|e| e.name == name) else {
            return Err(if self.providers()?.iter().any(|p| p.name == name) {
                CoreError::Invalid(format!(
                    "{name} is not set up in Hearth (its key comes from the environment): \
                     add it with `hearth provider add` to set its context window"
                ))
            } else {
                CoreError::UnknownProvider(name.to_owned())
            });
        };
        entry.context_window = tokens;
        self.save_changed_provider(&entries, name)
    }

    /// The kind of the provider called `name` (configured, or given by the
    /// environment for this session), without reading its key.
    pub(crate) fn provider_kind(&self, name: &str) -> Option<ProviderKind> {
        let configured = self
            .provider_entries()
            .map_err(|e| tracing::debug!(error = %e, "cannot read the provider list"))
            .ok()?;
        let session = self.session_providers(&configured);
        configured
            .iter()
            .chain(&session)
            .find(|e| e.name == name)
            .map(|e| e.kind)
    }

    /// The live provider called `name` (a configured one, or one the
    /// environment gives for this session). Its key is read here, which may
    /// ask the keychain.
    pub fn provider(&self, name: &str) -> Result<Arc<Provider>, CoreError> {
        if let Some(provider) = self.cloud.live().get(name) {
            return Ok(provider.clone());
        }
        let configured = self.provider_entries()?;
        let entry = match configured.iter().find(|e| e.name == name) {
            Some(entry) => entry.clone(),
            None => self
                .session_providers(&configured)
                .into_iter()
                .find(|e| e.name == name)
                .ok_or_else(|| CoreError::UnknownProvider(name.to_owned()))?,
        };
        let config = ProviderConfig {
            name: entry.name.clone(),
            kind: entry.kind,
            base_url: entry.base_url.clone(),
            api_key: self.entry_key(&entry)?,
            allow_http: entry.allow_http,
            context_window: entry.context_window,
        };
        let network = Network {
            observer: Some(self.cloud.ledger() as Arc<dyn NetworkObserver>),
            offline: self.cloud.offline_flag(),
            net: self.models().net()?,
        };
        let provider = Arc::new(
            Provider::new(config, self.cloud.policy.clone(), network)
                .map_err(|e| CoreError::Invalid(e.to_string()))?,
        );
        self.cloud.live().insert(entry.name, provider.clone());
        Ok(provider)
    }

    /// Calls the provider once (its model list) to check the URL and key;
    /// returns how many models it offers.
    pub async fn test_provider(&self, name: &str) -> Result<usize, CoreError> {
        Ok(self.provider(name)?.test_connection().await?)
    }

    /// The models a provider offers.
    pub async fn provider_models(&self, name: &str) -> Result<Vec<RemoteModel>, CoreError> {
        Ok(self.provider(name)?.list_models().await?)
    }

    /// Whether the offline switch is on.
    pub fn offline(&self) -> bool {
        self.cloud.offline.load(Ordering::SeqCst) || self.config().is_offline()
    }

    /// Turns the offline switch on or off (kept across restarts). While it is
    /// on, Hearth opens no connection at all.
    pub fn set_offline(&self, offline: bool) -> Result<(), CoreError> {
        let marker = self.config().offline_marker();
        let written = if offline {
            std::fs::write(
                &marker,
                b"Hearth's offline switch is on while this file exists.\n",
            )
        } else {
            match std::fs::remove_file(&marker) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        written.map_err(|source| CoreError::Io {
            path: marker.display().to_string(),
            source,
        })?;
        self.cloud.offline.store(offline, Ordering::SeqCst);
        tracing::info!(offline, "offline switch");
        Ok(())
    }

    /// The newest `limit` entries of the network ledger, newest first.
    pub fn network_log(&self, limit: usize) -> Result<Vec<NetworkRecord>, CoreError> {
        Ok(self.store().network_log(limit)?)
    }

    /// How a cloud backend is doing, for the router.
    pub(crate) fn cloud_health(&self, id: &BackendId) -> CloudHealth {
        if self.offline() {
            return CloudHealth::Offline;
        }
        match self.provider(&id.provider) {
            Ok(provider) => match provider.breaker() {
                BreakerState::Open { .. } => CloudHealth::BreakerOpen,
                _ => CloudHealth::Ready,
            },
            Err(CoreError::UnknownProvider(_)) => CloudHealth::Unknown,
            // Set up, but its key cannot be read now (a locked keychain, an
            // unset variable): not the router's call. The turn asks for the
            // provider again and says exactly why it cannot.
            Err(err) => {
                tracing::debug!(provider = %id.provider, error = %err, "provider not usable now");
                CloudHealth::Ready
            }
        }
    }

    fn provider_entries(&self) -> Result<Vec<ProviderEntry>, CoreError> {
        match self.store().setting(PROVIDERS_SETTING)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                CoreError::Invalid(format!("the saved provider list is damaged: {e}"))
            }),
            None => Ok(Vec::new()),
        }
    }

    fn save_provider_entries(&self, entries: &[ProviderEntry]) -> Result<(), CoreError> {
        let json = serde_json::to_string(entries)
            .map_err(|e| CoreError::Invalid(format!("cannot save the provider list: {e}")))?;
        self.store().set_setting(PROVIDERS_SETTING, &json)?;
        Ok(())
    }

    /// Providers that exist for this session because a provider kind's key is
    /// in the environment (`OPENAI_API_KEY`, …) and no provider of the kind's
    /// name is set up.
    fn session_providers(&self, configured: &[ProviderEntry]) -> Vec<ProviderEntry> {
        ProviderKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let var = provider_key_var(kind)?;
                self.config().env_secrets.get(var)?;
                let name = kind.as_str();
                (!configured.iter().any(|e| e.name == name)).then(|| ProviderEntry {
                    name: name.to_owned(),
                    kind,
                    base_url: None,
                    key: StoredKey::Environment {
                        var: var.to_owned(),
                    },
                    allow_http: false,
                    context_window: None,
                })
            })
            .collect()
    }

    /// Where an entry's key is and its mask, without asking the keychain
    /// (except for an entry saved before Hearth recorded the place).
    fn describe_key(
        &self,
        entry: &ProviderEntry,
    ) -> Result<(KeySource, Option<String>), CoreError> {
        Ok(match &entry.key {
            StoredKey::None => (KeySource::None, None),
            StoredKey::Keychain { mask } => (KeySource::Keychain, Some(mask.clone())),
            StoredKey::Database { mask } => (KeySource::Database, Some(mask.clone())),
            StoredKey::Environment { var } => (
                KeySource::Environment { var: var.clone() },
                self.config().env_secrets.get(var).map(|k| mask(&k)),
            ),
            StoredKey::Unrecorded => match self.entry_key(entry) {
                Ok(key) => (
                    if key.is_some() {
                        KeySource::Keychain
                    } else {
                        KeySource::None
                    },
                    key.map(|k| mask(&k)),
                ),
                // Listing goes on without the mask; using it will say why.
                Err(err) => {
                    tracing::debug!(provider = %entry.name, error = %err, "cannot read an old key");
                    (KeySource::Keychain, None)
                }
            },
        })
    }

    /// An entry's key, from wherever it is.
    fn entry_key(&self, entry: &ProviderEntry) -> Result<Option<SecretString>, CoreError> {
        let name = provider_key(&entry.name);
        match &entry.key {
            StoredKey::None => Ok(None),
            StoredKey::Environment { var } => {
                self.config().env_secrets.get(var).map(Some).ok_or_else(|| {
                    CoreError::Invalid(format!(
                        "the key of {} comes from {var}, which is not set in this session",
                        entry.name
                    ))
                })
            }
            StoredKey::Database { .. } => {
                let key = self.store().secret(&name)?;
                key.map(Some).ok_or_else(|| lost_key(&entry.name))
            }
            StoredKey::Keychain { .. } => {
                let key = self.vault.get_in(
                    &name,
                    SecretStorage::Keychain,
                    "the provider's key is kept there",
                )?;
                key.map(Some).ok_or_else(|| lost_key(&entry.name))
            }
            StoredKey::Unrecorded => match self.keychain() {
                Some(keychain) => match keychain.get(&name) {
                    Ok(key) => Ok(key),
                    Err(hearth_secrets::SecretError::Unavailable(_)) => Ok(None),
                    Err(err) => Err(keychain_error(err, "the provider's key is kept there")),
                },
                None => Ok(None),
            },
        }
    }

    /// Deletes a key the entry no longer uses, as well as it can: a key left
    /// in a keychain that cannot be reached is only logged.
    fn forget_key(&self, entry: &ProviderEntry) {
        let name = provider_key(&entry.name);
        let outcome = match &entry.key {
            StoredKey::Database { .. } => self
                .store()
                .delete_secret(&name)
                .map(drop)
                .map_err(CoreError::from),
            StoredKey::Keychain { .. } | StoredKey::Unrecorded => match self.keychain() {
                Some(keychain) => keychain.delete(&name).map(drop).map_err(CoreError::from),
                None => Ok(()),
            },
            StoredKey::None | StoredKey::Environment { .. } => Ok(()),
        };
        if let Err(err) = outcome {
            tracing::warn!(provider = %entry.name, error = %err, "could not delete the key it no longer uses");
        }
    }
}

/// Whether two records put the key in the same place (a key re-stored there
/// replaced the old one).
fn same_place(a: &StoredKey, b: &StoredKey) -> bool {
    let in_keychain =
        |k: &StoredKey| matches!(k, StoredKey::Keychain { .. } | StoredKey::Unrecorded);
    (in_keychain(a) && in_keychain(b)) || std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn lost_key(name: &str) -> CoreError {
    CoreError::Invalid(format!(
        "the key of {name} is missing from where it was kept; add the provider again \
         (`hearth provider add`)"
    ))
}

fn validate_name(name: &str) -> Result<(), CoreError> {
    let ok = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name != "local";
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "{name:?} cannot name a provider: use lowercase letters, digits, - and _ \
             (and not \"local\")"
        )))
    }
}
