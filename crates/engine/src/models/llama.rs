//! The llama family and its close relatives: `llama` (Llama 2/3.x, Mistral,
//! TinyLlama, SmolLM2), `qwen2` (q/k/v biases) and `qwen3` (per-head q/k RMS
//! norm). They differ only in switches, which the tensors themselves reveal
//! (a bias or a q/k norm is there or not), plus the rotary layout.
//!
//! Tensor names and rope conventions follow llama.cpp's GGUF converter
//! (`convert_hf_to_gguf.py`) and graph builders (`src/models/llama.cpp`,
//! `qwen2.cpp`, `qwen3.cpp`).

use candle_core::Device;

use super::layers::{Activation, Hparams};
use super::load::Loader;
use super::rope::{RopeLayout, RopeSpec, RotaryTables};
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Llama 3.1+ stores its long-context rope correction as per-frequency divisors.
const ROPE_FREQS: &str = "rope_freqs.weight";

/// The per-frequency rope divisors in tensor `name` (llama 3's
/// `rope_freqs`, Phi-3's `rope_factors_long/short`), if the file has it: one
/// for each pair of rotated dimensions.
pub(super) fn rope_factors(
    gguf: &GgufFile,
    device: &Device,
    hp: &Hparams,
    name: &str,
) -> Result<Option<Vec<f32>>, EngineError> {
    if !gguf.has_tensor(name) {
        return Ok(None);
    }
    let factors = gguf
        .tensor_f32(name, device)?
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|source| EngineError::Tensor {
            name: name.into(),
            source,
        })?;
    if factors.len() != hp.rope_dim / 2 {
        return Err(EngineError::InvalidGguf {
            path: gguf.path().to_path_buf(),
            reason: format!(
                "{name} has {} factors, not half the rope dimension {}",
                factors.len(),
                hp.rope_dim
            ),
        });
    }
    Ok(Some(factors))
}

fn rope_spec(ld: &Loader<'_>) -> Result<RopeSpec, EngineError> {
    let freq_factors = rope_factors(ld.gguf, ld.device, &ld.hp, ROPE_FREQS)?;
    Ok(RopeSpec {
        dim: ld.hp.rope_dim,
        base: ld.hp.rope_base,
        scaling: ld.hp.rope_scaling,
        freq_factors,
        attn_factor: ld.hp.rope_attn_factor,
        // llama's converter permutes q/k rows to the interleaved layout; the
        // Qwen converters do not.
        layout: if ld.hp.arch == "llama" {
            RopeLayout::Interleaved
        } else {
            RopeLayout::Halves
        },
    })
}

/// Loads a llama/qwen2/qwen3 model.
pub(crate) fn load(ld: &Loader<'_>) -> Result<Transformer, EngineError> {
    let rotary = ld.rotary(&mut RotaryTables::new(ld.context), rope_spec(ld)?)?;
    let mut blocks = Vec::with_capacity(ld.hp.n_layer);
    for i in 0..ld.hp.n_layer {
        let p = format!("blk.{i}");
        let mut attn = ld.attention(&p, ld.separate_qkv(&p)?, rotary.clone(), None)?;
        attn.q_norm = ld.opt_norm(&format!("{p}.attn_q_norm"))?;
        attn.k_norm = ld.opt_norm(&format!("{p}.attn_k_norm"))?;
        let mlp = ld.gated_mlp(&p, Activation::Silu)?;
        blocks.push(Block::pre_norm(ld, &p, attn, mlp)?);
    }
    Transformer::new(ld, blocks)
}
