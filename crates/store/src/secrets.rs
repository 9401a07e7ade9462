//! Secrets kept in the database: API keys and tokens the user chose to store
//! here rather than in the OS keychain. They are as safe as the history
//! itself: SQLCipher encrypts the whole file, and `secure_delete` overwrites a
//! removed value. A plaintext database refuses them.

use rusqlite::{OptionalExtension, params};
use secrecy::{ExposeSecret, SecretString};

use crate::types::now;
use crate::{Store, StoreError};

impl Store {
    /// Whether the database is encrypted (opened with a key).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Stores `value` under `name`, replacing an earlier value.
    pub fn set_secret(&self, name: &str, value: &SecretString) -> Result<(), StoreError> {
        self.check_secret_name(name)?;
        if !self.encrypted {
            return Err(StoreError::NotEncrypted);
        }
        self.conn.execute(
            "INSERT INTO secrets (name, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![name, value.expose_secret(), now()],
        )?;
        Ok(())
    }

    /// The value stored under `name`, if any.
    pub fn secret(&self, name: &str) -> Result<Option<SecretString>, StoreError> {
        self.check_secret_name(name)?;
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM secrets WHERE name = ?1")?
            .query_row([name], |r| r.get::<_, String>(0))
            .optional()?
            .map(SecretString::from))
    }

    /// Deletes `name`; returns whether it existed.
    pub fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        self.check_secret_name(name)?;
        Ok(self
            .conn
            .execute("DELETE FROM secrets WHERE name = ?1", [name])?
            > 0)
    }

    /// The names of the stored secrets, sorted.
    pub fn secret_names(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name FROM secrets ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn check_secret_name(&self, name: &str) -> Result<(), StoreError> {
        if name.is_empty() || name.len() > 128 {
            return Err(StoreError::Invalid(format!(
                "{name:?} cannot name a secret: use 1-128 characters"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DbKey;

    #[test]
    fn set_get_replace_delete_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db"), &DbKey::Raw([7; 32])).unwrap();
        assert!(store.is_encrypted());
        assert!(store.secret("provider.openai").unwrap().is_none());
        store
            .set_secret("provider.openai", &SecretString::from("sk-1"))
            .unwrap();
        store
            .set_secret("provider.openai", &SecretString::from("sk-2"))
            .unwrap();
        store
            .set_secret("huggingface-token", &SecretString::from("hf"))
            .unwrap();
        assert_eq!(
            store
                .secret("provider.openai")
                .unwrap()
                .unwrap()
                .expose_secret(),
            "sk-2"
        );
        assert_eq!(
            store.secret_names().unwrap(),
            ["huggingface-token", "provider.openai"]
        );
        assert!(store.delete_secret("provider.openai").unwrap());
        assert!(!store.delete_secret("provider.openai").unwrap());
        assert_eq!(store.secret_names().unwrap(), ["huggingface-token"]);
        assert!(store.set_secret("", &SecretString::from("x")).is_err());
    }

    #[test]
    fn a_plaintext_database_holds_no_secrets() {
        let store = Store::open_in_memory().unwrap();
        assert!(!store.is_encrypted());
        let err = store
            .set_secret("provider.openai", &SecretString::from("sk-1"))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotEncrypted), "{err}");
        assert!(store.secret_names().unwrap().is_empty());
    }
}
