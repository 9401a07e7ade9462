//! Model architectures. One file per family, all behind [`Model`], so the
//! generation loop never matches on architecture.
//!
//! Every family is an instance of one decoder ([`transformer`]) built from the
//! shared pieces in [`layers`]; the family files (`llama.rs` for llama, qwen2 and
//! qwen3, `gemma3.rs`, `phi3.rs`) only map GGUF tensors and hyperparameters.

mod attention;
mod check;
mod gemma3;
mod layers;
mod llama;
mod load;
mod phi3;
mod qweight;
mod transformer;

pub use crate::support::runnable_types;

use candle_core::{Device, Tensor};

use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Architectures Hearth can run (the `general.architecture` values).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3", "phi3"];

/// Context length used when the caller does not ask for one: the model's own
/// training context, capped here so a 128k-context model does not reserve
/// memory for 128k positions by default (what LM Studio and Ollama do too).
pub const DEFAULT_CONTEXT_CAP: usize = 4096;

/// A loaded transformer with its KV cache.
pub trait Model: Send {
    /// Runs `tokens` at positions `pos..pos + tokens.len()`, appending their keys and
    /// values to the cache (which must hold exactly `pos` positions), and returns the
    /// logits of the last token as an f32 tensor of shape `[vocab]`.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor, EngineError> {
        Ok(self.forward_tail(tokens, pos, 1)?.squeeze(0)?)
    }

    /// [`Model::forward`], returning the logits of the last `rows` tokens (each
    /// predicting the token after it) as an f32 tensor of shape `[rows, vocab]`.
    /// Scoring a text (perplexity) asks for many rows; a chat turn for one.
    fn forward_tail(
        &mut self,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> Result<Tensor, EngineError>;

    /// Keeps only the first `len` cached positions.
    fn truncate_cache(&mut self, len: usize);
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
    pub vocab_size: usize,
    pub n_layers: usize,
    pub embedding_length: usize,
    pub file_size: u64,
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
    let ld = load::Loader {
        gguf,
        device,
        hp: hp.clone(),
        context,
        candle_matmul: opts.candle_matmul,
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
        vocab_size: hp.vocab,
        n_layers: hp.n_layer,
        embedding_length: hp.d_model,
        file_size: gguf.file_size(),
    };
    tracing::debug!(arch = %info.architecture, layers = info.n_layers, context, "model loaded");
    Ok((Box::new(model), info))
}
