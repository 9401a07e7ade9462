//! The loader: builds an architecture's layers (linear, norm, attention, MLP,
//! rotary tables) from the tensors of one GGUF file. Sits above `layers.rs`,
//! `attention.rs` and `qweight.rs`, which know nothing of files.

use candle_core::Device;

use super::attention::{Attention, QkvProj};
use super::layers::{Activation, Embeddings, GateUp, Hparams, Linear, Mlp, RmsNorm};
use super::qweight::QWeight;
use super::rope::{RopeSpec, Rotary, RotaryTables};
use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Loads tensors of one model, naming the tensor in every error.
pub(crate) struct Loader<'a> {
    pub(crate) gguf: &'a GgufFile,
    pub(crate) device: &'a Device,
    pub(crate) hp: Hparams,
    /// Positions the KV caches and rotary tables must hold.
    pub(crate) context: usize,
    /// candle's matmul instead of Hearth's kernels ([`super::LoadOptions`]).
    pub(crate) candle_matmul: bool,
    /// How the KV caches store keys and values.
    pub(crate) kv_type: super::KvType,
}

impl Loader<'_> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.gguf.has_tensor(name)
    }

    /// Tensor `name` as a weight matrix, for products only.
    pub(crate) fn qweight(&self, name: &str) -> std::result::Result<QWeight, EngineError> {
        QWeight::load(self.gguf, self.device, self.candle_matmul, name, false)
    }

    /// The token embedding, and the output head when the model does not tie it.
    pub(crate) fn embeddings(&self) -> std::result::Result<Embeddings, EngineError> {
        let table = QWeight::load(
            self.gguf,
            self.device,
            self.candle_matmul,
            "token_embd.weight",
            true,
        )?;
        let head = if self.has("output.weight") {
            Some(self.qweight("output.weight")?)
        } else {
            None
        };
        Ok(Embeddings::new(table, head))
    }

    pub(crate) fn linear(&self, name: &str) -> std::result::Result<Linear, EngineError> {
        let w = self.qweight(&format!("{name}.weight"))?;
        let bias_name = format!("{name}.bias");
        let bias = if self.has(&bias_name) {
            Some(self.gguf.tensor_f32(&bias_name, self.device)?)
        } else {
            None
        };
        Ok(Linear::new(w, bias))
    }

    pub(crate) fn norm(&self, name: &str) -> std::result::Result<RmsNorm, EngineError> {
        let weight = self
            .gguf
            .tensor_f32(&format!("{name}.weight"), self.device)?;
        Ok(RmsNorm::new(weight, self.hp.eps as f32))
    }

    /// Separate `{p}.attn_q/k/v` projections.
    pub(crate) fn separate_qkv(&self, p: &str) -> std::result::Result<QkvProj, EngineError> {
        Ok(QkvProj::Separate {
            q: self.linear(&format!("{p}.attn_q"))?,
            k: self.linear(&format!("{p}.attn_k"))?,
            v: self.linear(&format!("{p}.attn_v"))?,
        })
    }

    /// Attention of layer prefix `p` with the model's head shape, default
    /// `1/sqrt(head_dim)` scale and no q/k norms.
    pub(crate) fn attention(
        &self,
        p: &str,
        qkv: QkvProj,
        rotary: Rotary,
        window: Option<usize>,
    ) -> std::result::Result<Attention, EngineError> {
        Ok(Attention {
            qkv,
            out: self.linear(&format!("{p}.attn_output"))?,
            q_norm: None,
            k_norm: None,
            n_head: self.hp.n_head,
            n_kv_head: self.hp.n_kv_head,
            head_dim: self.hp.head_dim,
            scale: 1.0 / (self.hp.head_dim as f64).sqrt(),
            rotary,
            window,
        })
    }

    /// The MLP of layer prefix `p` with separate `ffn_gate`/`ffn_up`.
    pub(crate) fn gated_mlp(
        &self,
        p: &str,
        act: Activation,
    ) -> std::result::Result<Mlp, EngineError> {
        Ok(Mlp {
            gate_up: GateUp::Separate {
                gate: self.linear(&format!("{p}.ffn_gate"))?,
                up: self.linear(&format!("{p}.ffn_up"))?,
            },
            down: self.linear(&format!("{p}.ffn_down"))?,
            act,
        })
    }

    /// The rotary table for `spec` (shared when already built).
    pub(crate) fn rotary(
        &self,
        tables: &mut RotaryTables,
        spec: RopeSpec,
    ) -> std::result::Result<Rotary, EngineError> {
        tables.get(spec, self.device).map_err(EngineError::Compute)
    }

    pub(crate) fn opt_norm(&self, name: &str) -> std::result::Result<Option<RmsNorm>, EngineError> {
        if self.has(&format!("{name}.weight")) {
            self.norm(name).map(Some)
        } else {
            Ok(None)
        }
    }
}
