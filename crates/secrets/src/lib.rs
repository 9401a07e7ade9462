//! hearth-secrets: API keys, tokens and the database key, kept in the OS keychain.
//!
//! - [`SecretStore`] is the trait the rest of Hearth uses: set, get, delete and
//!   list the names of secrets.
//! - [`KeyringStore`] keeps them in the OS keychain (Secret Service on Linux,
//!   Keychain on macOS, Credential Manager on Windows). Making one touches
//!   nothing; each call waits a bounded time, so a locked keychain that prompts
//!   and waits can never hang the caller.
//! - [`MemoryStore`] keeps them in memory, for tests.
//!
//! Values are [`SecretString`]s: their `Debug` prints `[REDACTED]`, they have no
//! `Display`, and no error of this crate carries one.
//!
//! ```
//! use hearth_secrets::{MemoryStore, SecretStore, SecretString, ExposeSecret};
//!
//! let store = MemoryStore::default();
//! store.set("provider.openai", &SecretString::from("sk-test"))?;
//! let key = store.get("provider.openai")?.unwrap();
//! assert_eq!(key.expose_secret(), "sk-test");
//! assert_eq!(store.names()?, ["provider.openai"]);
//! # Ok::<(), hearth_secrets::SecretError>(())
//! ```

mod keyring_store;
mod memory;
mod name;

pub use keyring_store::{DEFAULT_TIMEOUT as KEYCHAIN_TIMEOUT, KeyringStore};
pub use memory::MemoryStore;
pub use name::{
    DATABASE_KEY, HF_TOKEN, PROXY_PASSWORD, mask, provider_key, validate as validate_name,
};
pub use secrecy::{ExposeSecret, SecretString};

/// A place to keep secrets by name.
///
/// Names are short ASCII identifiers (`[A-Za-z0-9._:-]`, at most 128 bytes), for
/// example [`DATABASE_KEY`] or `provider.openai`. They are not secret; values are.
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name`, replacing any earlier value.
    fn set(&self, name: &str, value: &SecretString) -> Result<(), SecretError>;
    /// The value stored under `name`, if any.
    fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError>;
    /// Deletes `name`; returns whether it existed.
    fn delete(&self, name: &str) -> Result<bool, SecretError>;
    /// The names of all stored secrets, sorted.
    fn names(&self) -> Result<Vec<String>, SecretError>;
}

/// Why a secret could not be stored or read. Never contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// There is no usable keychain (no session bus, or no Secret Service on it).
    #[error("no OS keychain is available: {0}")]
    Unavailable(String),
    /// The keychain is locked: unlocking was cancelled, could not be asked
    /// for (no display for the prompt), or did not happen in time.
    #[error("the OS keychain is locked: {0}")]
    Locked(String),
    /// The keychain answered with an error.
    #[error("the OS keychain failed: {0}")]
    Keychain(String),
    /// The stored value could not be read back as text.
    #[error("the keychain entry {0:?} does not hold text")]
    NotText(String),
    /// A name outside the allowed alphabet or length.
    #[error("invalid secret name {0:?}: use 1-128 characters from A-Z a-z 0-9 . _ : -")]
    InvalidName(String),
}
