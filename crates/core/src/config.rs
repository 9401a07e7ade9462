//! Where Hearth keeps its data, which endpoints it talks to, and how (the
//! proxy and certificate variables).
//!
//! This is the only place that reads the process environment. Libraries below
//! core get every directory, endpoint, proxy and credential injected.

use std::path::{Path, PathBuf};

use hearth_hub::ExternalSources;
use hearth_providers::ProviderKind;
use hearth_secrets::{ExposeSecret, SecretString};

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
    /// Hugging Face token for gated repos when none is in the keychain
    /// (`hearth login` stores one there).
    pub const HF_TOKEN: &str = "HF_TOKEN";
    /// The Hugging Face cache to offer models from (as the official clients
    /// read it); else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub const HF_HUB_CACHE: &str = "HF_HUB_CACHE";
    /// Hugging Face's home folder (its `hub/` is the cache).
    pub const HF_HOME: &str = "HF_HOME";
    /// Ollama's models folder, as Ollama reads it; else `~/.ollama/models`.
    pub const OLLAMA_MODELS: &str = "OLLAMA_MODELS";
    /// Set to `0` to not look for models in other apps' folders.
    pub const EXTERNAL_MODELS: &str = "HEARTH_EXTERNAL_MODELS";
    /// The most memory, in MB, a local model may use (fit estimates and the
    /// router count no more than this as available).
    pub const MEMORY_LIMIT_MB: &str = "HEARTH_MEMORY_LIMIT_MB";
    /// `1` starts Hearth with the offline switch on: no connection of any kind.
    pub const OFFLINE: &str = "HEARTH_OFFLINE";
    /// OpenAI's API key, for this session only (never stored): the `openai`
    /// provider uses it, and `hearth provider add openai` reads it.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// Anthropic's API key, for this session only (as [`OPENAI_API_KEY`]).
    pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
    /// Google Gemini's API key, for this session only (as [`OPENAI_API_KEY`]).
    pub const GEMINI_API_KEY: &str = "GEMINI_API_KEY";
    /// The proxy for `https://` destinations (`http://[user:password@]host:port`),
    /// as curl and most tools read it. Each proxy variable is read in upper
    /// and lower case (`https_proxy`); the upper-case one wins. Used while the
    /// proxy setting is "system" (the default).
    pub const HTTPS_PROXY: &str = "HTTPS_PROXY";
    /// The proxy for plain `http://` destinations.
    pub const HTTP_PROXY: &str = "HTTP_PROXY";
    /// The proxy for whichever of the two above is not set.
    pub const ALL_PROXY: &str = "ALL_PROXY";
    /// Destinations reached without the proxy: host names (with their
    /// subdomains), IP addresses, networks (`10.0.0.0/8`), or `*`.
    pub const NO_PROXY: &str = "NO_PROXY";
    /// A PEM file of certificate authorities to trust besides the system's
    /// (a company that inspects HTTPS), in addition to the one in the
    /// settings.
    pub const CA_FILE: &str = "HEARTH_CA_FILE";
    /// The sentence-embedding model (a sentence-transformers folder) for
    /// `hearth embed`, `hearth docs` and `/v1/embeddings`, when none is named.
    pub const EMBED_MODEL: &str = "HEARTH_EMBED_MODEL";
}

/// The proxy variables as the environment gave them. Their values may hold a
/// password: kept as secrets, never printed.
#[derive(Clone, Default)]
pub struct ProxyEnv {
    pub https: Option<(&'static str, SecretString)>,
    pub http: Option<(&'static str, SecretString)>,
    pub all: Option<(&'static str, SecretString)>,
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<(&'static str, SecretString)>| {
            v.as_ref().map(|(name, value)| {
                format!("{name}={}", hearth_net::redact(value.expose_secret()))
            })
        };
        f.debug_struct("ProxyEnv")
            .field("https", &shown(&self.https))
            .field("http", &shown(&self.http))
            .field("all", &shown(&self.all))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyEnv {
    /// Reads the variables (upper case first, then lower case).
    fn from_env() -> Self {
        let first = |name: &'static str| -> Option<(&'static str, SecretString)> {
            if let Some(value) = non_empty_var(name) {
                return Some((name, SecretString::from(value)));
            }
            let lower = name.to_ascii_lowercase();
            non_empty_var(&lower).map(|value| (name, SecretString::from(value)))
        };
        Self {
            https: first(env::HTTPS_PROXY),
            http: first(env::HTTP_PROXY),
            all: first(env::ALL_PROXY),
            no_proxy: non_empty_var(env::NO_PROXY)
                .or_else(|| non_empty_var(&env::NO_PROXY.to_ascii_lowercase())),
        }
    }

    /// Whether any proxy variable is set.
    pub fn is_set(&self) -> bool {
        self.https.is_some() || self.http.is_some() || self.all.is_some()
    }
}

/// The environment variable that holds the API key of a provider kind, for
/// the kinds that have one.
pub fn provider_key_var(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::OpenAi => Some(env::OPENAI_API_KEY),
        ProviderKind::Anthropic => Some(env::ANTHROPIC_API_KEY),
        ProviderKind::Gemini => Some(env::GEMINI_API_KEY),
        ProviderKind::Compat => None,
    }
}

/// Secrets the environment gives for this session (API keys), read when they
/// are asked for and never stored.
#[derive(Clone, Default)]
pub struct EnvSecrets(EnvSource);

#[derive(Clone, Default)]
enum EnvSource {
    /// None at all (tests, embedding).
    #[default]
    Empty,
    /// This process's environment.
    Process,
    /// Given values (tests).
    Fixed(std::collections::BTreeMap<String, SecretString>),
}

impl EnvSecrets {
    /// The process environment.
    pub fn process() -> Self {
        Self(EnvSource::Process)
    }

    /// These values only (tests).
    pub fn fixed<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(EnvSource::Fixed(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), SecretString::from(v.to_owned())))
                .collect(),
        ))
    }

    /// The value of `var`, when it is set and not blank (trimmed: a pasted key
    /// often ends in a newline).
    pub fn get(&self, var: &str) -> Option<SecretString> {
        match &self.0 {
            EnvSource::Empty => None,
            EnvSource::Process => {
                non_empty_var(var).map(|v| SecretString::from(v.trim().to_owned()))
            }
            EnvSource::Fixed(map) => map.get(var).cloned(),
        }
    }
}

impl std::fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            EnvSource::Empty => "EnvSecrets(none)",
            EnvSource::Process => "EnvSecrets(process)",
            EnvSource::Fixed(_) => "EnvSecrets(fixed)",
        })
    }
}

/// Whether `name` can name an environment variable (`[A-Za-z_][A-Za-z0-9_]*`).
pub(crate) fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 128
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
    /// Hugging Face token from the environment (the keychain's comes first).
    pub hf_token: Option<SecretString>,
    /// Other apps' model folders, offered in place (read-only).
    pub external_sources: ExternalSources,
    /// The most memory a local model may use, in bytes.
    pub memory_limit: Option<u64>,
    /// Start with the offline switch on (it stays on once set in the app).
    pub offline: bool,
    /// API keys from the environment, for this session.
    pub env_secrets: EnvSecrets,
    /// The proxy variables (used while the proxy setting is "system").
    pub proxy_env: ProxyEnv,
    /// `HEARTH_CA_FILE`: a CA file to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// `HEARTH_EMBED_MODEL`: the default sentence-embedding model folder.
    pub embed_model: Option<PathBuf>,
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
        let external_sources = if non_empty_var(env::EXTERNAL_MODELS).as_deref() == Some("0") {
            ExternalSources::default()
        } else {
            external_sources()
        };
        Ok(Self {
            home,
            hf_endpoint,
            db_passphrase: non_empty_var(env::DB_PASSPHRASE).map(SecretString::from),
            hf_token: non_empty_var(env::HF_TOKEN).map(SecretString::from),
            external_sources,
            memory_limit: non_empty_var(env::MEMORY_LIMIT_MB)
                .and_then(|mb| mb.trim().parse::<u64>().ok())
                .map(|mb| mb.saturating_mul(1 << 20)),
            offline: non_empty_var(env::OFFLINE).is_some_and(|v| v != "0"),
            env_secrets: EnvSecrets::process(),
            proxy_env: ProxyEnv::from_env(),
            ca_file: non_empty_var(env::CA_FILE).map(PathBuf::from),
            embed_model: non_empty_var(env::EMBED_MODEL).map(PathBuf::from),
        })
    }

    /// A configuration rooted at `home`, with default endpoints (for tests and
    /// embedding).
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            hf_endpoint: DEFAULT_HF_ENDPOINT.to_owned(),
            db_passphrase: None,
            hf_token: None,
            external_sources: ExternalSources::default(),
            memory_limit: None,
            offline: false,
            env_secrets: EnvSecrets::default(),
            proxy_env: ProxyEnv::default(),
            ca_file: None,
            embed_model: None,
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

    /// The sentence-embedding model to use when none is named:
    /// `HEARTH_EMBED_MODEL`, else the first sentence-transformers folder (by
    /// name) in the models directory (where such folders are copied in).
    pub fn default_embed_model(&self) -> Option<PathBuf> {
        if let Some(path) = &self.embed_model {
            return Some(path.clone());
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.models_dir())
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| hearth_engine::is_embedding_model_dir(p))
            .collect();
        dirs.sort();
        dirs.into_iter().next()
    }

    /// The root directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The file whose presence is the offline switch (a file, so that
    /// `hearth pull` sees it without opening the history database).
    pub fn offline_marker(&self) -> PathBuf {
        self.home.join("offline")
    }

    /// The network settings (proxy, extra CA): a file, so that `hearth pull`
    /// reads them without opening the history database.
    pub fn network_settings_path(&self) -> PathBuf {
        self.home.join("network.json")
    }

    /// Whether the offline switch is on (the environment or the marker).
    pub fn is_offline(&self) -> bool {
        self.offline || self.offline_marker().exists()
    }
}

/// Where the Hugging Face cache, LM Studio and Ollama keep models on this
/// machine (folders that do not exist are skipped when scanning).
fn external_sources() -> ExternalSources {
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    let hf_cache = non_empty_var(env::HF_HUB_CACHE)
        .map(PathBuf::from)
        .or_else(|| non_empty_var(env::HF_HOME).map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| {
            directories::BaseDirs::new().map(|d| d.cache_dir().join("huggingface").join("hub"))
        });
    let lmstudio = home
        .iter()
        .flat_map(|h| {
            [
                h.join(".lmstudio").join("models"),
                h.join(".cache").join("lm-studio").join("models"),
            ]
        })
        .collect();
    let ollama = non_empty_var(env::OLLAMA_MODELS)
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".ollama").join("models")));
    ExternalSources {
        hf_cache,
        lmstudio,
        ollama,
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
    fn the_default_embedding_model_is_the_variable_else_the_first_folder_in_models() {
        let home = tempfile::tempdir().unwrap();
        let mut config = Config::with_home(home.path());
        assert_eq!(config.default_embed_model(), None);
        for name in ["b-model", "a-model", "not-a-model"] {
            let dir = config.models_dir().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            if name != "not-a-model" {
                for f in [
                    "config.json",
                    "model.safetensors",
                    "tokenizer.json",
                    "modules.json",
                ] {
                    std::fs::write(dir.join(f), "{}").unwrap();
                }
            }
        }
        assert_eq!(
            config.default_embed_model(),
            Some(config.models_dir().join("a-model"))
        );
        config.embed_model = Some(PathBuf::from("/elsewhere/minilm"));
        assert_eq!(
            config.default_embed_model(),
            Some(PathBuf::from("/elsewhere/minilm"))
        );
    }

    #[test]
    fn env_var_names_are_checked() {
        for good in ["OPENAI_API_KEY", "_x", "a1"] {
            assert!(is_env_var_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }

    #[test]
    fn env_secrets_are_never_printed() {
        let env = EnvSecrets::fixed([("OPENAI_API_KEY", "sk-planted-env-key")]);
        assert!(!format!("{env:?}").contains("planted"));
        assert!(env.get("OPENAI_API_KEY").is_some());
        assert!(env.get("ANTHROPIC_API_KEY").is_none());
        assert!(EnvSecrets::default().get("OPENAI_API_KEY").is_none());
    }

    #[test]
    fn paths_live_under_home() {
        let config = Config::with_home("/data/hearth");
        assert_eq!(config.db_path(), PathBuf::from("/data/hearth/hearth.db"));
        assert_eq!(config.models_dir(), PathBuf::from("/data/hearth/models"));
    }
}
