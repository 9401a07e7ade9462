//! The network settings: which proxy Hearth uses and which extra certificate
//! authority it trusts, turned into the [`Net`] every HTTP client is built
//! from (Hugging Face and the cloud providers alike).
//!
//! The settings live in `network.json` in the data directory (not in the
//! history database: `hearth pull` works without opening it, and the file
//! holds nothing secret). The proxy's password is a secret like an API key:
//! it goes to the secret store ([`PROXY_PASSWORD`]), never into the file, a
//! log or a view.
//!
//! Which proxy applies:
//! - `system` (the default): the environment's `HTTPS_PROXY`, `HTTP_PROXY`,
//!   `ALL_PROXY` and `NO_PROXY` (in either case), as curl reads them;
//! - `off`: none, whatever the environment says;
//! - `manual`: the proxy in the settings, for every destination except its
//!   `no_proxy` list.
//!
//! In every case this machine (`localhost`, `127.0.0.0/8`, `::1`) is reached
//! directly. The CA files trusted are the settings' one and `HEARTH_CA_FILE`,
//! on top of the system's store.

use std::path::{Path, PathBuf};

use hearth_net::{
    Hints, Net, NetConfig, NoProxy, ProxyConfig, ProxyCredentials, ProxyServer, redact,
};
use hearth_secrets::{ExposeSecret, PROXY_PASSWORD, SecretStore, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{Config, env};
use crate::{App, CoreError};

/// The network settings as kept in `network.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    #[serde(default)]
    pub proxy: ProxySetting,
    /// A CA file (PEM) to trust besides the system's store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Which proxy to use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ProxySetting {
    /// The environment's proxy variables (none when they are unset).
    #[default]
    System,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy for every destination but `no_proxy`.
    Manual {
        /// `http://host:port` (never with credentials: they are split off).
        url: String,
        /// Destinations reached directly (as `NO_PROXY` is written).
        #[serde(default)]
        no_proxy: String,
        /// The user name for the proxy; its password is in the secret store.
        #[serde(default)]
        username: Option<String>,
    },
}

/// What the network settings come to, for `hearth network` and the app's
/// Settings page. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct NetworkOverview {
    /// `system`, `off` or `manual`.
    pub proxy_mode: String,
    /// Where the proxy comes from: `settings`, or the variable (`HTTPS_PROXY`).
    pub proxy_source: Option<String>,
    /// The proxy for `https://` destinations (redacted), if any.
    pub https_proxy: Option<String>,
    /// The proxy for `http://` destinations (redacted), if any.
    pub http_proxy: Option<String>,
    /// Destinations reached directly.
    pub no_proxy: String,
    /// The proxy user name, when one is set.
    pub proxy_user: Option<String>,
    /// Whether a proxy password is stored.
    pub proxy_password_stored: bool,
    /// Extra CA files trusted, with where each was set (`settings`, `HEARTH_CA_FILE`).
    pub ca_files: Vec<CaFileOverview>,
}

/// One extra CA file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CaFileOverview {
    pub path: String,
    pub source: String,
}

/// A change to the proxy setting.
#[derive(Debug, Clone)]
pub enum ProxyChoice {
    System,
    Off,
    /// A proxy address (`http://[user[:password]@]host:port`); a user name or
    /// password in it are split off like `username` and `password`.
    Manual {
        url: String,
        no_proxy: String,
        username: Option<String>,
        /// `None` keeps a stored password for the same user.
        password: Option<SecretString>,
    },
}

impl NetworkSettings {
    /// The settings in `config`'s data directory (defaults when none were saved).
    pub fn load(config: &Config) -> Result<Self, CoreError> {
        let path = config.network_settings_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CoreError::Invalid(format!(
                    "the network settings in {} are damaged ({e}); fix or delete the file",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(CoreError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn save(&self, config: &Config) -> Result<(), CoreError> {
        let path = config.network_settings_path();
        let io = |source| CoreError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(config.home()).map_err(io)?;
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CoreError::Invalid(format!("cannot save the network settings: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// What messages tell the user to do when the network needs their help.
fn hints() -> Hints {
    Hints {
        trust: format!(
            "give Hearth that authority's certificate: `hearth network ca FILE` (or set {})",
            env::CA_FILE
        ),
        proxy_credentials: "set them with `hearth network proxy set URL --user NAME`".into(),
    }
}

/// The checked network settings of `config` (the proxy password from
/// `secrets`).
pub(crate) fn net(config: &Config, secrets: Option<&dyn SecretStore>) -> Result<Net, CoreError> {
    let settings = NetworkSettings::load(config)?;
    let proxy = match &settings.proxy {
        ProxySetting::Off => ProxyConfig::direct(),
        ProxySetting::System => env_proxy(config)?,
        ProxySetting::Manual {
            url,
            no_proxy,
            username,
        } => {
            let server = ProxyServer::parse(url).map_err(|e| {
                CoreError::Invalid(format!("the proxy in the network settings: {e}"))
            })?;
            let credentials = match username {
                Some(username) => Some(ProxyCredentials {
                    username: username.clone(),
                    password: stored_password(secrets)?.unwrap_or_else(|| {
                        tracing::warn!("a proxy user is set but no password is stored");
                        SecretString::from(String::new())
                    }),
                }),
                None => None,
            };
            ProxyConfig::all(
                server.with_credentials(credentials),
                NoProxy::parse(no_proxy),
            )
        }
    };
    let mut ca_files = Vec::new();
    ca_files.extend(settings.ca_file.clone());
    ca_files.extend(config.ca_file.clone());
    Net::new(NetConfig {
        proxy,
        ca_files,
        hints: hints(),
    })
    .map_err(|e| CoreError::Invalid(e.to_string()))
}

/// The proxy the environment's variables describe.
fn env_proxy(config: &Config) -> Result<ProxyConfig, CoreError> {
    let vars = &config.proxy_env;
    for (name, value) in [&vars.https, &vars.http, &vars.all].into_iter().flatten() {
        ProxyServer::parse(value.expose_secret())
            .map_err(|e| CoreError::Invalid(format!("{name}: {e}")))?;
    }
    let value = |v: &Option<(&'static str, SecretString)>| {
        v.as_ref().map(|(_, s)| s.expose_secret().to_owned())
    };
    ProxyConfig::from_values(
        value(&vars.http).as_deref(),
        value(&vars.https).as_deref(),
        value(&vars.all).as_deref(),
        vars.no_proxy.as_deref(),
    )
    .map_err(|e| CoreError::Invalid(e.to_string()))
}

fn stored_password(secrets: Option<&dyn SecretStore>) -> Result<Option<SecretString>, CoreError> {
    match secrets {
        Some(secrets) => Ok(secrets.get(PROXY_PASSWORD)?),
        None => Ok(None),
    }
}

/// The network settings as a front end shows them.
pub(crate) fn overview(
    config: &Config,
    secrets: Option<&dyn SecretStore>,
) -> Result<NetworkOverview, CoreError> {
    let settings = NetworkSettings::load(config)?;
    let net = net(config, secrets)?;
    let proxy = net.proxy();
    let shown = |p: &Option<ProxyServer>| p.as_ref().map(|p| redact(p.url().as_str()));
    let (mode, source, user) = match &settings.proxy {
        ProxySetting::System => {
            let vars = &config.proxy_env;
            let source = [&vars.https, &vars.http, &vars.all]
                .into_iter()
                .flatten()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ");
            let user = proxy
                .https
                .as_ref()
                .or(proxy.http.as_ref())
                .and_then(|p| p.credentials())
                .map(|c| c.username.clone());
            ("system", (!source.is_empty()).then_some(source), user)
        }
        ProxySetting::Off => ("off", None, None),
        ProxySetting::Manual { username, .. } => {
            ("manual", Some("settings".to_owned()), username.clone())
        }
    };
    let mut ca_files = Vec::new();
    if let Some(path) = &settings.ca_file {
        ca_files.push(CaFileOverview {
            path: path.display().to_string(),
            source: "settings".into(),
        });
    }
    if let Some(path) = &config.ca_file {
        ca_files.push(CaFileOverview {
            path: path.display().to_string(),
            source: env::CA_FILE.into(),
        });
    }
    Ok(NetworkOverview {
        proxy_mode: mode.into(),
        proxy_source: source,
        https_proxy: shown(&proxy.https),
        http_proxy: shown(&proxy.http),
        no_proxy: proxy.no_proxy.to_string(),
        proxy_user: user,
        proxy_password_stored: matches!(settings.proxy, ProxySetting::Manual { .. })
            && stored_password(secrets)?.is_some(),
        ca_files,
    })
}

/// Changes the proxy setting; the password goes to `secrets`.
pub(crate) fn set_proxy(
    config: &Config,
    secrets: Option<&dyn SecretStore>,
    choice: ProxyChoice,
) -> Result<(), CoreError> {
    let mut settings = NetworkSettings::load(config)?;
    let previous_user = match &settings.proxy {
        ProxySetting::Manual { username, .. } => username.clone(),
        _ => None,
    };
    match choice {
        ProxyChoice::System | ProxyChoice::Off => {
            settings.proxy = match choice {
                ProxyChoice::Off => ProxySetting::Off,
                _ => ProxySetting::System,
            };
            if let Some(secrets) = secrets {
                secrets.delete(PROXY_PASSWORD)?;
            }
        }
        ProxyChoice::Manual {
            url,
            no_proxy,
            username,
            password,
        } => {
            let server = ProxyServer::parse(&url)
                .map_err(|e| CoreError::Invalid(format!("the proxy: {e}")))?;
            // A user name or password written in the address: split off.
            let (in_url_user, in_url_password) = match server.credentials() {
                Some(c) => (
                    Some(c.username.clone()).filter(|u| !u.is_empty()),
                    Some(c.password.clone()).filter(|p| !p.expose_secret().is_empty()),
                ),
                None => (None, None),
            };
            let username = username
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty())
                .or(in_url_user);
            let password = password.or(in_url_password);
            match (&username, password) {
                (Some(_), Some(password)) => {
                    let secrets = secrets.ok_or(CoreError::NoKeychain)?;
                    secrets.set(PROXY_PASSWORD, &password)?;
                }
                (Some(user), None) if previous_user.as_ref() == Some(user) => {}
                (_, _) => {
                    if let Some(secrets) = secrets {
                        secrets.delete(PROXY_PASSWORD)?;
                    }
                }
            }
            settings.proxy = ProxySetting::Manual {
                url: server.to_string(),
                no_proxy: NoProxy::parse(&no_proxy).to_string(),
                username,
            };
        }
    }
    settings.save(config)
}

/// Sets (or, with `None`, removes) the CA file trusted besides the system's;
/// the file is checked first.
pub(crate) fn set_ca_file(config: &Config, path: Option<&Path>) -> Result<(), CoreError> {
    let mut settings = NetworkSettings::load(config)?;
    settings.ca_file = match path {
        None => None,
        Some(path) => {
            let path = std::path::absolute(path).map_err(|source| CoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Net::new(NetConfig {
                ca_files: vec![path.clone()],
                ..NetConfig::default()
            })
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
            Some(path)
        }
    };
    settings.save(config)
}

impl App {
    /// The network settings as a front end shows them.
    pub fn network(&self) -> Result<NetworkOverview, CoreError> {
        self.models().network()
    }

    /// Changes the proxy; providers reconnect with it from their next call.
    pub fn set_proxy(&self, choice: ProxyChoice) -> Result<NetworkOverview, CoreError> {
        let shown = self.models().set_proxy(choice)?;
        self.cloud.rebuild();
        Ok(shown)
    }

    /// Sets (or removes) the CA file trusted besides the system's; providers
    /// reconnect with it from their next call.
    pub fn set_ca_file(&self, path: Option<&Path>) -> Result<NetworkOverview, CoreError> {
        let shown = self.models().set_ca_file(path)?;
        self.cloud.rebuild();
        Ok(shown)
    }
}

#[cfg(test)]
mod tests {
    use hearth_secrets::MemoryStore;

    use super::*;

    fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::with_home(dir.path());
        (dir, config)
    }

    #[test]
    fn a_manual_proxy_keeps_its_password_in_the_secret_store_only() {
        let (_dir, config) = config();
        let secrets = MemoryStore::default();
        set_proxy(
            &config,
            Some(&secrets),
            ProxyChoice::Manual {
                url: "http://alice:pw-planted@proxy.corp:3128".into(),
                no_proxy: "intranet.corp, 10.0.0.0/8".into(),
                username: None,
                password: None,
            },
        )
        .unwrap();
        let file = std::fs::read_to_string(config.network_settings_path()).unwrap();
        assert!(!file.contains("pw-planted"), "{file}");
        assert!(
            file.contains("alice") && file.contains("proxy.corp:3128"),
            "{file}"
        );
        assert_eq!(
            secrets
                .get(PROXY_PASSWORD)
                .unwrap()
                .unwrap()
                .expose_secret(),
            "pw-planted"
        );
        let built = net(&config, Some(&secrets)).unwrap();
        let https = built.proxy().https.as_ref().unwrap();
        assert_eq!(https.address(), "proxy.corp:3128");
        assert_eq!(https.credentials().unwrap().username, "alice");
        let shown = overview(&config, Some(&secrets)).unwrap();
        assert_eq!(shown.proxy_mode, "manual");
        assert_eq!(shown.proxy_user.as_deref(), Some("alice"));
        assert!(shown.proxy_password_stored);
        assert_eq!(shown.no_proxy, "intranet.corp,10.0.0.0/8");
        assert!(!format!("{shown:?}").contains("pw-planted"));

        // The same user again without a password keeps the stored one.
        set_proxy(
            &config,
            Some(&secrets),
            ProxyChoice::Manual {
                url: "proxy.corp:3129".into(),
                no_proxy: String::new(),
                username: Some("alice".into()),
                password: None,
            },
        )
        .unwrap();
        assert!(secrets.get(PROXY_PASSWORD).unwrap().is_some());
        // Off forgets it.
        set_proxy(&config, Some(&secrets), ProxyChoice::Off).unwrap();
        assert!(secrets.get(PROXY_PASSWORD).unwrap().is_none());
        assert!(net(&config, Some(&secrets)).unwrap().proxy().is_direct());
    }

    #[test]
    fn the_environment_applies_unless_the_setting_says_otherwise() {
        let (_dir, mut config) = config();
        config.proxy_env.https = Some((
            env::HTTPS_PROXY,
            SecretString::from("http://u:hunter2secret@envproxy:8080".to_owned()),
        ));
        config.proxy_env.no_proxy = Some("corp.example".into());
        let net_of = |c: &Config| net(c, None).unwrap();
        let url = reqwest::Url::parse("https://huggingface.co/").unwrap();
        assert_eq!(net_of(&config).route(&url).via(), Some("envproxy:8080"));
        let shown = overview(&config, None).unwrap();
        assert_eq!(shown.proxy_source.as_deref(), Some("HTTPS_PROXY"));
        assert_eq!(shown.https_proxy.as_deref(), Some("http://envproxy:8080/"));
        assert_eq!(shown.proxy_user.as_deref(), Some("u"));
        assert!(
            // A distinctive password: a random temp folder name could hold
            // any two letters.
            !format!("{config:?} {shown:?}").contains("hunter2secret"),
            "{config:?}"
        );

        set_proxy(&config, None, ProxyChoice::Off).unwrap();
        assert_eq!(net_of(&config).route(&url).via(), None);

        config.proxy_env.https = Some((
            env::HTTPS_PROXY,
            SecretString::from("socks5://x:1".to_owned()),
        ));
        set_proxy(&config, None, ProxyChoice::System).unwrap();
        let err = net(&config, None).unwrap_err().to_string();
        assert!(
            err.contains("HTTPS_PROXY") && err.contains("SOCKS"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_ca_file_is_refused_before_it_is_saved() {
        let (dir, config) = config();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = set_ca_file(&config, Some(&junk)).unwrap_err().to_string();
        assert!(err.contains("holds no certificate"), "{err}");
        assert_eq!(NetworkSettings::load(&config).unwrap().ca_file, None);
        std::fs::write(config.network_settings_path(), "{ not json").unwrap();
        let err = NetworkSettings::load(&config).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
