//! Where Hearth keeps its data and which endpoints it talks to.
//!
//! This is the only place that reads the process environment. Libraries below
//! core get every directory, endpoint and credential injected.

use std::path::{Path, PathBuf};

use hearth_secrets::SecretString;

/// Environment variables Hearth reads, each documented once.
pub mod env {
    /// Data directory (database, models, downloads). Defaults to the platform
    /// data directory, e.g. `~/.local/share/hearth` on Linux.
    pub const HOME: &str = "HEARTH_HOME";
    /// Passphrase for the encrypted database when no OS keychain is available.
    pub const DB_PASSPHRASE: &str = "HEARTH_DB_PASSPHRASE";
    /// Default model (library id or path to a `.gguf`) for `hearth chat`/`run`.
    pub const MODEL: &str = "HEARTH_MODEL";
    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `hearth=debug`.
    pub const LOG: &str = "HEARTH_LOG";
    /// Hugging Face endpoint (same variable as the official Hub clients).
    pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
}

/// The real Hugging Face Hub.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// Errors finding Hearth's directories.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot find a home directory for Hearth's data; set {} to a directory",
        env::HOME
    )]
    NoHome,
}

/// Paths and endpoints for one Hearth instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Root of everything Hearth writes.
    pub home: PathBuf,
    /// Hugging Face endpoint for search and downloads.
    pub hf_endpoint: String,
    /// Passphrase for the database when the keychain is unavailable.
    pub db_passphrase: Option<SecretString>,
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let home = match non_empty_var(env::HOME) {
            Some(dir) => PathBuf::from(dir),
            None => directories::ProjectDirs::from("", "", "hearth")
                .map(|dirs| dirs.data_dir().to_path_buf())
                .ok_or(ConfigError::NoHome)?,
        };
        let hf_endpoint =
            non_empty_var(env::HF_ENDPOINT).unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_owned());
        Ok(Self {
            home,
            hf_endpoint,
            db_passphrase: non_empty_var(env::DB_PASSPHRASE).map(SecretString::from),
        })
    }

    /// A configuration rooted at `home`, with default endpoints (for tests and
    /// embedding).
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            hf_endpoint: DEFAULT_HF_ENDPOINT.to_owned(),
            db_passphrase: None,
        }
    }

    /// The chat history database.
    pub fn db_path(&self) -> PathBuf {
        self.home.join("hearth.db")
    }

    /// Models Hearth downloaded or copied in, plus the library manifest.
    pub fn models_dir(&self) -> PathBuf {
        self.home.join("models")
    }

    /// The root directory.
    pub fn home(&self) -> &Path {
        &self.home
    }
}

/// The default model named by the environment, if any.
pub fn default_model_from_env() -> Option<String> {
    non_empty_var(env::MODEL)
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_live_under_home() {
        let config = Config::with_home("/data/hearth");
        assert_eq!(config.db_path(), PathBuf::from("/data/hearth/hearth.db"));
        assert_eq!(config.models_dir(), PathBuf::from("/data/hearth/models"));
    }
}
