//! What a configured provider is: its kind, name, base URL and key.
//!
//! The key is a [`SecretString`] from the moment it is read until it becomes a
//! (sensitive) header value in `http.rs`; `Debug` never prints it.

use std::str::FromStr;

use hearth_net::is_cleartext;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    Gemini,
    /// Any server speaking OpenAI's chat completions API (Ollama, llama.cpp,
    /// vLLM, LM Studio, …).
    Compat,
}

impl ProviderKind {
    /// Every kind, in the order a user would be shown them.
    pub const ALL: [ProviderKind; 4] = [Self::OpenAi, Self::Anthropic, Self::Gemini, Self::Compat];

    /// The name used in configuration (`openai`, `anthropic`, `gemini`, `compat`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Compat => "compat",
        }
    }

    /// The name a user reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::OpenAi => "OpenAI",
            Self::Anthropic => "Anthropic",
            Self::Gemini => "Google Gemini",
            Self::Compat => "OpenAI-compatible server",
        }
    }

    /// Whether the API can be asked for one JSON object as the answer
    /// (`ChatRequest::json`). Anthropic's Messages API has no such switch.
    pub fn has_json_mode(self) -> bool {
        !matches!(self, Self::Anthropic)
    }

    /// Where the provider's API lives; `None` for a compatible server (the
    /// user must say where it is).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com"),
            Self::Compat => None,
        }
    }

    /// Whether requests need a key (a local compatible server usually has none).
    pub fn needs_key(self) -> bool {
        !matches!(self, Self::Compat)
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == wanted)
            .ok_or_else(|| ConfigError::UnknownKind(text.trim().to_owned()))
    }
}

/// One configured provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The user's name for it (`openai`, `work`, `my-ollama`); the first half
    /// of a backend id such as `my-ollama:llama3.2:1b`.
    pub name: String,
    pub kind: ProviderKind,
    /// `None`: the kind's default (required for [`ProviderKind::Compat`]).
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    /// Send the key over plain `http://` to another machine anyway (the
    /// user said the network is trusted). Loopback needs no permission.
    pub allow_http: bool,
    /// The user's context window for every model of this provider, in
    /// tokens, in place of the table of known models (`window.rs`).
    pub context_window: Option<usize>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field(
                "base_url",
                &self.base_url.as_deref().map(hearth_net::redact),
            )
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("allow_http", &self.allow_http)
            .field("context_window", &self.context_window)
            .finish()
    }
}

impl ProviderConfig {
    /// A provider of `kind` at its default address.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        Self {
            name: name.into(),
            kind,
            base_url: None,
            api_key: None,
            allow_http: false,
            context_window: None,
        }
    }

    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    pub fn with_api_key(mut self, key: SecretString) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Allows sending the key over plain `http://` to another machine.
    pub fn with_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Sets the context window of every model of this provider (`None`: the
    /// table of known models).
    pub fn with_context_window(mut self, tokens: Option<usize>) -> Self {
        self.context_window = tokens;
        self
    }

    /// Checks the configuration: a usable name, base URL and key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.checked_base_url().map(|_| ())
    }

    /// Checks the configuration and returns the base URL to use.
    pub(crate) fn checked_base_url(&self) -> Result<Url, ConfigError> {
        let name = self.name.trim();
        if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
            return Err(ConfigError::BadName(self.name.clone()));
        }
        let label = self.kind.label();
        let text = match (&self.base_url, self.kind.default_base_url()) {
            (Some(url), _) if !url.trim().is_empty() => url.trim(),
            (_, Some(default)) => default,
            _ => {
                return Err(ConfigError::MissingBaseUrl {
                    name: self.name.clone(),
                });
            }
        };
        let url = Url::parse(text).map_err(|e| ConfigError::BadBaseUrl {
            name: self.name.clone(),
            url: hearth_net::redact(text),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::BadBaseUrl {
                name: self.name.clone(),
                url: hearth_net::redact(text),
                reason: "it must be an http:// or https:// address".into(),
            });
        }
        match &self.api_key {
            None if self.kind.needs_key() => {
                return Err(ConfigError::MissingKey {
                    name: self.name.clone(),
                    label,
                });
            }
            Some(key) if self.kind.needs_key() && key.expose_secret().trim().is_empty() => {
                return Err(ConfigError::MissingKey {
                    name: self.name.clone(),
                    label,
                });
            }
            // A pasted key with a newline or other control characters cannot
            // become a header: say so now, not on the first request.
            Some(key)
                if !key
                    .expose_secret()
                    .trim()
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b)) =>
            {
                return Err(ConfigError::BadKey {
                    name: self.name.clone(),
                    label,
                });
            }
            _ => {}
        }
        // A key (or a password in the address) over plain http:// to another
        // machine can be read by anyone on the way: only with permission.
        let has_secret = self
            .api_key
            .as_ref()
            .is_some_and(|k| !k.expose_secret().trim().is_empty())
            || !url.username().is_empty()
            || url.password().is_some();
        if has_secret && is_cleartext(&url) && !self.allow_http {
            return Err(ConfigError::Cleartext {
                name: self.name.clone(),
                url: hearth_net::redact_url(&url),
            });
        }
        Ok(url)
    }
}

/// A provider configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown provider kind {0:?}: use openai, anthropic, gemini or compat")]
    UnknownKind(String),
    #[error(
        "{0:?} is not a usable provider name: use letters, digits, '-' or '_' (no spaces or ':')"
    )]
    BadName(String),
    #[error(
        "provider {name} is an OpenAI-compatible server and needs a base URL (for example http://localhost:11434/v1)"
    )]
    MissingBaseUrl { name: String },
    #[error("provider {name}: the base URL {url} is not valid: {reason}")]
    BadBaseUrl {
        name: String,
        url: String,
        reason: String,
    },
    #[error("provider {name} ({label}) needs an API key")]
    MissingKey { name: String, label: &'static str },
    #[error(
        "provider {name} ({label}): the API key contains spaces inside, line breaks or other characters a key cannot have; paste it again"
    )]
    BadKey { name: String, label: &'static str },
    #[error(
        "provider {name}: {url} is plain http:// to another machine, so the API key would cross the network unencrypted; \
         use https://, or add the provider again with --allow-http if you trust every network between you and it"
    )]
    Cleartext { name: String, url: String },
    #[error("could not set up HTTPS for provider {name}: {reason}")]
    Client { name: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[test]
    fn kinds_parse_print_and_serialize() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            " OpenAI ".parse::<ProviderKind>().unwrap(),
            ProviderKind::OpenAi
        );
        assert!("bard".parse::<ProviderKind>().is_err());
        assert_eq!(ProviderKind::Gemini.label(), "Google Gemini");
        assert_eq!(ProviderKind::Compat.default_base_url(), None);
    }

    #[test]
    fn configs_are_checked() {
        let openai = ProviderConfig::new("openai", ProviderKind::OpenAi);
        assert!(matches!(
            openai.validate(),
            Err(ConfigError::MissingKey { .. })
        ));
        let ok = openai.clone().with_api_key(key("sk-abc"));
        assert_eq!(
            ok.checked_base_url().unwrap().as_str(),
            "https://api.openai.com/v1"
        );
        let newline = openai.with_api_key(key("sk-a\nb"));
        assert!(matches!(
            newline.validate(),
            Err(ConfigError::BadKey { .. })
        ));

        let compat = ProviderConfig::new("ollama", ProviderKind::Compat);
        let err = compat.validate().unwrap_err();
        assert!(err.to_string().contains("needs a base URL"), "{err}");
        let compat = compat.with_base_url("http://localhost:11434/v1");
        assert_eq!(
            compat.checked_base_url().unwrap().host_str(),
            Some("localhost")
        );
        let ftp = ProviderConfig::new("x", ProviderKind::Compat).with_base_url("ftp://x/");
        assert!(matches!(
            ftp.validate(),
            Err(ConfigError::BadBaseUrl { .. })
        ));
        let bad_name = ProviderConfig::new("my provider", ProviderKind::Compat)
            .with_base_url("http://localhost/");
        assert!(matches!(bad_name.validate(), Err(ConfigError::BadName(_))));
    }

    #[test]
    fn keys_go_over_plain_http_to_this_machine_only_unless_allowed() {
        let keyed = |url: &str| {
            ProviderConfig::new("lan", ProviderKind::Compat)
                .with_base_url(url)
                .with_api_key(key("sk-planted-0042"))
        };
        for local in [
            "http://localhost:11434/v1",
            "http://127.0.0.1:8000/v1",
            "http://[::1]/v1",
        ] {
            assert!(keyed(local).validate().is_ok(), "{local}");
        }
        for remote in [
            "http://192.168.1.20:8000/v1",
            "http://gpu-box.lan/v1",
            "http://api.example.com/v1",
        ] {
            let err = keyed(remote).validate().unwrap_err();
            assert!(
                matches!(err, ConfigError::Cleartext { .. }),
                "{remote}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains("--allow-http") && !text.contains("sk-planted"),
                "{text}"
            );
            assert!(
                keyed(remote).with_allow_http(true).validate().is_ok(),
                "{remote}"
            );
        }
        assert!(keyed("https://192.168.1.20/v1").validate().is_ok());
        // Nothing secret to leak: Ollama on another machine needs no permission.
        let keyless = ProviderConfig::new("ollama", ProviderKind::Compat)
            .with_base_url("http://192.168.1.20:11434/v1");
        assert!(keyless.validate().is_ok());
        // A password in the address is a secret too.
        let userinfo = ProviderConfig::new("x", ProviderKind::Compat)
            .with_base_url("http://me:pw-planted@10.0.0.2/v1");
        let err = userinfo.validate().unwrap_err();
        assert!(matches!(err, ConfigError::Cleartext { .. }), "{err}");
        assert!(!err.to_string().contains("pw-planted"), "{err}");
    }

    #[test]
    fn debug_hides_the_key_and_url_secrets() {
        let config = ProviderConfig::new("work", ProviderKind::Compat)
            .with_base_url("https://user:pw-planted@example.com/v1?token=tk-planted")
            .with_api_key(key("sk-planted-0042"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-planted-0042"), "{shown}");
        assert!(
            !shown.contains("pw-planted") && !shown.contains("tk-planted"),
            "{shown}"
        );
        assert!(shown.contains("example.com"), "{shown}");
    }
}
