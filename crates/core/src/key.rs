//! The key of the chat history database: where it comes from.
//!
//! 1. A passphrase, when the user gave one (`HEARTH_DB_PASSPHRASE` or a prompt):
//!    then the keychain is not touched at all.
//! 2. Otherwise a random 256-bit key kept in the OS keychain, made on first run.
//! 3. Without a keychain, the caller must ask for a passphrase. A locked
//!    keychain is said as such (the key is there; unlocking it is the fix).
//!
//! The key cannot live in the database it opens, so unlike API keys it has no
//! "keep it in the database" choice.

use std::path::Path;

use hearth_secrets::{DATABASE_KEY, ExposeSecret, SecretError, SecretStore, SecretString};
use hearth_store::DbKey;
use rand::RngCore;

use crate::CoreError;

/// What the keychain holds, as error messages name it.
const WHAT: &str = "the key of your chat history is kept there";

/// Picks the key for the database at `path`.
pub(crate) fn database_key(
    path: &Path,
    passphrase: Option<&SecretString>,
    secrets: Option<&dyn SecretStore>,
) -> Result<DbKey, CoreError> {
    if let Some(passphrase) = passphrase {
        return Ok(DbKey::Passphrase(passphrase.expose_secret().to_owned()));
    }
    let Some(secrets) = secrets else {
        return Err(CoreError::NeedPassphrase);
    };
    if let Some(stored) = secrets.get(DATABASE_KEY).map_err(keychain_error)? {
        return parse_hex(stored.expose_secret())
            .map(DbKey::Raw)
            .ok_or(CoreError::BadKeyInKeychain);
    }
    let encrypted_exists = path.exists() && !hearth_store::Store::is_plaintext(path)?;
    if encrypted_exists {
        return Err(CoreError::KeyNotInKeychain);
    }
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    secrets
        .set(DATABASE_KEY, &SecretString::from(to_hex(&key)))
        .map_err(keychain_error)?;
    tracing::info!("made a new database key and stored it in the OS keychain");
    Ok(DbKey::Raw(key))
}

/// No keychain: a passphrase is the way. Locked: say so.
fn keychain_error(err: SecretError) -> CoreError {
    match err {
        SecretError::Unavailable(why) => {
            tracing::debug!(%why, "no OS keychain for the database key");
            CoreError::NeedPassphrase
        }
        SecretError::Locked(why) => {
            tracing::debug!(%why, "the OS keychain is locked");
            CoreError::KeychainLocked { what: WHAT }
        }
        other => CoreError::Secrets(other),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use hearth_secrets::MemoryStore;

    use super::*;

    #[test]
    fn hex_round_trip() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(parse_hex(&to_hex(&key)), Some(key));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn first_run_makes_a_key_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearth.db");
        let secrets = MemoryStore::default();
        let first = database_key(&path, None, Some(&secrets)).unwrap();
        let second = database_key(&path, None, Some(&secrets)).unwrap();
        let (DbKey::Raw(a), DbKey::Raw(b)) = (&first, &second) else {
            panic!("expected raw keys");
        };
        assert_eq!(a, b);
        assert_ne!(a, &[0; 32]);
    }

    /// A keychain that fails every call the given way, and counts the calls.
    struct Failing(SecretError, std::sync::atomic::AtomicUsize);

    impl SecretStore for Failing {
        fn set(&self, _: &str, _: &SecretString) -> Result<(), SecretError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(clone(&self.0))
        }
        fn get(&self, _: &str) -> Result<Option<SecretString>, SecretError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(clone(&self.0))
        }
        fn delete(&self, _: &str) -> Result<bool, SecretError> {
            Err(clone(&self.0))
        }
        fn names(&self) -> Result<Vec<String>, SecretError> {
            Err(clone(&self.0))
        }
    }

    fn clone(err: &SecretError) -> SecretError {
        match err {
            SecretError::Unavailable(w) => SecretError::Unavailable(w.clone()),
            SecretError::Locked(w) => SecretError::Locked(w.clone()),
            other => SecretError::Keychain(other.to_string()),
        }
    }

    #[test]
    fn a_locked_keychain_is_said_and_a_missing_one_asks_for_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearth.db");
        let locked = Failing(SecretError::Locked("prompt dismissed".into()), 0.into());
        let err = database_key(&path, None, Some(&locked)).unwrap_err();
        assert!(matches!(err, CoreError::KeychainLocked { .. }), "{err}");
        assert!(err.to_string().contains("locked"), "{err}");
        let missing = Failing(SecretError::Unavailable("no bus".into()), 0.into());
        assert!(matches!(
            database_key(&path, None, Some(&missing)),
            Err(CoreError::NeedPassphrase)
        ));
        // With a passphrase the keychain is never asked.
        let pass = SecretString::from("pass");
        database_key(&path, Some(&pass), Some(&locked)).unwrap();
        assert_eq!(locked.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_passphrase_wins_and_no_keychain_asks_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearth.db");
        let pass = SecretString::from("correct horse");
        assert!(matches!(
            database_key(&path, Some(&pass), None),
            Ok(DbKey::Passphrase(ref p)) if p == "correct horse"
        ));
        assert!(matches!(
            database_key(&path, None, None),
            Err(CoreError::NeedPassphrase)
        ));
    }
}
