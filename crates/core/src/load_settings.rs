//! How each library model is loaded, chosen per model (as LM Studio does):
//! its context window, how the KV cache stores keys and values, and the
//! device. Kept with the model in the library (hearth-hub's [`LoadPrefs`],
//! so `hearth run` reads them without opening the history); what a model does
//! not set comes from the app's own options, and a command line's flags win
//! over both. The fit estimate counts what the model is set to.
//!
//! CPU threads are the exception to "the next load uses them": the compute
//! thread pools are sized once per process, before its first model loads
//! ([`hearth_engine::set_threads`]). So `hearth run`/`chat` apply the named
//! model's thread count at start, and the app applies the one of the model it
//! last used when it starts ([`set_startup_threads`]); a running app keeps the
//! count it started with ([`threads_in_use`]).

use std::path::Path;
use std::sync::Arc;

use hearth_engine::{DevicePreference, Engine, EngineOptions, KvType};
use hearth_hub::LoadPrefs;

use crate::{App, CoreError, Models};

/// The smallest context a model may be set to: below it a system prompt and
/// one turn hardly fit.
pub const MIN_CONTEXT: usize = 256;
/// The largest (1M tokens, more than any model Hearth runs was trained on).
pub const MAX_CONTEXT: usize = 1 << 20;

/// The most CPU threads a model may be set to: twice this machine's logical
/// cores (more only adds switching between threads).
pub fn max_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) * 2
}

/// The CPU threads this process computes with (fixed by its first load).
pub fn threads_in_use() -> usize {
    hearth_engine::threads()
}

/// For a front end that loads whichever model its user picks (the app):
/// sizes the CPU threads from the settings of the library's most recently
/// used model, the one it most likely loads first. Call it first thing in
/// `main`, while the process is still single-threaded (it goes through the
/// environment: [`hearth_engine::set_threads`]). A configuration that cannot
/// be read is left for opening the app to report.
pub fn set_startup_threads() {
    let Ok(config) = crate::Config::from_env() else {
        return;
    };
    if let Some(n) = Models::new(Arc::new(config), None).startup_threads() {
        tracing::debug!(
            threads = n,
            "CPU threads from the last-used model's settings"
        );
        hearth_engine::set_threads(n);
    }
}

/// One model's load settings; `None`: the app's option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSettings {
    pub context_length: Option<usize>,
    pub kv_type: Option<KvType>,
    pub device: Option<DevicePreference>,
    /// CPU threads (see the module's text for when they take effect).
    pub threads: Option<usize>,
}

impl LoadSettings {
    /// `base` with what these settings set.
    pub fn apply(&self, base: &EngineOptions) -> EngineOptions {
        EngineOptions {
            context_length: self.context_length.or(base.context_length),
            kv_type: self.kv_type.unwrap_or(base.kv_type),
            device: self.device.unwrap_or(base.device),
            threads: self.threads.or(base.threads),
            ..base.clone()
        }
    }

    /// Refuses what no load could use.
    fn check(&self) -> Result<(), CoreError> {
        if let Some(n) = self.context_length
            && !(MIN_CONTEXT..=MAX_CONTEXT).contains(&n)
        {
            return Err(CoreError::Invalid(format!(
                "a context of {n} tokens: choose {MIN_CONTEXT} to {MAX_CONTEXT}"
            )));
        }
        let max = max_threads();
        if let Some(n) = self.threads
            && !(1..=max).contains(&n)
        {
            return Err(CoreError::Invalid(format!(
                "{n} CPU threads: choose 1 to {max} (twice this machine's cores)"
            )));
        }
        Ok(())
    }

    /// The settings a library model keeps.
    pub(crate) fn from_entry(entry: &hearth_hub::ModelEntry) -> Self {
        Self::from_prefs(&entry.load)
    }

    /// The settings kept in the library; a name this build does not know
    /// (written by a newer one) is dropped with a warning.
    fn from_prefs(prefs: &LoadPrefs) -> Self {
        fn parse<T: std::str::FromStr>(what: &str, value: Option<&str>) -> Option<T>
        where
            T::Err: std::fmt::Display,
        {
            value?
                .parse()
                .map_err(|e| tracing::warn!(%e, "a model's {what} setting is ignored"))
                .ok()
        }
        Self {
            context_length: prefs.context_length.and_then(|n| usize::try_from(n).ok()),
            kv_type: parse("KV cache type", prefs.kv_type.as_deref()),
            device: parse("device", prefs.device.as_deref()),
            // A count this machine cannot use (the file edited, or written
            // on a bigger machine) is dropped like an unknown name.
            threads: prefs
                .threads
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=max_threads()).contains(n)),
        }
    }

    fn to_prefs(self) -> LoadPrefs {
        LoadPrefs {
            context_length: self.context_length.map(|n| n as u64),
            kv_type: self.kv_type.map(|t| t.name().to_owned()),
            device: self.device.map(|d| d.to_string()),
            threads: self.threads.map(|n| n as u64),
        }
    }
}

/// Bytes a cached key or value of `kv_type` takes, for the fit estimate.
pub(crate) fn kv_bytes_per_value(kv_type: KvType) -> f64 {
    kv_type.row_bytes(32) as f64 / 32.0
}

impl Models {
    /// The load settings of the library model `id`.
    pub fn load_settings(&self, id: &str) -> Result<LoadSettings, CoreError> {
        let library = self.library()?;
        let entry = library
            .list()
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| CoreError::ModelNotFound(id.to_owned()))?;
        Ok(LoadSettings::from_prefs(&entry.load))
    }

    /// Sets the load settings of the library model `id`; the next load uses
    /// them (a model loaded with others is loaded again when next used).
    pub fn set_load_settings(&self, id: &str, settings: &LoadSettings) -> Result<(), CoreError> {
        settings.check()?;
        if let Some(device) = settings.device
            && !hearth_engine::available_devices().contains(&device)
        {
            return Err(CoreError::Invalid(format!(
                "{device} is not available: this build has no {device} support or no such device"
            )));
        }
        let mut library = self.library()?;
        match library.set_load(id, settings.to_prefs()) {
            Err(hearth_hub::HubError::UnknownModel(id)) => Err(CoreError::ModelNotFound(id)),
            other => Ok(other?),
        }
    }

    /// The thread count of the library's most recently used model, the one
    /// a fresh app most likely loads first: the front end sets it before it
    /// starts other threads (see the module's text).
    pub fn startup_threads(&self) -> Option<usize> {
        LoadSettings::from_entry(&self.last_used()?).threads
    }

    /// The load settings of the model in `path`: its own when it is a library
    /// model, else none.
    pub fn load_settings_of(&self, path: &Path) -> LoadSettings {
        self.entry_of(path)
            .map(|entry| LoadSettings::from_entry(&entry))
            .unwrap_or_default()
    }
}

impl App {
    /// The options the model in `path` loads with (see the module's text).
    pub(crate) fn load_options(&self, path: &Path) -> EngineOptions {
        self.local
            .options_for(&self.models().load_settings_of(path))
    }

    /// The engine for the model in `path`, loaded with its settings.
    pub(crate) async fn local_engine(&self, path: &Path) -> Result<Arc<Engine>, CoreError> {
        let options = self.load_options(path);
        self.local.get(path, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_overlay_the_apps_options_and_keep_the_rest() {
        let base = EngineOptions {
            context_length: Some(2048),
            threads: Some(3),
            ..EngineOptions::default()
        };
        assert_eq!(LoadSettings::default().apply(&base), base);
        let set = LoadSettings {
            context_length: Some(8192),
            kv_type: Some(KvType::Q8_0),
            device: Some(DevicePreference::Cpu),
            threads: None,
        };
        let options = set.apply(&base);
        assert_eq!(options.context_length, Some(8192));
        assert_eq!(options.kv_type, KvType::Q8_0);
        assert_eq!(options.device, DevicePreference::Cpu);
        assert_eq!(options.threads, Some(3));
        let two = LoadSettings {
            threads: Some(2),
            ..LoadSettings::default()
        };
        assert_eq!(two.apply(&base).threads, Some(2));
    }

    #[test]
    fn stored_names_round_trip_and_unknown_ones_are_dropped() {
        let set = LoadSettings {
            context_length: Some(8192),
            kv_type: Some(KvType::Q8_0),
            device: Some(DevicePreference::Cpu),
            threads: Some(2),
        };
        assert_eq!(LoadSettings::from_prefs(&set.to_prefs()), set);
        let odd: LoadPrefs =
            serde_json::from_str(r#"{"kv_type":"q4_1","device":"tpu","context_length":4096}"#)
                .unwrap();
        let read = LoadSettings::from_prefs(&odd);
        assert_eq!(read.context_length, Some(4096));
        assert_eq!((read.kv_type, read.device), (None, None));
        let many = LoadPrefs {
            threads: Some(max_threads() as u64 + 1),
            ..LoadPrefs::default()
        };
        assert_eq!(LoadSettings::from_prefs(&many).threads, None);
    }

    #[test]
    fn contexts_out_of_range_are_refused() {
        for n in [0, MIN_CONTEXT - 1, MAX_CONTEXT + 1] {
            let s = LoadSettings {
                context_length: Some(n),
                ..LoadSettings::default()
            };
            assert!(s.check().is_err(), "{n}");
        }
        assert_eq!(kv_bytes_per_value(KvType::Q8_0), 34.0 / 32.0);
    }

    #[test]
    fn thread_counts_out_of_range_are_refused() {
        let max = max_threads();
        for n in [0, max + 1, usize::MAX] {
            let s = LoadSettings {
                threads: Some(n),
                ..LoadSettings::default()
            };
            let err = s.check().unwrap_err();
            assert!(
                err.to_string().contains(&format!("1 to {max}")),
                "{n}: {err}"
            );
        }
        for n in [1, max] {
            let s = LoadSettings {
                threads: Some(n),
                ..LoadSettings::default()
            };
            assert!(s.check().is_ok(), "{n}");
        }
    }
}
