//! Phi-3 (`phi3`): llama-shaped blocks with one fused `attn_qkv` projection
//! (rows q, k, v) and one fused `ffn_up` holding gate then up, rotary in the
//! Hugging Face (halves) layout, and a sliding window over all layers when the
//! file declares one.
//!
//! The 128k variants (Phi-3.5-mini, Phi-4-mini) use LongRoPE: per-frequency
//! divisors, `rope_factors_short` up to the original context
//! (`rope.scaling.original_context_length`, 4096) and `rope_factors_long` when
//! the model is loaded with a longer one, as llama.cpp chooses
//! (`llama_model::get_rope_factors`), and cos and sin scaled by
//! `rope.scaling.attn_factor` at every context.
//!
//! Read from llama.cpp's `src/models/phi3.cpp` and HF's `modeling_phi3.py`.

use candle_core::Device;

use super::attention::QkvProj;
use super::layers::{Activation, GateUp, Hparams, Mlp};
use super::llama::rope_factors;
use super::load::Loader;
use super::rope::{RopeLayout, RopeSpec, RotaryTables};
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// LongRoPE's divisors for contexts past the original one, and up to it.
const ROPE_LONG: &str = "rope_factors_long.weight";
const ROPE_SHORT: &str = "rope_factors_short.weight";

/// Which LongRoPE factors a model loaded with `context` positions takes: the
/// long ones past the original context, as llama.cpp decides once per
/// context (not per position, as Hugging Face's `Phi3LongRoPEScaledRotaryEmbedding`
/// does by sequence length).
fn longrope_factors(hp: &Hparams, context: usize) -> &'static str {
    if context > hp.rope_orig_ctx {
        ROPE_LONG
    } else {
        ROPE_SHORT
    }
}

/// The rotary of every layer of a model loaded with `context` positions:
/// the LongRoPE factors for that context and the attention factor, when the
/// file has them.
fn rope_spec(
    gguf: &GgufFile,
    device: &Device,
    hp: &Hparams,
    context: usize,
) -> Result<RopeSpec, EngineError> {
    let factors = longrope_factors(hp, context);
    let freq_factors = rope_factors(gguf, device, hp, factors)?;
    if freq_factors.is_some() {
        tracing::debug!(factors, context, "phi3 LongRoPE");
    }
    Ok(RopeSpec {
        dim: hp.rope_dim,
        base: hp.rope_base,
        scaling: hp.rope_scaling,
        freq_factors,
        attn_factor: hp.rope_attn_factor,
        layout: RopeLayout::Halves,
    })
}

/// Loads a Phi-3 model.
pub(crate) fn load(ld: &Loader<'_>) -> Result<Transformer, EngineError> {
    let (gguf, hp) = (ld.gguf, &ld.hp);
    let window_key = gguf.arch_key("attention.sliding_window")?;
    let window = gguf
        .optional(&window_key, GgufFile::get_usize)?
        .filter(|&w| w > 0 && w < ld.context);
    let spec = rope_spec(gguf, ld.device, hp, ld.context)?;
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

#[cfg(test)]
mod tests {
    use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec};

    use super::*;

    const SHORT: [f32; 4] = [1.0, 1.5, 2.0, 2.5];
    const LONG: [f32; 4] = [1.1, 8.0, 30.0, 64.0];

    /// A phi3 file's metadata with LongRoPE (original context 16 of 64), the
    /// factors of a rope over 8 dimensions and a token embedding; no layers.
    fn longrope_file(dir: &std::path::Path, orig: Option<u32>) -> GgufFile {
        let mut w = GgufWriter::new()
            .with("general.architecture", Kv::str("phi3"))
            .with("phi3.block_count", Kv::U32(1))
            .with("phi3.embedding_length", Kv::U32(16))
            .with("phi3.attention.head_count", Kv::U32(2))
            .with("phi3.attention.layer_norm_rms_epsilon", Kv::F32(1e-5))
            .with("phi3.context_length", Kv::U32(64))
            .with("phi3.rope.scaling.attn_factor", Kv::F32(1.25))
            .tensor(TensorSpec::f32("token_embd.weight", &[4, 16], &[0.0; 64]))
            .tensor(TensorSpec::f32(ROPE_LONG, &[4], &LONG))
            .tensor(TensorSpec::f32(ROPE_SHORT, &[4], &SHORT));
        if let Some(orig) = orig {
            w.set("phi3.rope.scaling.original_context_length", Kv::U32(orig));
        }
        let path = dir.join("phi3.gguf");
        std::fs::write(&path, w.to_bytes()).unwrap();
        GgufFile::open(&path).unwrap()
    }

    fn spec_at(gguf: &GgufFile, context: usize) -> RopeSpec {
        let hp = Hparams::read(gguf).unwrap();
        rope_spec(gguf, &Device::Cpu, &hp, context).unwrap()
    }

    #[test]
    fn longrope_takes_the_short_factors_up_to_the_original_context_and_the_long_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = longrope_file(dir.path(), Some(16));
        for (context, want) in [(8, SHORT), (16, SHORT), (17, LONG), (64, LONG)] {
            let spec = spec_at(&gguf, context);
            assert_eq!(spec.freq_factors, Some(want.to_vec()), "context {context}");
            assert_eq!(spec.attn_factor, 1.25, "at every context");
        }
    }

    #[test]
    fn without_an_original_context_the_training_context_is_it() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = longrope_file(dir.path(), None);
        assert_eq!(spec_at(&gguf, 64).freq_factors, Some(SHORT.to_vec()));
        assert_eq!(spec_at(&gguf, 65).freq_factors, Some(LONG.to_vec()));
    }
}
