//! Arguments shared by several subcommands, and how they become engine options.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use hearth_backend::{ChatRequest, Message, PromptMode};
use hearth_core::{Config, KEYCHAIN_SERVICE, LoadSettings, Models};
use hearth_engine::{DevicePreference, Engine, EngineOptions, KvType};
use hearth_secrets::{KeyringStore, SecretStore};

/// Which model to load, and how.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ModelArgs {
    /// Model: a library id (see `hearth list`) or a path to a .gguf file
    /// [default: the most recently used model in the library].
    #[arg(short, long, env = hearth_core::env::MODEL)]
    pub(crate) model: Option<String>,

    /// Context window in tokens (default: the model's load setting, else the
    /// model's own, capped at 4096).
    #[arg(long)]
    pub(crate) ctx: Option<usize>,

    /// CPU threads [default: the model's load setting, else all cores].
    #[arg(long)]
    pub(crate) threads: Option<usize>,

    /// Device: auto, cpu, cuda, metal (GPU builds need the matching feature)
    /// [default: the model's load setting, else auto].
    #[arg(long)]
    pub(crate) device: Option<DevicePreference>,

    /// KV cache type: f16 (as llama.cpp's default), q8_0 (about half the
    /// memory of f16, as llama.cpp's `-ctk q8_0 -ctv q8_0`) or f32
    /// [default: the model's load setting, else f16].
    #[arg(long)]
    pub(crate) kv_type: Option<KvType>,

    /// A draft model for speculative decoding: a small .gguf with the same
    /// vocabulary (library id or path) that proposes tokens for the model
    /// to check in one pass. Same answers, faster when it guesses well.
    #[arg(long)]
    pub(crate) draft: Option<String>,

    /// Tokens the draft proposes per step (1 to 16).
    #[arg(long, default_value_t = hearth_engine::DEFAULT_DRAFT_TOKENS)]
    pub(crate) draft_tokens: usize,
}

impl ModelArgs {
    /// The model file named with `-m` or `HEARTH_MODEL` (a library id or a
    /// path), else the library's most recently used model.
    pub(crate) fn path(&self) -> Result<PathBuf> {
        let models = models(false)?;
        match &self.model {
            Some(model) => Ok(models.resolve(model)?),
            None => default_model(&models).map(|(path, _)| path),
        }
    }

    /// What a conversation stores to find this model again: its library id,
    /// or the canonical path of a file outside the library.
    pub(crate) fn reference(&self) -> Result<String> {
        let models = models(false)?;
        let name = match &self.model {
            Some(model) => model.clone(),
            None => return default_model(&models).map(|(_, id)| id),
        };
        let path = models.resolve(&name)?;
        if let Some(id) = models.id_of(&path) {
            return Ok(id);
        }
        let path = path
            .canonicalize()
            .with_context(|| format!("cannot find the model file {}", path.display()))?;
        Ok(path.display().to_string())
    }

    /// Engine options from the flags. Sets the thread count, so call it before
    /// starting other threads: it goes through the environment, which is only
    /// safe while single-threaded.
    pub(crate) fn engine_options(&self) -> Result<EngineOptions> {
        let threads = match self.threads {
            Some(0) => bail!("--threads: at least 1"),
            Some(n) => Some(n),
            None => self.settings_threads(),
        };
        if let Some(n) = threads {
            hearth_engine::set_threads(n);
        }
        let draft = match &self.draft {
            Some(draft) => Some(models(false)?.resolve(draft)?),
            None => None,
        };
        Ok(EngineOptions {
            context_length: self.ctx,
            device: self.device.unwrap_or_default(),
            threads,
            candle_matmul: false,
            kv_type: self.kv_type.unwrap_or_default(),
            draft,
            draft_tokens: self.draft_tokens,
            ..EngineOptions::default()
        })
    }

    /// The flags given, which win over a library model's load settings (set
    /// in the app's Models screen).
    pub(crate) fn forced(&self) -> LoadSettings {
        LoadSettings {
            context_length: self.ctx,
            kv_type: self.kv_type,
            device: self.device,
            threads: self.threads,
        }
    }

    /// The thread count the model to load is set to, if it is a library
    /// model with one (read before any thread starts: see
    /// [`ModelArgs::engine_options`]).
    fn settings_threads(&self) -> Option<usize> {
        let models = models(false).ok()?;
        let path = self.path().ok()?;
        models.load_settings_of(&path).threads
    }

    /// Opens the app to load the model with these flags (see
    /// [`ModelArgs::engine_options`] for when to call it).
    pub(crate) fn app(&self) -> Result<hearth_core::App> {
        crate::open::app_with(self.engine_options()?, self.forced())
    }

    /// Loads the model with its load settings under these flags (see
    /// [`ModelArgs::engine_options`] for when to call it) and returns it
    /// with its file.
    pub(crate) fn load(&self) -> Result<(Engine, PathBuf)> {
        let base = self.engine_options()?;
        let path = self.path()?;
        let own = models(false)?.load_settings_of(&path);
        let options = self.forced().apply(&own.apply(&base));
        Ok((Engine::load(&path, options)?, path))
    }
}

/// The model library of this Hearth. With `keychain`, the Hugging Face token
/// in the OS keychain is used (and `hearth login` can store one).
pub(crate) fn models(keychain: bool) -> Result<Models> {
    let config = std::sync::Arc::new(Config::from_env()?);
    let secrets = if keychain {
        match KeyringStore::open(KEYCHAIN_SERVICE) {
            Ok(store) => Some(std::sync::Arc::new(store) as std::sync::Arc<dyn SecretStore>),
            Err(e) => {
                tracing::debug!(error = %e, "no OS keychain");
                None
            }
        }
    } else {
        None
    };
    Ok(Models::new(config, secrets))
}

/// Notes in the library that the model in `path` was used and how fast it ran
/// (the fit estimate then shows the measured speed).
pub(crate) fn record_run(path: &std::path::Path, engine: &Engine, decode_tok_s: Option<f64>) {
    if let Ok(models) = models(false) {
        models.record_run(path, engine.load_time().as_secs_f64(), decode_tok_s);
    }
}

/// The library's most recently used model: its file and id.
fn default_model(models: &Models) -> Result<(PathBuf, String)> {
    match models.default_model()? {
        Some(entry) => Ok((models.resolve(&entry.id)?, entry.id)),
        None => {
            let hint = models
                .catalog(hearth_core::hearth_hub::RECOMMEND_CONTEXT)
                .ok()
                .and_then(|all| all.into_iter().find(|c| c.recommended))
                .map_or_else(
                    || "hearth pull REPO".to_owned(),
                    |best| format!("hearth pull {}", best.entry.pull_spec()),
                );
            bail!(
                "no model given and the library is empty: pass -m ID or PATH, set {}, \
                 or download one with `{hint}` (see `hearth catalog`)",
                hearth_core::env::MODEL
            )
        }
    }
}

/// How to sample and when to stop.
#[derive(clap::Args, Debug)]
pub(crate) struct SamplingArgs {
    /// Temperature; 0 is greedy and deterministic.
    #[arg(long, default_value_t = 0.8)]
    pub(crate) temperature: f32,

    /// Keep only the K most likely tokens (0 = off).
    #[arg(long, default_value_t = 40)]
    pub(crate) top_k: usize,

    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches P.
    #[arg(long, default_value_t = 0.95)]
    pub(crate) top_p: f32,

    /// Drop tokens less likely than P times the most likely one.
    #[arg(long, default_value_t = 0.05)]
    pub(crate) min_p: f32,

    /// Penalty for tokens seen in the last --repeat-last-n tokens (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) repeat_penalty: f32,

    /// How many recent tokens the repeat penalty looks at.
    #[arg(long, default_value_t = 64)]
    pub(crate) repeat_last_n: usize,

    /// Seed for reproducible sampling (default: random, shown in the stats).
    #[arg(long)]
    pub(crate) seed: Option<u64>,

    /// Stop after this many tokens.
    #[arg(long)]
    pub(crate) max_tokens: Option<usize>,

    /// Stop when the answer contains this text (repeatable; not printed).
    #[arg(long = "stop")]
    pub(crate) stop: Vec<String>,
}

impl SamplingArgs {
    /// A request for `messages` read in `mode`, with these settings.
    pub(crate) fn request(&self, messages: Vec<Message>, mode: PromptMode) -> ChatRequest {
        // Out-of-range counts saturate: a limit past u32 is no limit in practice.
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ChatRequest {
            messages,
            mode,
            max_tokens: self.max_tokens.map(count),
            temperature: Some(self.temperature),
            top_p: Some(self.top_p),
            top_k: Some(count(self.top_k)),
            min_p: Some(self.min_p),
            repeat_penalty: Some(self.repeat_penalty),
            repeat_last_n: Some(count(self.repeat_last_n)),
            seed: self.seed,
            stop: self.stop.clone(),
            ..ChatRequest::default()
        }
    }
}
