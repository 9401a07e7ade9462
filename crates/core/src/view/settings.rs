//! The settings screen (theme, default sampling, where the data is) and the
//! presets of the conversation settings.

use hearth_store::{Preset, PresetDraft, PresetId, Sampling};
use serde::{Deserialize, Serialize};

use crate::{App, CoreError};

/// The settings key holding the theme.
const THEME: &str = "ui.theme";
/// The settings key holding the default sampling (JSON).
pub(super) const DEFAULT_SAMPLING: &str = "chat.default_sampling";

/// Sampling settings; `null` means the model's default.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SamplingView {
    pub temperature: Option<f32>,
    pub top_k: Option<u32>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub seed: Option<u64>,
    pub max_tokens: Option<u32>,
    /// A reasoning model thinks before it answers (`null`: the model's
    /// default); shown where the model's template has the switch.
    #[serde(default)]
    pub thinking: Option<bool>,
}

impl From<&Sampling> for SamplingView {
    fn from(s: &Sampling) -> Self {
        Self {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            seed: s.seed,
            max_tokens: s.max_tokens.and_then(|n| u32::try_from(n).ok()),
            thinking: s.thinking,
        }
    }
}

impl From<&SamplingView> for Sampling {
    fn from(s: &SamplingView) -> Self {
        Self {
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            seed: s.seed,
            max_tokens: s.max_tokens.map(|n| n as usize),
            thinking: s.thinking,
        }
    }
}

/// A preset (the latest version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PresetView {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: SamplingView,
}

impl From<&Preset> for PresetView {
    fn from(p: &Preset) -> Self {
        Self {
            id: p.id.to_string(),
            version: p.version,
            name: p.name.clone(),
            system_prompt: p.system_prompt.clone(),
            sampling: (&p.sampling).into(),
        }
    }
}

/// A preset to create (`id` null) or change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PresetDraftView {
    pub id: Option<String>,
    pub name: String,
    pub system_prompt: Option<String>,
    pub sampling: SamplingView,
}

/// The colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// Settings and where the data is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub data_dir: String,
    pub encrypted: bool,
    pub key_in_keychain: bool,
    pub theme: Theme,
    pub default_sampling: SamplingView,
}

/// Changes to the settings.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SettingsPatchView {
    #[serde(default)]
    pub theme: Option<Theme>,
    #[serde(default)]
    pub default_sampling: Option<SamplingView>,
}

impl App {
    /// The latest version of every preset.
    pub fn presets_view(&self) -> Result<Vec<PresetView>, CoreError> {
        Ok(self
            .store()
            .list_presets()?
            .iter()
            .map(PresetView::from)
            .collect())
    }

    /// Creates a preset, or a new version of one.
    pub fn save_preset_view(&self, draft: &PresetDraftView) -> Result<PresetView, CoreError> {
        if draft.name.trim().is_empty() {
            return Err(CoreError::Invalid("a preset needs a name".into()));
        }
        let stored = PresetDraft {
            name: draft.name.trim().to_owned(),
            system_prompt: draft.system_prompt.clone(),
            sampling: (&draft.sampling).into(),
        };
        let store = self.store();
        let preset = match &draft.id {
            Some(id) => store.update_preset(&PresetId::parse(id)?, &stored)?,
            None => store.create_preset(&stored)?,
        };
        Ok((&preset).into())
    }

    /// Deletes a preset (conversations that used it keep their version).
    pub fn delete_preset_view(&self, id: &str) -> Result<(), CoreError> {
        Ok(self.store().delete_preset(&PresetId::parse(id)?)?)
    }

    /// Settings and where the data is.
    pub fn settings_view(&self) -> Result<SettingsView, CoreError> {
        let store = self.store();
        let theme = store
            .setting(THEME)?
            .and_then(|t| serde_json::from_str(&format!("\"{t}\"")).ok())
            .unwrap_or_default();
        let default_sampling = store
            .setting(DEFAULT_SAMPLING)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(SettingsView {
            data_dir: self.config().home().display().to_string(),
            encrypted: true,
            key_in_keychain: self.key_in_keychain(),
            theme,
            default_sampling,
        })
    }

    /// Changes the theme or the default sampling.
    pub fn update_settings_view(
        &self,
        patch: &SettingsPatchView,
    ) -> Result<SettingsView, CoreError> {
        {
            let store = self.store();
            if let Some(theme) = patch.theme {
                let name = match theme {
                    Theme::System => "system",
                    Theme::Light => "light",
                    Theme::Dark => "dark",
                };
                store.set_setting(THEME, name)?;
            }
            if let Some(sampling) = &patch.default_sampling {
                let text = serde_json::to_string(sampling).unwrap_or_else(|_| "{}".into());
                store.set_setting(DEFAULT_SAMPLING, &text)?;
            }
        }
        self.settings_view()
    }
}
