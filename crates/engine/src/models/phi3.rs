//! Phi-3 (`phi3`): llama-shaped blocks with one fused `attn_qkv` projection
//! (rows q, k, v) and one fused `ffn_up` holding gate then up, rotary in the
//! Hugging Face (halves) layout, and a sliding window over all layers when the
//! file declares one.
//!
//! Read from llama.cpp's `src/models/phi3.cpp` and HF's `modeling_phi3.py`.
//! Not handled: the 128k variants' LongRoPE factors (`rope_factors_long/short`),
//! which are ignored with a warning.

use super::attention::QkvProj;
use super::layers::{Activation, GateUp, Mlp, RopeLayout, RopeSpec, RotaryTables};
use super::load::Loader;
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Loads a Phi-3 model.
pub(crate) fn load(ld: &Loader<'_>) -> Result<Transformer, EngineError> {
    let (gguf, hp) = (ld.gguf, &ld.hp);
    if ld.has("rope_factors_long.weight") {
        tracing::warn!("phi3 LongRoPE factors are not supported; quality may suffer");
    }
    let window_key = gguf.arch_key("attention.sliding_window")?;
    let window = gguf
        .optional(&window_key, GgufFile::get_usize)?
        .filter(|&w| w > 0 && w < ld.context);
    let spec = RopeSpec {
        dim: hp.rope_dim,
        base: hp.rope_base,
        linear_factor: hp.rope_linear_factor.unwrap_or(1.0),
        freq_factors: None,
        layout: RopeLayout::Halves,
    };
    let rotary = ld.rotary(&mut RotaryTables::new(ld.context), spec)?;
    let mut blocks = Vec::with_capacity(hp.n_layer);
    for i in 0..hp.n_layer {
        let p = format!("blk.{i}");
        let qkv = QkvProj::Fused(ld.linear(&format!("{p}.attn_qkv"))?);
        let attn = ld.attention(&p, qkv, rotary.clone(), window)?;
        let mlp = Mlp {
            gate_up: GateUp::Fused(ld.linear(&format!("{p}.ffn_up"))?),
            down: ld.linear(&format!("{p}.ffn_down"))?,
            act: Activation::Silu,
        };
        blocks.push(Block::pre_norm(ld, &p, attn, mlp)?);
    }
    let mut model = Transformer::new(ld, blocks)?;
    model.window = window;
    Ok(model)
}
