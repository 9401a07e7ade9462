//! Model architectures. One file per family, all behind [`Model`], so the
//! generation loop never matches on architecture.

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
pub(crate) trait Model: Send {
    /// Runs `tokens` at positions `pos..pos + tokens.len()`, appending their keys and
    /// values to the cache (which must hold exactly `pos` positions), and returns the
    /// logits of the last token as an f32 tensor of shape `[vocab]`.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Tensor, EngineError>;

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
}

/// Builds the model for `gguf`'s architecture on `device`.
pub(crate) fn load(
    gguf: &GgufFile,
    device: &Device,
    opts: &LoadOptions,
) -> Result<(Box<dyn Model>, ModelInfo), EngineError> {
    let _ = (gguf, device, opts);
    Err(EngineError::InvalidRequest("not yet".into()))
}
