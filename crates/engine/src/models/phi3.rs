//! Phi-3 (`phi3`): llama-shaped blocks with one fused `attn_qkv` projection
//! (rows q, k, v) and one fused `ffn_up` holding gate then up, rotary in the
//! Hugging Face (halves) layout, and a sliding window over all layers when the
//! file declares one.
//!
//! Read from llama.cpp's `src/models/phi3.cpp` and HF's `modeling_phi3.py`.
//! Not handled: the 128k variants' LongRoPE factors (`rope_factors_long/short`),
//! which are ignored with a warning.

use candle_core::Device;

use super::layers::{
    Activation, Attention, Embeddings, GateUp, Hparams, KvCache, Loader, Mlp, QkvProj, RopeLayout,
    RopeSpec, RotaryTables,
};
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Loads a Phi-3 model with room for `context` positions.
pub(crate) fn load(
    gguf: &GgufFile,
    device: &Device,
    hp: &Hparams,
    context: usize,
) -> Result<Transformer, EngineError> {
    if gguf.has_tensor("rope_factors_long.weight") {
        tracing::warn!("phi3 LongRoPE factors are not supported; quality may suffer");
    }
    let window_key = gguf.arch_key("attention.sliding_window")?;
    let window = match gguf.get(&window_key) {
        Some(_) => Some(gguf.get_usize(&window_key)?).filter(|&w| w > 0 && w < context),
        None => None,
    };
    let ld = Loader {
        gguf,
        device,
        eps: hp.eps,
    };
    let rotary = RotaryTables::new(context)
        .get(
            RopeSpec {
                dim: hp.rope_dim,
                base: hp.rope_base,
                linear_factor: hp.rope_linear_factor.unwrap_or(1.0),
                freq_factors: None,
                layout: RopeLayout::Halves,
            },
            device,
        )
        .map_err(EngineError::Compute)?;
    let mut blocks = Vec::with_capacity(hp.n_layer);
    for i in 0..hp.n_layer {
        let p = format!("blk.{i}");
        let attn = Attention {
            qkv: QkvProj::Fused(ld.linear(&format!("{p}.attn_qkv"))?),
            out: ld.linear(&format!("{p}.attn_output"))?,
            q_norm: None,
            k_norm: None,
            n_head: hp.n_head,
            n_kv_head: hp.n_kv_head,
            head_dim: hp.head_dim,
            scale: 1.0 / (hp.head_dim as f64).sqrt(),
            rotary: rotary.clone(),
            window,
            cache: KvCache::new(context),
        };
        blocks.push(Block {
            attn_norm: ld.norm(&format!("{p}.attn_norm"))?,
            attn,
            post_attn_norm: None,
            ffn_norm: ld.norm(&format!("{p}.ffn_norm"))?,
            mlp: Mlp {
                gate_up: GateUp::Fused(ld.linear(&format!("{p}.ffn_up"))?),
                down: ld.linear(&format!("{p}.ffn_down"))?,
                act: Activation::Silu,
            },
            post_ffn_norm: None,
        });
    }
    Ok(Transformer {
        embed: Embeddings::load(&ld)?,
        embed_scale: None,
        blocks,
        norm: ld.norm("output_norm")?,
        window,
        context,
        device: device.clone(),
    })
}
