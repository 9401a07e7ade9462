//! Where Hearth keeps secrets (provider API keys, the Hugging Face token, a
//! proxy password) and where a key in use came from.
//!
//! - The OS keychain, the default.
//! - The encrypted history database, when the user chooses it: a headless
//!   machine, a container or an SSH session has no keychain. The key is then
//!   exactly as safe as the history (SQLCipher encrypts the whole file).
//! - The environment (`OPENAI_API_KEY`, …), for this session only: never
//!   stored anywhere.
//!
//! The user chooses; nothing moves from one place to another on its own. A
//! missing or locked keychain is an error that says what to do, never a
//! silent switch to the database. The database key itself can only be in the
//! keychain (or be a passphrase): see `key.rs`.
//!
//! [`Vault`] is the one [`SecretStore`] the rest of core uses: it reads the
//! database first (free, and never blocks), then the keychain, and writes
//! where the `secrets.storage` setting says.

use std::sync::{Arc, Mutex, PoisonError};

use hearth_secrets::{SecretError, SecretStore, SecretString};
use hearth_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::{App, CoreError};

/// The setting holding where new secrets go by default.
pub(crate) const STORAGE_SETTING: &str = "secrets.storage";

/// Where a secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum SecretStorage {
    /// The OS keychain (Secret Service, Keychain, Credential Manager).
    #[default]
    Keychain,
    /// The encrypted history database.
    Database,
}

impl SecretStorage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keychain => "keychain",
            Self::Database => "database",
        }
    }

    /// How a settings page labels it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Keychain => "OS keychain",
            Self::Database => "encrypted database",
        }
    }
}

impl std::fmt::Display for SecretStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SecretStorage {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "keychain" => Ok(Self::Keychain),
            "database" | "db" => Ok(Self::Database),
            other => Err(CoreError::Invalid(format!(
                "{other:?} is not a place for keys: use keychain or db (the encrypted database)"
            ))),
        }
    }
}

/// Where a key in use comes from, as front ends show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum KeySource {
    /// Stored in the OS keychain.
    Keychain,
    /// Stored in the encrypted database.
    Database,
    /// Read from this environment variable, for this session only.
    Environment { var: String },
    /// No key (a server that needs none).
    None,
}

impl KeySource {
    /// "in the OS keychain", "from OPENAI_API_KEY (this session only)", …
    pub fn describe(&self) -> String {
        match self {
            Self::Keychain => "in the OS keychain".into(),
            Self::Database => "in the encrypted database".into(),
            Self::Environment { var } => format!("from {var} (this session only)"),
            Self::None => "no key".into(),
        }
    }
}

impl From<SecretStorage> for KeySource {
    fn from(storage: SecretStorage) -> Self {
        match storage {
            SecretStorage::Keychain => Self::Keychain,
            SecretStorage::Database => Self::Database,
        }
    }
}

/// The keychain (when there is one) and the database, as one store.
pub(crate) struct Vault {
    keychain: Option<Arc<dyn SecretStore>>,
    store: Arc<Mutex<Store>>,
}

impl Vault {
    pub(crate) fn new(keychain: Option<Arc<dyn SecretStore>>, store: Arc<Mutex<Store>>) -> Self {
        Self { keychain, store }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where new secrets go (the setting; the keychain when unset).
    pub(crate) fn default_storage(&self) -> Result<SecretStorage, CoreError> {
        match self.store().setting(STORAGE_SETTING)? {
            Some(text) => text.parse(),
            None => Ok(SecretStorage::Keychain),
        }
    }

    /// The keychain, or why there is none.
    fn keychain(&self) -> Result<&Arc<dyn SecretStore>, CoreError> {
        self.keychain.as_ref().ok_or(CoreError::NoKeychain)
    }

    /// Stores `value` under `name` in `storage`. A copy left in the database
    /// by an earlier choice is removed when the keychain takes over (the
    /// database is read first, so it would hide the new value); a copy left
    /// in the keychain is left alone, as touching the keychain may not be
    /// possible where the database was chosen.
    pub(crate) fn put(
        &self,
        name: &str,
        value: &SecretString,
        storage: SecretStorage,
    ) -> Result<(), CoreError> {
        hearth_secrets::validate_name(name)?;
        match storage {
            SecretStorage::Database => self.store().set_secret(name, value).map_err(db_error),
            SecretStorage::Keychain => {
                self.keychain()?.set(name, value).map_err(|e| {
                    keychain_error(
                        e,
                        "the key cannot be stored there until then (or keep it in Hearth's \
                         encrypted database: --store db)",
                    )
                })?;
                self.store().delete_secret(name)?;
                Ok(())
            }
        }
    }

    /// The value in `storage` only.
    pub(crate) fn get_in(
        &self,
        name: &str,
        storage: SecretStorage,
        what: &'static str,
    ) -> Result<Option<SecretString>, CoreError> {
        match storage {
            SecretStorage::Database => Ok(self.store().secret(name)?),
            SecretStorage::Keychain => self
                .keychain()?
                .get(name)
                .map_err(|e| keychain_error(e, what)),
        }
    }

    /// The value, from the database, else from the keychain (when there is one).
    pub(crate) fn find(
        &self,
        name: &str,
    ) -> Result<Option<(SecretString, SecretStorage)>, CoreError> {
        if let Some(value) = self.store().secret(name)? {
            return Ok(Some((value, SecretStorage::Database)));
        }
        let Some(keychain) = &self.keychain else {
            return Ok(None);
        };
        match keychain.get(name) {
            Ok(value) => Ok(value.map(|v| (v, SecretStorage::Keychain))),
            // No keychain at all: nothing can be in it.
            Err(SecretError::Unavailable(why)) => {
                tracing::debug!(%why, "no OS keychain to look in");
                Ok(None)
            }
            Err(err) => Err(keychain_error(err, "the key is kept there")),
        }
    }

    /// Deletes `name` from the database and, when there is one, the keychain;
    /// returns whether it was anywhere.
    pub(crate) fn remove(&self, name: &str) -> Result<bool, CoreError> {
        let in_db = self.store().delete_secret(name)?;
        let in_keychain = match &self.keychain {
            Some(keychain) => match keychain.delete(name) {
                Ok(existed) => existed,
                Err(SecretError::Unavailable(_)) => false,
                Err(err) => return Err(keychain_error(err, "the key is kept there")),
            },
            None => false,
        };
        Ok(in_db || in_keychain)
    }
}

/// The vault as a plain [`SecretStore`], for code that only needs one (the
/// Hugging Face token, a proxy password): reads look in the database, then
/// the keychain; writes go where the setting says.
impl SecretStore for Vault {
    fn set(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        let storage = self.default_storage().map_err(to_secret_error)?;
        self.put(name, value, storage).map_err(to_secret_error)
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        Ok(self.find(name).map_err(to_secret_error)?.map(|(v, _)| v))
    }

    fn delete(&self, name: &str) -> Result<bool, SecretError> {
        self.remove(name).map_err(to_secret_error)
    }

    fn names(&self) -> Result<Vec<String>, SecretError> {
        let mut names = self
            .store()
            .secret_names()
            .map_err(|e| SecretError::Keychain(e.to_string()))?;
        if let Some(keychain) = &self.keychain {
            match keychain.names() {
                Ok(more) => names.extend(more),
                Err(SecretError::Unavailable(_)) => {}
                Err(err) => return Err(err),
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// A core error seen through the [`SecretStore`] trait.
fn to_secret_error(err: CoreError) -> SecretError {
    match err {
        CoreError::Secrets(e) => e,
        CoreError::NoKeychain => SecretError::Unavailable("no OS keychain was opened".into()),
        CoreError::KeychainLocked { .. } => SecretError::Locked(err.to_string()),
        other => SecretError::Keychain(other.to_string()),
    }
}

fn db_error(err: StoreError) -> CoreError {
    match err {
        StoreError::NotEncrypted => CoreError::Invalid(
            "this chat history is not encrypted, so keys cannot be kept in it; \
             use the OS keychain"
                .into(),
        ),
        other => other.into(),
    }
}

/// A keychain failure, said as what to do. `what` finishes "the keychain is
/// locked, and …" ("the provider's key is kept there").
pub(crate) fn keychain_error(err: SecretError, what: &'static str) -> CoreError {
    match err {
        SecretError::Unavailable(why) => {
            tracing::debug!(%why, "no OS keychain");
            CoreError::NoKeychain
        }
        SecretError::Locked(why) => {
            tracing::debug!(%why, "the OS keychain is locked");
            CoreError::KeychainLocked { what }
        }
        other => CoreError::Secrets(other),
    }
}

impl App {
    /// Where new keys go unless a call says otherwise (Settings shows it).
    pub fn secret_storage(&self) -> Result<SecretStorage, CoreError> {
        self.vault.default_storage()
    }

    /// Sets where new keys go. Keys already stored stay where they are.
    pub fn set_secret_storage(&self, storage: SecretStorage) -> Result<(), CoreError> {
        if storage == SecretStorage::Database && !self.store().is_encrypted() {
            return Err(db_error(StoreError::NotEncrypted));
        }
        self.store()
            .set_setting(STORAGE_SETTING, storage.as_str())?;
        tracing::info!(%storage, "new keys go here");
        Ok(())
    }

    /// Stores a secret (an HF token, a proxy password) in `storage`, or where
    /// the setting says; returns where it went.
    pub fn store_secret(
        &self,
        name: &str,
        value: &SecretString,
        storage: Option<SecretStorage>,
    ) -> Result<SecretStorage, CoreError> {
        let storage = match storage {
            Some(storage) => storage,
            None => self.secret_storage()?,
        };
        self.vault.put(name, value, storage)?;
        Ok(storage)
    }

    /// A stored secret and where it is: the database first, then the keychain.
    pub fn secret(&self, name: &str) -> Result<Option<(SecretString, SecretStorage)>, CoreError> {
        self.vault.find(name)
    }

    /// Deletes a secret wherever it is; returns whether it existed.
    pub fn delete_secret(&self, name: &str) -> Result<bool, CoreError> {
        self.vault.remove(name)
    }

    /// All of Hearth's secrets as one [`SecretStore`] (reads: the database,
    /// then the keychain; writes: where the setting says).
    pub fn secret_store(&self) -> Arc<dyn SecretStore> {
        self.vault.clone()
    }
}

#[cfg(test)]
mod tests {
    use hearth_secrets::{ExposeSecret, MemoryStore};
    use hearth_store::DbKey;

    use super::*;

    fn vault(keychain: Option<Arc<dyn SecretStore>>) -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), &DbKey::Raw([3; 32])).unwrap();
        (dir, Vault::new(keychain, Arc::new(Mutex::new(store))))
    }

    #[test]
    fn the_database_is_read_first_and_the_keychain_takes_over_when_chosen() {
        let keychain = Arc::new(MemoryStore::default());
        let (_dir, vault) = vault(Some(keychain.clone()));
        vault
            .put(
                "provider.x",
                &SecretString::from("in-db"),
                SecretStorage::Database,
            )
            .unwrap();
        assert!(keychain.get("provider.x").unwrap().is_none());
        let (value, place) = vault.find("provider.x").unwrap().unwrap();
        assert_eq!(
            (value.expose_secret(), place),
            ("in-db", SecretStorage::Database)
        );

        vault
            .put(
                "provider.x",
                &SecretString::from("in-kc"),
                SecretStorage::Keychain,
            )
            .unwrap();
        let (value, place) = vault.find("provider.x").unwrap().unwrap();
        assert_eq!(
            (value.expose_secret(), place),
            ("in-kc", SecretStorage::Keychain)
        );
        assert!(vault.remove("provider.x").unwrap());
        assert!(vault.find("provider.x").unwrap().is_none());
        assert!(!vault.remove("provider.x").unwrap());
    }

    #[test]
    fn without_a_keychain_the_keychain_is_refused_not_replaced() {
        let (_dir, vault) = vault(None);
        let err = vault
            .put(
                "provider.x",
                &SecretString::from("v"),
                SecretStorage::Keychain,
            )
            .unwrap_err();
        assert!(matches!(err, CoreError::NoKeychain), "{err}");
        assert!(err.to_string().contains("--store db"), "{err}");
        // Nothing went to the database instead.
        assert!(vault.find("provider.x").unwrap().is_none());
        // Through the trait, the setting picks the place.
        assert!(SecretStore::set(&vault, "provider.x", &SecretString::from("v")).is_err());
        vault
            .store()
            .set_setting(STORAGE_SETTING, "database")
            .unwrap();
        SecretStore::set(&vault, "provider.x", &SecretString::from("v")).unwrap();
        assert_eq!(SecretStore::names(&vault).unwrap(), ["provider.x"]);
    }

    #[test]
    fn storage_names_parse() {
        assert_eq!(
            "db".parse::<SecretStorage>().unwrap(),
            SecretStorage::Database
        );
        assert_eq!(
            "Keychain".parse::<SecretStorage>().unwrap(),
            SecretStorage::Keychain
        );
        assert!("file".parse::<SecretStorage>().is_err());
    }
}
