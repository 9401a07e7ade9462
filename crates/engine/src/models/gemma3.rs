//! Gemma 3 (`gemma3`): embeddings scaled by `sqrt(d_model)`, per-head q/k RMS
//! norm, RMS norms before *and after* attention and the MLP, a GELU (tanh) gated
//! MLP, and interleaved attention: five sliding-window layers (rope base 10 000)
//! then one global layer (rope base `gemma3.rope.freq_base`).
//!
//! Read from llama.cpp's `src/models/gemma3.cpp` and Hugging Face's
//! `modeling_gemma3.py`. The GGUF norm weights already include Gemma's `1 +`
//! (llama.cpp's converter adds it), so they are used as stored. Unlike candle's
//! `quantized_gemma3.rs`, rotary tables are built once per base at the loaded
//! context, and the 262k-row embedding stays quantised.

use super::layers::Activation;
use super::load::Loader;
use super::rope::{RopeLayout, RopeScaling, RopeSpec, RotaryTables};
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Every `PATTERN`-th layer is global; the others use the sliding window.
const DEFAULT_SWA_PATTERN: usize = 6;
/// Rope base of the sliding-window layers (fixed in llama.cpp and HF's config).
const DEFAULT_LOCAL_ROPE_BASE: f64 = 10_000.0;
/// Layer count of Gemma 3 27B, the one size whose attention scale is
/// `1/sqrt(d_model / n_head)` (its `query_pre_attn_scalar`) rather than `1/sqrt(head_dim)`.
const LAYERS_27B: usize = 62;

/// Loads a Gemma 3 model.
pub(crate) fn load(ld: &Loader<'_>) -> Result<Transformer, EngineError> {
    let (gguf, hp) = (ld.gguf, &ld.hp);
    let window = gguf.get_usize(&gguf.arch_key("attention.sliding_window")?)?;
    let pattern_key = gguf.arch_key("attention.sliding_window_pattern")?;
    let pattern = gguf
        .optional(&pattern_key, GgufFile::get_usize)?
        .map_or(DEFAULT_SWA_PATTERN, |p| p.max(1));
    let local_base = gguf
        .optional(&gguf.arch_key("rope.freq_base_swa")?, GgufFile::get_f64)?
        .unwrap_or(DEFAULT_LOCAL_ROPE_BASE);
    let scale = if hp.n_layer == LAYERS_27B {
        1.0 / ((hp.d_model / hp.n_head) as f64).sqrt()
    } else {
        1.0 / (hp.head_dim as f64).sqrt()
    };
    let mut tables = RotaryTables::new(ld.context);
    let mut blocks = Vec::with_capacity(hp.n_layer);
    for i in 0..hp.n_layer {
        let p = format!("blk.{i}");
        let global = (i + 1) % pattern == 0;
        // Rope scaling (linear in the 4B+ models) applies to the global
        // layers only, as llama.cpp's `rope_freq_scale_train_swa` is 1.
        let spec = RopeSpec {
            dim: hp.rope_dim,
            base: if global { hp.rope_base } else { local_base },
            scaling: if global {
                hp.rope_scaling
            } else {
                RopeScaling::None
            },
            freq_factors: None,
            attn_factor: hp.rope_attn_factor,
            layout: RopeLayout::Halves,
        };
        let rotary = ld.rotary(&mut tables, spec)?;
        let mut attn = ld.attention(
            &p,
            ld.separate_qkv(&p)?,
            rotary,
            (!global).then_some(window),
        )?;
        attn.q_norm = Some(ld.norm(&format!("{p}.attn_q_norm"))?);
        attn.k_norm = Some(ld.norm(&format!("{p}.attn_k_norm"))?);
        attn.scale = scale;
        let mlp = ld.gated_mlp(&p, Activation::GeluTanh)?;
        let mut block = Block::pre_norm(ld, &p, attn, mlp)?;
        block.post_attn_norm = Some(ld.norm(&format!("{p}.post_attention_norm"))?);
        block.post_ffn_norm = Some(ld.norm(&format!("{p}.post_ffw_norm"))?);
        blocks.push(block);
    }
    let mut model = Transformer::new(ld, blocks)?;
    model.embed_scale = Some((hp.d_model as f64).sqrt());
    model.window = Some(window);
    Ok(model)
}
