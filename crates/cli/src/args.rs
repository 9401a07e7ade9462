//! Arguments shared by several subcommands, and how they become engine options.

use std::path::PathBuf;

use anyhow::{Result, bail};
use hearth_engine::{
    DevicePreference, Engine, EngineOptions, GenerateRequest, Prompt, SamplingParams,
};

/// Which model to load, and how.
#[derive(clap::Args, Debug)]
pub(crate) struct ModelArgs {
    /// Path to a .gguf model file.
    #[arg(short, long, env = hearth_core::env::MODEL)]
    pub(crate) model: Option<String>,

    /// Context window in tokens (default: the model's, capped at 4096).
    #[arg(long)]
    pub(crate) ctx: Option<usize>,

    /// CPU threads (default: all cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,

    /// Device: auto, cpu, cuda, metal (GPU builds need the matching feature).
    #[arg(long, default_value = "auto")]
    pub(crate) device: DevicePreference,
}

impl ModelArgs {
    /// The model file named with `-m` or `HEARTH_MODEL`.
    pub(crate) fn path(&self) -> Result<PathBuf> {
        match &self.model {
            Some(model) => Ok(PathBuf::from(model)),
            None => bail!(
                "no model given: pass -m PATH or set {}",
                hearth_core::env::MODEL
            ),
        }
    }

    /// Engine options from the flags. Sets the thread count, so call it before
    /// starting other threads: it goes through the environment, which is only
    /// safe while single-threaded.
    pub(crate) fn engine_options(&self) -> EngineOptions {
        if let Some(n) = self.threads {
            hearth_engine::set_threads(n);
        }
        EngineOptions {
            context_length: self.ctx,
            device: self.device,
            threads: self.threads,
        }
    }

    /// Loads the model (see [`ModelArgs::engine_options`] for when to call it).
    pub(crate) fn load(&self) -> Result<Engine> {
        let options = self.engine_options();
        Ok(Engine::load(self.path()?, options)?)
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
    /// A request for `prompt` with these settings.
    pub(crate) fn request(&self, prompt: Prompt) -> GenerateRequest {
        GenerateRequest {
            prompt,
            sampling: self.params(),
            max_tokens: self.max_tokens,
            stop: self.stop.clone(),
        }
    }

    fn params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            seed: self.seed,
        }
    }
}
