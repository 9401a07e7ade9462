//! Secrets in the OS keychain through the `keyring` crate.
//!
//! Keychains cannot list their entries portably, so the store keeps the list of
//! names (not values) in one extra entry of its own, [`INDEX`].

use std::collections::BTreeSet;

use keyring::{Entry, Error as KeyringError};
use secrecy::{ExposeSecret, SecretString};

use crate::{SecretError, SecretStore, name};

/// The entry that lists the names of the other entries (JSON array of strings).
const INDEX: &str = "__hearth_names__";

/// A [`SecretStore`] in the OS keychain, under one service name.
#[derive(Debug)]
pub struct KeyringStore {
    service: String,
}

impl KeyringStore {
    /// Opens the keychain under `service` (Hearth uses `"hearth"`), checking that
    /// it can be read. Fails with [`SecretError::Unavailable`] when there is no
    /// keychain, e.g. on a headless Linux machine without a Secret Service.
    pub fn open(service: &str) -> Result<Self, SecretError> {
        if let Err(err) = Entry::store_status() {
            return Err(SecretError::Unavailable(err.to_string()));
        }
        let store = Self {
            service: service.to_owned(),
        };
        // A read proves the keychain is reachable and unlocked.
        store.read(INDEX).map_err(|err| match err {
            SecretError::Keychain(why) => SecretError::Unavailable(why),
            other => other,
        })?;
        Ok(store)
    }

    fn entry(&self, name: &str) -> Result<Entry, SecretError> {
        Entry::new(&self.service, name).map_err(|err| classify(name, err))
    }

    fn read(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        match self.entry(name)?.get_password() {
            Ok(value) => Ok(Some(SecretString::from(value))),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(err) => Err(classify(name, err)),
        }
    }

    fn index(&self) -> Result<BTreeSet<String>, SecretError> {
        let Some(raw) = self.read(INDEX)? else {
            return Ok(BTreeSet::new());
        };
        // A damaged index only loses the listing, never a secret: start afresh.
        Ok(serde_json::from_str(raw.expose_secret()).unwrap_or_else(|err| {
            tracing::warn!(%err, "the keychain's list of Hearth secrets is unreadable; rebuilding it");
            BTreeSet::new()
        }))
    }

    fn write_index(&self, names: &BTreeSet<String>) -> Result<(), SecretError> {
        let json = serde_json::to_string(names).unwrap_or_else(|_| "[]".to_owned());
        self.entry(INDEX)?
            .set_password(&json)
            .map_err(|err| classify(INDEX, err))
    }
}

impl SecretStore for KeyringStore {
    fn set(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        checked(name)?;
        self.entry(name)?
            .set_password(value.expose_secret())
            .map_err(|err| classify(name, err))?;
        let mut names = self.index()?;
        if names.insert(name.to_owned()) {
            self.write_index(&names)?;
        }
        tracing::debug!(name, "secret stored in the keychain");
        Ok(())
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        checked(name)?;
        self.read(name)
    }

    fn delete(&self, name: &str) -> Result<bool, SecretError> {
        checked(name)?;
        let existed = match self.entry(name)?.delete_credential() {
            Ok(()) => true,
            Err(KeyringError::NoEntry) => false,
            Err(err) => return Err(classify(name, err)),
        };
        let mut names = self.index()?;
        if names.remove(name) {
            self.write_index(&names)?;
        }
        Ok(existed)
    }

    fn names(&self) -> Result<Vec<String>, SecretError> {
        Ok(self.index()?.into_iter().collect())
    }
}

fn checked(name: &str) -> Result<(), SecretError> {
    name::validate(name)?;
    if name == INDEX {
        return Err(SecretError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// Turns a keyring error into ours. The variants that carry stored bytes are
/// mapped by hand so that no value can reach a message.
fn classify(name: &str, err: KeyringError) -> SecretError {
    match err {
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => {
            SecretError::NotText(name.to_owned())
        }
        KeyringError::NoStorageAccess(why) => SecretError::Unavailable(why.to_string()),
        KeyringError::NoDefaultStore => SecretError::Unavailable(err.to_string()),
        KeyringError::PlatformFailure(why) => SecretError::Keychain(why.to_string()),
        other => SecretError::Keychain(other.to_string()),
    }
}
