//! Secrets in the OS keychain through the `keyring` crate.
//!
//! Keychains cannot list their entries portably, so the store keeps the list of
//! names (not values) in one extra entry of its own, [`INDEX`].
//!
//! Making a [`KeyringStore`] touches nothing: the keychain is first asked when
//! a secret is read or written. Each call waits at most [`KeyringStore::timeout`]:
//! a locked Secret Service may show an unlock prompt and wait for the user
//! indefinitely, and a session bus may never answer, so every call runs on a
//! helper thread and the caller gives up after the timeout with
//! [`SecretError::Locked`]. (The `keyring` crate offers no timeout of its own.)
//! A call given up on keeps its thread until the keychain answers; its result
//! is dropped, and the next call asks again.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use keyring::{Entry, Error as KeyringError};
use secrecy::{ExposeSecret, SecretString};

use crate::{SecretError, SecretStore, name};

/// The entry that lists the names of the other entries (JSON array of strings).
const INDEX: &str = "__hearth_names__";

/// How long a keychain call may take before it is given up on: long enough to
/// type a password into an unlock prompt, short enough that nothing seems hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`SecretStore`] in the OS keychain, under one service name.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    service: String,
    timeout: Duration,
}

impl KeyringStore {
    /// The keychain under `service` (Hearth uses `"hearth"`). Touches nothing:
    /// whether there is a usable keychain shows at the first call.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same store, giving up on a call after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// [`KeyringStore::new`], then a read to prove the keychain is there and
    /// unlocked. Fails with [`SecretError::Unavailable`] when there is no
    /// keychain (e.g. on a headless Linux machine without a Secret Service) and
    /// [`SecretError::Locked`] when it is locked.
    pub fn open(service: &str) -> Result<Self, SecretError> {
        let store = Self::new(service);
        store.names()?;
        Ok(store)
    }

    /// Runs `call` against the keychain on a helper thread, waiting at most
    /// the timeout.
    fn bounded<T: Send + 'static>(
        &self,
        call: impl FnOnce(&str) -> Result<T, SecretError> + Send + 'static,
    ) -> Result<T, SecretError> {
        let service = self.service.clone();
        with_deadline(self.timeout, move || match Entry::store_status() {
            Ok(()) => call(&service),
            Err(err) => Err(SecretError::Unavailable(err.to_string())),
        })
    }
}

/// Runs `call` on a thread of its own and waits for it at most `timeout`;
/// a call still running then is left to finish on its own, and the caller
/// gets [`SecretError::Locked`].
fn with_deadline<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("hearth-keychain".into())
        .spawn(move || {
            // The caller may have given up and dropped the receiver.
            let _ = tx.send(call());
        });
    if let Err(err) = spawned {
        return Err(SecretError::Keychain(format!(
            "cannot start a thread to reach it: {err}"
        )));
    }
    match rx.recv_timeout(timeout) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "the OS keychain did not answer in time"
            );
            Err(SecretError::Locked(format!(
                "it did not answer within {} s (it may be waiting for you to unlock it)",
                timeout.as_secs()
            )))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(SecretError::Keychain(
            "the call to it stopped without an answer".into(),
        )),
    }
}

fn read(service: &str, name: &str) -> Result<Option<SecretString>, SecretError> {
    match entry(service, name)?.get_password() {
        Ok(value) => Ok(Some(SecretString::from(value))),
        Err(KeyringError::NoEntry) => Ok(None),
        Err(err) => Err(classify(name, err)),
    }
}

fn entry(service: &str, name: &str) -> Result<Entry, SecretError> {
    Entry::new(service, name).map_err(|err| classify(name, err))
}

fn index(service: &str) -> Result<BTreeSet<String>, SecretError> {
    let Some(raw) = read(service, INDEX)? else {
        return Ok(BTreeSet::new());
    };
    // A damaged index only loses the listing, never a secret: start afresh.
    Ok(serde_json::from_str(raw.expose_secret()).unwrap_or_else(|err| {
        tracing::warn!(%err, "the keychain's list of Hearth secrets is unreadable; rebuilding it");
        BTreeSet::new()
    }))
}

fn write_index(service: &str, names: &BTreeSet<String>) -> Result<(), SecretError> {
    let json = serde_json::to_string(names).unwrap_or_else(|_| "[]".to_owned());
    entry(service, INDEX)?
        .set_password(&json)
        .map_err(|err| classify(INDEX, err))
}

impl SecretStore for KeyringStore {
    fn set(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        checked(name)?;
        let (name, value) = (name.to_owned(), value.clone());
        self.bounded(move |service| {
            entry(service, &name)?
                .set_password(value.expose_secret())
                .map_err(|err| classify(&name, err))?;
            let mut names = index(service)?;
            if names.insert(name.clone()) {
                write_index(service, &names)?;
            }
            tracing::debug!(name, "secret stored in the keychain");
            Ok(())
        })
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        checked(name)?;
        let name = name.to_owned();
        self.bounded(move |service| read(service, &name))
    }

    fn delete(&self, name: &str) -> Result<bool, SecretError> {
        checked(name)?;
        let name = name.to_owned();
        self.bounded(move |service| {
            let existed = match entry(service, &name)?.delete_credential() {
                Ok(()) => true,
                Err(KeyringError::NoEntry) => false,
                Err(err) => return Err(classify(&name, err)),
            };
            let mut names = index(service)?;
            if names.remove(&name) {
                write_index(service, &names)?;
            }
            Ok(existed)
        })
    }

    fn names(&self) -> Result<Vec<String>, SecretError> {
        self.bounded(|service| Ok(index(service)?.into_iter().collect()))
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
        // The Secret Service says this for a locked collection, an unlock
        // prompt the user cancelled, or one that could not be shown.
        KeyringError::NoStorageAccess(why) => SecretError::Locked(why.to_string()),
        KeyringError::NoDefaultStore => SecretError::Unavailable(err.to_string()),
        KeyringError::PlatformFailure(why) => SecretError::Keychain(why.to_string()),
        other => SecretError::Keychain(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keychain_that_never_answers_is_given_up_on_as_locked() {
        // A call blocked for good, as on an unlock prompt nobody answers.
        let (_keep, blocked) = mpsc::channel::<()>();
        let outcome: Result<(), SecretError> =
            with_deadline(Duration::from_millis(50), move || {
                let _ = blocked.recv();
                Ok(())
            });
        assert!(
            matches!(outcome, Err(SecretError::Locked(_))),
            "{outcome:?}"
        );
        assert_eq!(with_deadline(Duration::from_secs(60), || Ok(7)).unwrap(), 7);
    }
}
