//! Cloud providers as Hearth keeps them: their settings in the database, their
//! keys in the OS keychain, one live [`Provider`] each (so its circuit breaker
//! lasts; built with the network settings of `network.rs`), the network
//! ledger every connection is written to (with the proxy it went through),
//! and the offline switch that stops all of them.

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

use crate::router::CloudHealth;
use crate::{App, CoreError};

/// The setting holding the configured providers (JSON, no keys).
const PROVIDERS_SETTING: &str = "providers";

/// A configured provider as stored (its key is in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderEntry {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    /// The user allowed its key over plain `http://` to another machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
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
    /// The key, masked (`sk-…1234`), when one is stored.
    pub key: Option<String>,
    pub breaker: BreakerState,
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
    /// The configured providers, with masked keys and breaker states.
    pub fn providers(&self) -> Result<Vec<ProviderInfo>, CoreError> {
        let entries = self.provider_entries()?;
        let live = self.cloud.live();
        entries
            .into_iter()
            .map(|entry| {
                let key = self.provider_key(&entry.name)?.map(|k| mask(&k));
                Ok(ProviderInfo {
                    base_url: entry
                        .base_url
                        .as_deref()
                        .or_else(|| entry.kind.default_base_url())
                        .map(hearth_net::redact)
                        .unwrap_or_default(),
                    allow_http: entry.allow_http,
                    breaker: live
                        .get(&entry.name)
                        .map_or(BreakerState::Closed { failures: 0 }, |p| p.breaker()),
                    key,
                    name: entry.name,
                    kind: entry.kind,
                })
            })
            .collect()
    }

    /// Adds (or replaces) a provider. The key goes to the OS keychain; the
    /// rest to the database. A key is never sent over plain `http://` to
    /// another machine: see [`App::add_provider_with`].
    pub fn add_provider(
        &self,
        name: &str,
        kind: ProviderKind,
        base_url: Option<String>,
        key: Option<SecretString>,
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
        key: Option<SecretString>,
        allow_http: bool,
    ) -> Result<ProviderInfo, CoreError> {
        validate_name(name)?;
        let base_url = base_url.map(|u| u.trim().trim_end_matches('/').to_owned());
        // Checks the combination (a compat server needs a URL, the others a key).
        let key = match key {
            Some(key) => Some(key),
            None => self.provider_key(name)?,
        };
        let config = ProviderConfig {
            name: name.to_owned(),
            kind,
            base_url: base_url.clone(),
            api_key: key.clone(),
            allow_http,
        };
        // Building one opens no connection; it only checks the settings.
        Provider::new(config, HttpPolicy::default(), Network::default())
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        if let Some(key) = &key {
            let secrets = self.secrets().ok_or(CoreError::NoKeychain)?;
            secrets.set(&provider_key(name), key)?;
        }
        let mut entries = self.provider_entries()?;
        entries.retain(|e| e.name != name);
        entries.push(ProviderEntry {
            name: name.to_owned(),
            kind,
            base_url,
            allow_http,
        });
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        self.save_provider_entries(&entries)?;
        self.cloud.live().remove(name);
        self.providers()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| CoreError::UnknownProvider(name.to_owned()))
    }

    /// Removes a provider and its key; returns whether it existed.
    pub fn remove_provider(&self, name: &str) -> Result<bool, CoreError> {
        let mut entries = self.provider_entries()?;
        let before = entries.len();
        entries.retain(|e| e.name != name);
        if let Some(secrets) = self.secrets() {
            secrets.delete(&provider_key(name))?;
        }
        self.cloud.live().remove(name);
        if entries.len() == before {
            return Ok(false);
        }
        self.save_provider_entries(&entries)?;
        Ok(true)
    }

    /// The live provider called `name`.
    pub fn provider(&self, name: &str) -> Result<Arc<Provider>, CoreError> {
        if let Some(provider) = self.cloud.live().get(name) {
            return Ok(provider.clone());
        }
        let entry = self
            .provider_entries()?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| CoreError::UnknownProvider(name.to_owned()))?;
        let config = ProviderConfig {
            name: entry.name.clone(),
            kind: entry.kind,
            base_url: entry.base_url,
            api_key: self.provider_key(name)?,
            allow_http: entry.allow_http,
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
            Err(_) => CloudHealth::Unknown,
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

    fn provider_key(&self, name: &str) -> Result<Option<SecretString>, CoreError> {
        match self.secrets() {
            Some(secrets) => Ok(secrets.get(&provider_key(name))?),
            None => Ok(None),
        }
    }
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
