//! Secrets in memory, for tests and for running without a keychain.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use secrecy::SecretString;

use crate::{SecretError, SecretStore, name};

/// A [`SecretStore`] that forgets everything when dropped.
#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<BTreeMap<String, SecretString>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl SecretStore for MemoryStore {
    fn set(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        name::validate(name)?;
        self.lock().insert(name.to_owned(), value.clone());
        Ok(())
    }

    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        name::validate(name)?;
        Ok(self.lock().get(name).cloned())
    }

    fn delete(&self, name: &str) -> Result<bool, SecretError> {
        name::validate(name)?;
        Ok(self.lock().remove(name).is_some())
    }

    fn names(&self) -> Result<Vec<String>, SecretError> {
        Ok(self.lock().keys().cloned().collect())
    }
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SecretString>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn set_get_delete_list() {
        let store = MemoryStore::default();
        assert!(store.get("a").unwrap().is_none());
        store.set("b", &SecretString::from("2")).unwrap();
        store.set("a", &SecretString::from("1")).unwrap();
        store.set("a", &SecretString::from("one")).unwrap();
        assert_eq!(store.get("a").unwrap().unwrap().expose_secret(), "one");
        assert_eq!(store.names().unwrap(), ["a", "b"]);
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        assert_eq!(store.names().unwrap(), ["b"]);
    }

    #[test]
    fn debug_never_shows_values() {
        let store = MemoryStore::default();
        store
            .set("k", &SecretString::from("planted-secret-42"))
            .unwrap();
        let value = store.get("k").unwrap().unwrap();
        for text in [format!("{store:?}"), format!("{value:?}")] {
            assert!(!text.contains("planted-secret-42"), "{text}");
        }
    }
}
