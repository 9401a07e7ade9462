//! Model architectures. One file per family, all behind [`Model`], so the
//! generation loop never matches on architecture.
//!
//! Every family is an instance of one decoder ([`transformer`]) built from the
//! shared pieces in [`layers`]; the family files (`llama.rs` for llama, qwen2 and
//! qwen3, `gemma3.rs`, `phi3.rs`) only map GGUF tensors and hyperparameters.

mod attention;
mod cache;
mod check;
mod gemma3;
mod layers;
mod llama;
mod load;
mod phi3;
mod qweight;
mod rope;
mod transformer;

pub use crate::support::runnable_types;
pub use cache::SeqCache;

use candle_core::{Device, Tensor};

use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Architectures Hearth can run (the `general.architecture` values).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3", "phi3"];

/// Context length used when the caller does not ask for one: the model's own
/// training context, capped here so a 128k-context model does not reserve
/// memory for 128k positions by default (what LM Studio and Ollama do too).
pub const DEFAULT_CONTEXT_CAP: usize = 4096;

/// A loaded transformer: weights only, shared by every sequence it runs
/// (`Sync`: the batched server steps several at once). Each sequence's keys
/// and values live in its own [`SeqCache`], passed to every forward.
pub trait Model: Send + Sync {
    /// An empty cache for one sequence of this model (no memory yet).
    fn new_cache(&self) -> SeqCache;

    /// Bytes one cache takes when it holds the whole context: what a KV slot
    /// can grow to, and the unit of the engine's KV memory budget.
    fn full_cache_bytes(&self) -> usize;

    /// Runs `tokens` at positions `pos..pos + tokens.len()`, appending their keys and
    /// values to `cache` (which must hold exactly `pos` positions), and returns the
    /// logits of the last token as an f32 tensor of shape `[vocab]`. On an error
    /// the cache is truncated back to `pos`.
    fn forward(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
    ) -> Result<Tensor, EngineError> {
        Ok(self.forward_tail(cache, tokens, pos, 1)?.squeeze(0)?)
    }

    /// [`Model::forward`], returning the logits of the last `rows` tokens (each
    /// predicting the token after it) as an f32 tensor of shape `[rows, vocab]`.
    /// Scoring a text (perplexity) asks for many rows; a chat turn for one.
    fn forward_tail(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> Result<Tensor, EngineError>;

    /// One new token for each of several sequences, `tokens[i]` appended to
    /// `caches[i]` at the position it holds: the logits `[n, vocab]`, row `i`
    /// for sequence `i`. The batched decode of `hearth serve --parallel`:
    /// a transformer runs the weights once for all rows. This default runs
    /// them one at a time. On an error every cache is left as it was.
    fn forward_batch(
        &self,
        caches: &mut [&mut SeqCache],
        tokens: &[u32],
    ) -> Result<Tensor, EngineError> {
        let mut rows = Vec::with_capacity(tokens.len());
        for (cache, &token) in caches.iter_mut().zip(tokens) {
            let pos = cache.len();
            match self.forward(cache, &[token], pos) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    for (cache, _) in caches.iter_mut().zip(&rows) {
                        let len = cache.len();
                        cache.truncate(len.saturating_sub(1));
                    }
                    return Err(e);
                }
            }
        }
        Ok(Tensor::stack(&rows, 0)?)
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// `general.architecture`.
    pub architecture: String,
    /// `general.name`, if the file has one.
    pub name: Option<String>,
    /// The context window this instance was loaded with.
    pub context_length: usize,
    /// The context the model was trained for (`{arch}.context_length`).
    pub train_context_length: usize,
    /// The longest context the file says the model handles:
    /// `train_context_length`, or with YaRN or linear rope scaling the factor
    /// times `rope.scaling.original_context_length` when that is longer.
    pub max_context_length: usize,
    pub vocab_size: usize,
    pub n_layers: usize,
    pub embedding_length: usize,
    pub file_size: u64,
}

impl ModelInfo {
    /// What to tell the user when this instance's context window is longer
    /// than the model handles (llama.cpp warns too); `None` when it fits.
    /// [`crate::Engine::load`] logs it as a warning.
    pub fn context_warning(&self) -> Option<String> {
        (self.context_length > self.max_context_length).then(|| {
            format!(
                "the context window of {} tokens is past this model's training context ({} \
                 tokens): its answers may degrade beyond it",
                self.context_length, self.max_context_length
            )
        })
    }
}

/// How to load a model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Context window; `None` means the model's own, capped at [`DEFAULT_CONTEXT_CAP`].
    pub context_length: Option<usize>,
    /// Multiply with candle's quantised matmul instead of Hearth's kernels (and
    /// copy the weights instead of mapping them): the reference the kernels are
    /// compared with in tests and benchmarks.
    pub candle_matmul: bool,
    /// How the KV cache stores keys and values (on the CPU; a GPU keeps f32).
    pub kv_type: KvType,
}

/// How the KV cache stores keys and values: llama.cpp's
/// `--cache-type-k/--cache-type-v` for the types Hearth has. f16 is the
/// default, as in llama.cpp; `q8_0` takes 34 bytes per 32 values (a little
/// over half of f16) for a slightly less exact attention; f32 is the exact
/// reference. On a GPU the cache is f32 whatever is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KvType {
    F32,
    #[default]
    F16,
    Q8_0,
}

impl KvType {
    pub const ALL: [KvType; 3] = [KvType::F32, KvType::F16, KvType::Q8_0];

    /// The name llama.cpp and Hearth's flags use.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    /// Bytes a row of `values` values takes (`values` a multiple of 32 for `q8_0`).
    pub fn row_bytes(self, values: usize) -> usize {
        match self {
            KvType::F32 => 4 * values,
            KvType::F16 => 2 * values,
            KvType::Q8_0 => values.div_ceil(32) * 34,
        }
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KvType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown KV cache type {s:?}: f32, f16 or q8_0"))
    }
}

/// The file's architecture, if Hearth can run it; else the error naming the ones
/// it can. Cheap: check it before doing anything else with a file.
pub(crate) fn ensure_supported(gguf: &GgufFile) -> Result<&str, EngineError> {
    let arch = gguf.architecture()?;
    if SUPPORTED_ARCHITECTURES.contains(&arch) {
        Ok(arch)
    } else {
        Err(EngineError::UnsupportedArchitecture {
            arch: arch.to_owned(),
            supported: SUPPORTED_ARCHITECTURES.join(", "),
        })
    }
}

/// Builds the model for `gguf`'s architecture on `device`.
///
/// Weights stay in their stored quantised types; the KV cache grows as positions
/// are added, up to the context (`opts.context_length`, or the training context
/// capped at [`DEFAULT_CONTEXT_CAP`]).
pub fn load(
    gguf: &GgufFile,
    device: &Device,
    opts: &LoadOptions,
) -> Result<(Box<dyn Model>, ModelInfo), EngineError> {
    let arch = ensure_supported(gguf)?;
    let hp = layers::Hparams::read(gguf)?;
    check::model(gguf, &hp, device, opts.candle_matmul)?;
    let context = match opts.context_length {
        Some(0) => {
            return Err(EngineError::InvalidRequest(
                "the context length must be at least 1".into(),
            ));
        }
        Some(n) => n,
        None => hp.train_ctx.clamp(1, DEFAULT_CONTEXT_CAP),
    };
    if opts.kv_type == KvType::Q8_0 && !hp.head_dim.is_multiple_of(32) {
        return Err(EngineError::InvalidRequest(format!(
            "a q8_0 KV cache needs a head size that is a multiple of 32; this model's is {}",
            hp.head_dim
        )));
    }
    let ld = load::Loader {
        gguf,
        device,
        hp: hp.clone(),
        context,
        candle_matmul: opts.candle_matmul,
        kv_type: opts.kv_type,
    };
    let model = match arch {
        "gemma3" => gemma3::load(&ld)?,
        "phi3" => phi3::load(&ld)?,
        _ => llama::load(&ld)?,
    };
    let name = gguf
        .optional("general.name", GgufFile::get_str)?
        .map(str::to_owned);
    let info = ModelInfo {
        architecture: hp.arch.clone(),
        name,
        context_length: context,
        train_context_length: hp.train_ctx,
        max_context_length: hp.max_ctx,
        vocab_size: hp.vocab,
        n_layers: hp.n_layer,
        embedding_length: hp.d_model,
        file_size: gguf.file_size(),
    };
    tracing::debug!(arch = %info.architecture, layers = info.n_layers, context, "model loaded");
    Ok((Box::new(model), info))
}
