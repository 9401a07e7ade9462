//! A model file checked against itself before anything is built from it, so
//! a file Hearth cannot run is refused at load with the tensor or key at
//! fault named, not by a panic or a shape error on the first token:
//!
//! - every tensor of a type the engine runs ([`super::support`]);
//! - every tensor the engine knows the shape the metadata implies (heads,
//!   head size, width, the vocabulary of the embedding);
//! - no layers past `block_count`;
//! - the tokenizer's vocabulary as long as the embedding, its special tokens
//!   inside it;
//!
//! and, after each forward pass, logits that are numbers ([`finite_logits`]).
//! llama.cpp refuses the same files (`llama_model_loader::create_tensor`'s
//! shape check, the tensor count); the messages are Hearth's.

use candle_core::{Device, Tensor};

use super::layers::Hparams;
use crate::error::EngineError;
use crate::gguf::{GgufFile, TensorInfo};
use crate::support::{Support, kernels_on, runnable_type_names};

/// Checks `gguf`'s tensors and vocabulary against `hp` (see the module docs).
pub(crate) fn model(
    gguf: &GgufFile,
    hp: &Hparams,
    device: &Device,
    candle_matmul: bool,
) -> Result<(), EngineError> {
    types(gguf, device, candle_matmul)?;
    shapes(gguf, hp)?;
    vocabulary(gguf, hp)
}

fn bad(gguf: &GgufFile, reason: String) -> EngineError {
    EngineError::InvalidGguf {
        path: gguf.path().to_path_buf(),
        reason,
    }
}

/// Every tensor's type runs here; the first that does not is named.
fn types(gguf: &GgufFile, device: &Device, candle_matmul: bool) -> Result<(), EngineError> {
    let kernels = kernels_on(device, candle_matmul);
    for t in gguf.tensors() {
        let ty = t.ggml_type();
        if !Support::of(ty).runs(kernels) {
            return Err(EngineError::UnsupportedTensorType {
                tensor: t.name().to_owned(),
                ty: ty.name(),
                runs: runnable_type_names(device, kernels),
            });
        }
    }
    Ok(())
}

/// A dimension the metadata fixes, or one it leaves free.
type Dim = Option<usize>;

fn show(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "_".to_owned(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// The shape (outermost first) the metadata implies for tensor `name`, and
/// which metadata says so; `None` for tensors the engine does not check.
fn expected(name: &str, hp: &Hparams, layer_has_gate: bool) -> Option<(Vec<Dim>, String)> {
    let arch = &hp.arch;
    let d = Some(hp.d_model);
    let (q, kv) = (hp.n_head * hp.head_dim, hp.n_kv_head * hp.head_dim);
    let width = format!("{arch}.embedding_length = {}", hp.d_model);
    let heads = format!(
        "{arch}.attention.head_count = {}, head_count_kv = {}, head size {}, {width}",
        hp.n_head, hp.n_kv_head, hp.head_dim
    );
    let rest = match name.strip_prefix("blk.") {
        Some(r) => r.split_once('.').map_or(r, |(_, rest)| rest),
        None => {
            return match name {
                "token_embd.weight" | "output.weight" => Some((vec![Some(hp.vocab), d], width)),
                "output_norm.weight" => Some((vec![d], width)),
                "rope_freqs.weight" => Some((
                    vec![Some(hp.rope_dim / 2)],
                    format!("half the rope dimension {}", hp.rope_dim),
                )),
                _ => None,
            };
        }
    };
    Some(match rest {
        "attn_norm.weight"
        | "ffn_norm.weight"
        | "post_attention_norm.weight"
        | "post_ffw_norm.weight" => (vec![d], width),
        "attn_q.weight" => (vec![Some(q), d], heads),
        "attn_q.bias" => (vec![Some(q)], heads),
        "attn_k.weight" | "attn_v.weight" => (vec![Some(kv), d], heads),
        "attn_k.bias" | "attn_v.bias" => (vec![Some(kv)], heads),
        "attn_qkv.weight" => (vec![Some(q + 2 * kv), d], heads),
        "attn_qkv.bias" => (vec![Some(q + 2 * kv)], heads),
        "attn_output.weight" => (vec![d, Some(q)], heads),
        "attn_output.bias" => (vec![d], width),
        "attn_q_norm.weight" | "attn_k_norm.weight" => (
            vec![Some(hp.head_dim)],
            format!("head size {}", hp.head_dim),
        ),
        // The hidden size of the MLP is ffn_down's: checked between the three.
        "ffn_down.weight" => (vec![d, None], width),
        "ffn_gate.weight" => (vec![None, d], width),
        "ffn_up.weight" if layer_has_gate => (vec![None, d], width),
        "ffn_up.weight" => (vec![None, d], format!("{width}, gate and up in one")),
        _ => return None,
    })
}

/// Every tensor the engine knows has the shape the metadata implies, and no
/// tensor belongs to a layer past `block_count`.
fn shapes(gguf: &GgufFile, hp: &Hparams) -> Result<(), EngineError> {
    for t in gguf.tensors() {
        let name = t.name();
        let layer = name
            .strip_prefix("blk.")
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, _)| i.parse::<usize>().ok());
        if let Some(i) = layer.filter(|&i| i >= hp.n_layer) {
            return Err(bad(
                gguf,
                format!(
                    "tensor \"{name}\" is for layer {i}, but {}.block_count is {}: \
                     the metadata and the weights disagree",
                    hp.arch, hp.n_layer
                ),
            ));
        }
        let has_gate = layer.is_some_and(|i| gguf.has_tensor(&format!("blk.{i}.ffn_gate.weight")));
        let Some((want, why)) = expected(name, hp, has_gate) else {
            continue;
        };
        let found = t.shape();
        let fits = found.len() == want.len()
            && found
                .iter()
                .zip(&want)
                .all(|(f, w)| w.is_none_or(|w| w == *f));
        if !fits {
            return Err(bad(
                gguf,
                format!(
                    "tensor \"{name}\" has shape {found:?}, but the metadata makes it {} ({why})",
                    show(&want)
                ),
            ));
        }
    }
    for i in 0..hp.n_layer {
        mlp(gguf, i)?;
    }
    Ok(())
}

/// The MLP of layer `i`: gate and up as wide as down is deep (up twice that
/// when it holds both, as phi3's does).
fn mlp(gguf: &GgufFile, i: usize) -> Result<(), EngineError> {
    let get = |s: &str| gguf.tensor_info(&format!("blk.{i}.{s}.weight")).ok();
    let (Some(down), Some(up)) = (get("ffn_down"), get("ffn_up")) else {
        return Ok(()); // the family's loader names a missing one
    };
    let hidden = down.shape()[1];
    let rows = |t: &TensorInfo| t.shape()[0];
    let gate = get("ffn_gate");
    let up_rows = if gate.is_some() { hidden } else { 2 * hidden };
    for (t, want) in gate.map(|g| (g, hidden)).into_iter().chain([(up, up_rows)]) {
        if rows(t) != want {
            return Err(bad(
                gguf,
                format!(
                    "tensor \"{}\" has {} rows, but blk.{i}.ffn_down.weight makes the MLP \
                     {hidden} wide, so it should have {want}",
                    t.name(),
                    rows(t)
                ),
            ));
        }
    }
    Ok(())
}

/// The tokenizer's vocabulary (when the file has one) is exactly as long as
/// the embedding, and its special tokens are in it.
fn vocabulary(gguf: &GgufFile, hp: &Hparams) -> Result<(), EngineError> {
    let tokens = match gguf.metadata().get_strings("tokenizer.ggml.tokens") {
        Ok(t) => Some(t.len()),
        Err(_) => None,
    };
    if let Some(n) = tokens.filter(|&n| n != hp.vocab) {
        return Err(bad(
            gguf,
            format!(
                "tokenizer.ggml.tokens has {n} tokens but token_embd.weight has {} rows: \
                 the tokenizer and the weights are from different models",
                hp.vocab
            ),
        ));
    }
    let size = tokens.unwrap_or(hp.vocab);
    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        if let Some(id) = gguf.optional(key, GgufFile::get_u64)?
            && id >= size as u64
        {
            return Err(bad(
                gguf,
                format!("{key} is {id}, but the vocabulary has {size} tokens"),
            ));
        }
    }
    Ok(())
}

/// `logits` if every one is a number; else the error naming the likely cause
/// (damaged weights), for the token at `position`. One reduction over the
/// vocabulary: a NaN or infinity anywhere makes the sum one.
pub(crate) fn finite_logits(logits: Tensor, position: usize) -> Result<Tensor, EngineError> {
    let sum = logits.sum_all()?.to_scalar::<f32>()?;
    if sum.is_finite() {
        Ok(logits)
    } else {
        Err(EngineError::NonFiniteLogits { position })
    }
}
