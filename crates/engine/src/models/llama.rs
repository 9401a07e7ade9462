//! The llama family and its close relatives: `llama` (Llama 2/3.x, Mistral,
//! TinyLlama, SmolLM2), `qwen2` (q/k/v biases) and `qwen3` (per-head q/k RMS
//! norm). They differ only in switches, which the tensors themselves reveal
//! (a bias or a q/k norm is there or not), plus the rotary layout.
//!
//! Tensor names and rope conventions follow llama.cpp's GGUF converter
//! (`convert_hf_to_gguf.py`) and graph builders (`src/models/llama.cpp`,
//! `qwen2.cpp`, `qwen3.cpp`).

use candle_core::Device;

use super::layers::{
    Activation, Attention, Embeddings, GateUp, Hparams, KvCache, Loader, Mlp, QkvProj, RopeLayout,
    RopeSpec, Rotary, RotaryTables,
};
use super::transformer::{Block, Transformer};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Llama 3.1+ stores its long-context rope correction as per-frequency divisors.
const ROPE_FREQS: &str = "rope_freqs.weight";

fn rope_spec(gguf: &GgufFile, hp: &Hparams, device: &Device) -> Result<RopeSpec, EngineError> {
    let freq_factors = if gguf.has_tensor(ROPE_FREQS) {
        Some(
            gguf.tensor_f32(ROPE_FREQS, device)?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|source| EngineError::Tensor {
                    name: ROPE_FREQS.into(),
                    source,
                })?,
        )
    } else {
        None
    };
    Ok(RopeSpec {
        dim: hp.rope_dim,
        base: hp.rope_base,
        linear_factor: hp.rope_linear_factor.unwrap_or(1.0),
        freq_factors,
        // llama's converter permutes q/k rows to the interleaved layout; the
        // Qwen converters do not.
        layout: if hp.arch == "llama" {
            RopeLayout::Interleaved
        } else {
            RopeLayout::Halves
        },
    })
}

fn block(
    ld: &Loader<'_>,
    hp: &Hparams,
    i: usize,
    rotary: &Rotary,
    context: usize,
) -> Result<Block, EngineError> {
    let p = format!("blk.{i}");
    let attn = Attention {
        qkv: QkvProj::Separate {
            q: ld.linear(&format!("{p}.attn_q"))?,
            k: ld.linear(&format!("{p}.attn_k"))?,
            v: ld.linear(&format!("{p}.attn_v"))?,
        },
        out: ld.linear(&format!("{p}.attn_output"))?,
        q_norm: ld.opt_norm(&format!("{p}.attn_q_norm"))?,
        k_norm: ld.opt_norm(&format!("{p}.attn_k_norm"))?,
        n_head: hp.n_head,
        n_kv_head: hp.n_kv_head,
        head_dim: hp.head_dim,
        scale: 1.0 / (hp.head_dim as f64).sqrt(),
        rotary: rotary.clone(),
        window: None,
        cache: KvCache::new(context),
    };
    Ok(Block {
        attn_norm: ld.norm(&format!("{p}.attn_norm"))?,
        attn,
        post_attn_norm: None,
        ffn_norm: ld.norm(&format!("{p}.ffn_norm"))?,
        mlp: Mlp {
            gate_up: GateUp::Separate {
                gate: ld.linear(&format!("{p}.ffn_gate"))?,
                up: ld.linear(&format!("{p}.ffn_up"))?,
            },
            down: ld.linear(&format!("{p}.ffn_down"))?,
            act: Activation::Silu,
        },
        post_ffn_norm: None,
    })
}

/// Loads a llama/qwen2/qwen3 model with room for `context` positions.
pub(crate) fn load(
    gguf: &GgufFile,
    device: &Device,
    hp: &Hparams,
    context: usize,
) -> Result<Transformer, EngineError> {
    let ld = Loader {
        gguf,
        device,
        eps: hp.eps,
    };
    let mut tables = RotaryTables::new(context);
    let rotary = tables
        .get(rope_spec(gguf, hp, device)?, device)
        .map_err(EngineError::Compute)?;
    let blocks = (0..hp.n_layer)
        .map(|i| block(&ld, hp, i, &rotary, context))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Transformer {
        embed: Embeddings::load(&ld)?,
        embed_scale: None,
        blocks,
        norm: ld.norm("output_norm")?,
        window: None,
        context,
        device: device.clone(),
    })
}
