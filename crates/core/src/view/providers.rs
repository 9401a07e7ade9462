//! The cloud providers screen: configured providers (keys only masked), the
//! kinds the add form offers, each provider's models and circuit breaker.

use hearth_providers::{BreakerState, ProviderKind};
use hearth_secrets::SecretString;
use serde::{Deserialize, Serialize};

use crate::{App, CoreError, ProviderInfo};

/// A provider's circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum BreakerView {
    /// Requests go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Requests fail at once for `retryInMs` more.
    Open {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        retry_in_ms: u64,
    },
    /// The next request is a probe.
    HalfOpen,
}

impl From<&BreakerState> for BreakerView {
    fn from(b: &BreakerState) -> Self {
        match b {
            BreakerState::Closed { failures } => Self::Closed {
                failures: *failures,
            },
            BreakerState::Open { retry_in } => Self::Open {
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            },
            BreakerState::HalfOpen => Self::HalfOpen,
        }
    }
}

/// How many tokens a provider's model reads, and who says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum ContextWindow {
    /// The table of known models.
    Known {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        tokens: usize,
    },
    /// The user set it for the provider (`hearth provider window`).
    Override {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        tokens: usize,
    },
    /// Not known: conversations are sent whole (for a provider with no
    /// window set: each model's own, from the table).
    Unknown,
}

impl ContextWindow {
    /// The window of `model` (if given) at a provider whose user setting is
    /// `set`: the setting wins over the table.
    pub fn of(set: Option<usize>, model: Option<&str>) -> Self {
        match (set, model.and_then(hearth_providers::known_window)) {
            (Some(tokens), _) => Self::Override { tokens },
            (None, Some(known)) => Self::Known {
                tokens: known.context,
            },
            (None, None) => Self::Unknown,
        }
    }

    /// The window in tokens, if known.
    pub fn tokens(self) -> Option<usize> {
        match self {
            Self::Known { tokens } | Self::Override { tokens } => Some(tokens),
            Self::Unknown => None,
        }
    }
}

/// A configured cloud provider; its key only ever masked (`sk-…1234`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub name: String,
    /// `openai`, `anthropic`, `gemini` or `compat`.
    pub kind: String,
    pub kind_label: String,
    pub base_url: String,
    pub key: Option<String>,
    pub breaker: BreakerView,
    /// The window the user set for its models, else `unknown` (each model's
    /// own: see [`ProviderModelView::context_window`]).
    pub context_window: ContextWindow,
}

impl From<&ProviderInfo> for ProviderView {
    fn from(p: &ProviderInfo) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            kind_label: p.kind.label().to_owned(),
            base_url: p.base_url.clone(),
            key: p.key.clone(),
            breaker: (&p.breaker).into(),
            context_window: ContextWindow::of(p.context_window, None),
        }
    }
}

/// A kind of provider the add form offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderKindView {
    pub kind: String,
    pub label: String,
    pub default_base_url: Option<String>,
    pub needs_key: bool,
}

/// A model a provider offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ProviderModelView {
    pub id: String,
    pub name: Option<String>,
    /// What the model reads: the provider's setting, else the known table.
    pub context_window: ContextWindow,
}

/// The kinds of provider, for the add form.
pub fn provider_kinds() -> Vec<ProviderKindView> {
    ProviderKind::ALL
        .into_iter()
        .map(|k| ProviderKindView {
            kind: k.as_str().to_owned(),
            label: k.label().to_owned(),
            default_base_url: k.default_base_url().map(str::to_owned),
            needs_key: k.needs_key(),
        })
        .collect()
}

impl App {
    /// The configured providers, keys masked.
    pub fn providers_view(&self) -> Result<Vec<ProviderView>, CoreError> {
        Ok(self.providers()?.iter().map(Into::into).collect())
    }

    /// Adds (or replaces) a provider; the key goes to the keychain and only
    /// its masked form comes back. An empty key or URL counts as none.
    pub fn add_provider_view(
        &self,
        name: &str,
        kind: &str,
        base_url: Option<String>,
        key: Option<String>,
    ) -> Result<ProviderView, CoreError> {
        let kind: ProviderKind = kind
            .parse()
            .map_err(|e: hearth_providers::ConfigError| CoreError::Invalid(e.to_string()))?;
        let base_url = base_url.filter(|u| !u.trim().is_empty());
        let key = match key.filter(|k| !k.trim().is_empty()) {
            Some(k) => crate::ProviderKey::Store(SecretString::from(k.trim().to_owned()), None),
            None => crate::ProviderKey::Keep,
        };
        Ok((&self.add_provider(name.trim(), kind, base_url, key)?).into())
    }

    /// Sets (or, with `None`, clears) the context window of a provider's
    /// models, for models the table does not know or gets wrong.
    pub fn set_provider_context_window_view(
        &self,
        name: &str,
        tokens: Option<u32>,
    ) -> Result<ProviderView, CoreError> {
        let tokens = tokens.map(|t| usize::try_from(t).unwrap_or(usize::MAX));
        Ok((&self.set_provider_context_window(name, tokens)?).into())
    }

    /// The models a provider offers.
    pub async fn provider_models_view(
        &self,
        name: &str,
    ) -> Result<Vec<ProviderModelView>, CoreError> {
        let set = self.provider(name)?.context_window();
        Ok(self
            .provider_models(name)
            .await?
            .into_iter()
            .map(|m| ProviderModelView {
                context_window: ContextWindow::of(set, Some(&m.id)),
                id: m.id,
                name: m.name,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakers_and_providers_show_no_durations_or_keys_in_full() {
        let open = BreakerView::from(&BreakerState::Open {
            retry_in: std::time::Duration::from_millis(1500),
        });
        assert_eq!(open, BreakerView::Open { retry_in_ms: 1500 });
        let text = serde_json::to_string(&open).unwrap_or_default();
        assert_eq!(text, r#"{"state":"open","retryInMs":1500}"#);
        let info = ProviderInfo {
            name: "work".into(),
            kind: ProviderKind::OpenAi,
            base_url: "https://api.openai.com/v1".into(),
            key: Some("sk-…1234".into()),
            key_source: crate::KeySource::Keychain,
            configured: true,
            breaker: BreakerState::HalfOpen,
            allow_http: false,
            context_window: Some(8192),
        };
        let view = ProviderView::from(&info);
        assert_eq!(view.kind, "openai");
        assert_eq!(view.kind_label, "OpenAI");
        assert_eq!(view.key.as_deref(), Some("sk-…1234"));
        assert_eq!(view.breaker, BreakerView::HalfOpen);
        assert_eq!(provider_kinds().len(), ProviderKind::ALL.len());
        assert_eq!(
            view.context_window,
            ContextWindow::Override { tokens: 8192 }
        );
        let text = serde_json::to_string(&view.context_window).unwrap_or_default();
        assert_eq!(text, r#"{"source":"override","tokens":8192}"#);
    }

    #[test]
    fn context_windows_say_where_they_come_from() {
        assert_eq!(
            ContextWindow::of(None, Some("gpt-4o-mini")),
            ContextWindow::Known { tokens: 128_000 }
        );
        assert_eq!(
            ContextWindow::of(Some(4096), Some("gpt-4o-mini")).tokens(),
            Some(4096)
        );
        assert_eq!(
            ContextWindow::of(None, Some("llama3.2:1b")),
            ContextWindow::Unknown
        );
        assert_eq!(ContextWindow::of(None, None).tokens(), None);
    }
}
