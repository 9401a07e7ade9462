//! Opening the database: the key, the schema version, the pragmas, and turning
//! a plaintext database into an encrypted one.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use zeroize::{Zeroize, Zeroizing};

use crate::migrations::{self, MIGRATIONS};
use crate::{Store, StoreError};

/// How the database is encrypted. The key material is wiped from memory when
/// the value is dropped.
pub enum DbKey {
    /// Not encrypted (tests, and reading an old database to encrypt it).
    Plaintext,
    /// A random 256-bit key, used as is (no key derivation needed).
    Raw([u8; 32]),
    /// A passphrase, stretched by SQLCipher's key derivation.
    Passphrase(String),
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plaintext => "DbKey::Plaintext",
            Self::Raw(_) => "DbKey::Raw([REDACTED])",
            Self::Passphrase(_) => "DbKey::Passphrase([REDACTED])",
        })
    }
}

impl Drop for DbKey {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl DbKey {
    /// Overwrites the key material with zeros (what dropping does).
    fn wipe(&mut self) {
        match self {
            Self::Plaintext => {}
            Self::Raw(bytes) => bytes.zeroize(),
            Self::Passphrase(passphrase) => passphrase.zeroize(),
        }
    }

    /// The value of `PRAGMA key` (SQLCipher's `x'…'` form for raw keys),
    /// wiped when dropped like the key itself.
    fn pragma_value(&self) -> Option<Zeroizing<String>> {
        match self {
            Self::Plaintext => None,
            Self::Raw(bytes) => {
                let mut value = Zeroizing::new(String::with_capacity(67));
                value.push_str("x'");
                for b in bytes {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    value.push(char::from(HEX[usize::from(b >> 4)]));
                    value.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                value.push('\'');
                Some(value)
            }
            Self::Passphrase(passphrase) => Some(Zeroizing::new(passphrase.clone())),
        }
    }
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Opens a connection once SQLCipher has finished setting itself up.
///
/// SQLite runs SQLCipher's process set-up at the end of the first
/// `sqlite3_initialize`, after it has marked itself initialised. A second
/// thread opening a connection in that window skips the set-up, and its
/// `PRAGMA key` then fails with SQLCipher's "PRAGMA key requires a key of one
/// or more characters". So the first connection of the process is opened (and
/// dropped) by one thread while the others wait.
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    static SET_UP: std::sync::Once = std::sync::Once::new();
    SET_UP.call_once(|| match Connection::open_in_memory() {
        // SQLCipher logs failed decryption to stderr itself (the setting is
        // process-wide); a wrong key is reported as `CannotUnlock` instead.
        Ok(conn) => {
            let _quiet: Result<String, _> =
                conn.pragma_update_and_check(None, "cipher_log_level", "NONE", |r| r.get(0));
        }
        Err(err) => tracing::warn!(%err, "SQLite could not be set up"),
    });
    Ok(Connection::open_with_flags(path, flags)?)
}

impl Store {
    /// Opens (or creates) the database at `path` with `key`.
    ///
    /// The key is checked by reading before anything is written, so a wrong key
    /// or a database from a newer Hearth leaves the file exactly as it was.
    pub fn open(path: &Path, key: &DbKey) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::init(conn, key)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(
            connect(Path::new(":memory:"), OpenFlags::default())?,
            &DbKey::Plaintext,
        )
    }

    fn init(conn: Connection, key: &DbKey) -> Result<Self, StoreError> {
        // The first read proves the key; nothing has been written yet.
        let readable: Result<i64, _> = {
            if let Some(value) = key.pragma_value() {
                conn.pragma_update(None, "key", value.as_str())?;
            }
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        };
        if let Err(err) = readable {
            return Err(match err.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => StoreError::CannotUnlock,
                _ => err.into(),
            });
        }
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > migrations::latest() {
            return Err(StoreError::NewerSchema {
                found,
                supported: migrations::latest(),
            });
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Deleted text is overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", true)?;
        // WAL: readers never block the writer, and a killed process loses at most
        // the transaction it was in. NORMAL skips the fsync per commit; after a
        // power cut the last commits may be lost but the file stays consistent.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let store = Self {
            conn,
            encrypted: key.pragma_value().is_some(),
        };
        store.migrate(found)?;
        Ok(store)
    }

    fn migrate(&self, from: u32) -> Result<(), StoreError> {
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
            tracing::info!(version = version + 1, "chat history schema migrated");
        }
        Ok(())
    }

    /// Migrates up to `version` only (tests of each migration).
    #[doc(hidden)]
    pub fn open_at_version(path: &Path, key: &DbKey, version: u32) -> Result<Self, StoreError> {
        let conn = connect(path, OpenFlags::default())?;
        if let Some(value) = key.pragma_value() {
            conn.pragma_update(None, "key", value.as_str())?;
        }
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (v, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
            .take(version.saturating_sub(found) as usize)
        {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", v + 1)?;
        }
        Ok(Self {
            conn,
            encrypted: key.pragma_value().is_some(),
        })
    }

    /// Pretends the file was written by another schema version (tests only).
    #[doc(hidden)]
    pub fn set_schema_version_for_tests(&self, version: u32) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "user_version", version)?;
        Ok(())
    }

    /// Runs SQL as it is (tests only: writing rows as an older schema had them).
    #[doc(hidden)]
    pub fn execute_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Whether the file at `path` is an unencrypted SQLite database (an empty
    /// file counts; a missing one does not).
    pub fn is_plaintext(path: &Path) -> Result<bool, StoreError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let mut header = [0u8; 16];
        let mut read = 0;
        while read < header.len() {
            match file.read(&mut header[read..])? {
                0 => break,
                n => read += n,
            }
        }
        Ok(read == 0 || (read == header.len() && &header == SQLITE_HEADER))
    }

    /// Encrypts the plaintext database at `path` with `key`, in place.
    ///
    /// The encrypted copy is written next to it, synced, and renamed over the
    /// original only when complete: a crash midway leaves the plaintext file as
    /// it was (and a stray `.encrypting` file that the next attempt replaces).
    pub fn encrypt_plaintext(path: &Path, key: &DbKey) -> Result<(), StoreError> {
        let Some(value) = key.pragma_value() else {
            return Err(StoreError::Invalid("encrypting needs a key".into()));
        };
        if !Self::is_plaintext(path)? {
            return Err(StoreError::Invalid(format!(
                "{} is not a plaintext database",
                path.display()
            )));
        }
        let target = sidecar(path, ".encrypting");
        match std::fs::remove_file(&target) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
        {
            let plain = connect(path, OpenFlags::default())?;
            let version: u32 = plain.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > migrations::latest() {
                return Err(StoreError::NewerSchema {
                    found: version,
                    supported: migrations::latest(),
                });
            }
            // Fold the write-ahead log into the file and stop using one, so no
            // plaintext sidecar outlives the conversion.
            plain.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            let _mode: String =
                plain.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
            let target_text = target.to_string_lossy().into_owned();
            plain.execute(
                "ATTACH DATABASE ?1 AS encrypted KEY ?2",
                rusqlite::params![target_text, value.as_str()],
            )?;
            plain.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
            plain.pragma_update(Some("encrypted"), "user_version", version)?;
            plain.execute("DETACH DATABASE encrypted", [])?;
        }
        File::open(&target)?.sync_all()?;
        std::fs::rename(&target, path)?;
        for suffix in ["-wal", "-shm"] {
            match std::fs::remove_file(sidecar(path, suffix)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
                _ => {}
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable.
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// `PRAGMA integrity_check` and a foreign key check.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let result: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if result != "ok" {
            return Err(StoreError::Corrupt(result));
        }
        let broken: i64 =
            self.conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })?;
        if broken > 0 {
            return Err(StoreError::Corrupt(format!("{broken} broken references")));
        }
        Ok(())
    }

    /// Writes the write-ahead log into the main file (tests look at the file).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::DbKey;

    /// Issue 19: the database key is wiped when dropped.
    #[test]
    fn the_key_is_wiped() {
        let mut raw = DbKey::Raw([0xab; 32]);
        raw.wipe();
        assert!(matches!(raw, DbKey::Raw(bytes) if bytes == [0; 32]));
        let mut passphrase = DbKey::Passphrase("correct horse".into());
        passphrase.wipe();
        assert!(matches!(&passphrase, DbKey::Passphrase(p) if p.is_empty()));
    }

    #[test]
    fn raw_keys_are_given_to_sqlcipher_in_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        let value = DbKey::Raw(bytes).pragma_value().unwrap();
        assert_eq!(
            value.as_str(),
            format!("x'ab{}01'", "00".repeat(30)).as_str()
        );
        assert!(DbKey::Plaintext.pragma_value().is_none());
    }
}
