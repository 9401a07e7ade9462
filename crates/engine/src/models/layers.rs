//! Building blocks shared by every architecture: hyperparameters read from the
//! GGUF metadata, RMS norm, quantised linear layers, the quantised token
//! embedding (which doubles as the tied output head), rotary tables and the
//! gated MLP. Attention and its KV cache are in `attention.rs`.
//!
//! Learned from llama.cpp's graph builders (`src/models/*.cpp`) and candle's
//! `quantized_llama.rs`; written for Hearth. Activations are f32; weights stay in
//! their stored quantised type and are multiplied by `QWeight` (hearth-kernels on
//! the CPU, candle's `QMatMul` elsewhere).

use candle_core::{CpuStorage, CustomOp2, D, DType, Device, Layout, Result, Shape, Tensor};

use super::attention::{Attention, KvCache, QkvProj};
use super::qweight::{QWeight, contiguous_f32};

use crate::error::EngineError;
use crate::gguf::GgufFile;

/// The hyperparameters every architecture has, under `{arch}.…` keys.
#[derive(Debug, Clone)]
pub(crate) struct Hparams {
    pub(crate) arch: String,
    pub(crate) n_layer: usize,
    pub(crate) d_model: usize,
    pub(crate) n_head: usize,
    pub(crate) n_kv_head: usize,
    pub(crate) head_dim: usize,
    pub(crate) rope_dim: usize,
    pub(crate) rope_base: f64,
    /// Linear rope scaling (`rope.scaling.type = "linear"`): positions are divided by it.
    pub(crate) rope_linear_factor: Option<f64>,
    pub(crate) eps: f64,
    pub(crate) train_ctx: usize,
    pub(crate) vocab: usize,
}

impl Hparams {
    pub(crate) fn read(gguf: &GgufFile) -> std::result::Result<Self, EngineError> {
        let arch = gguf.architecture()?.to_owned();
        let key = |suffix: &str| format!("{arch}.{suffix}");
        let opt_usize = |suffix: &str| gguf.optional(&key(suffix), GgufFile::get_usize);
        let n_layer = gguf.get_usize(&key("block_count"))?;
        let d_model = gguf.get_usize(&key("embedding_length"))?;
        let n_head = gguf.get_usize(&key("attention.head_count"))?;
        let n_kv_head = opt_usize("attention.head_count_kv")?.unwrap_or(n_head);
        let bad = |reason: String| EngineError::InvalidGguf {
            path: gguf.path().to_path_buf(),
            reason,
        };
        for (suffix, value) in [
            ("block_count", n_layer),
            ("embedding_length", d_model),
            ("attention.head_count", n_head),
            ("attention.head_count_kv", n_kv_head),
        ] {
            if value == 0 {
                return Err(bad(format!("{} is 0", key(suffix))));
            }
        }
        let head_dim = match opt_usize("attention.key_length")? {
            Some(d) => d,
            None if d_model % n_head == 0 => d_model / n_head,
            None => {
                return Err(bad(format!(
                    "{} {d_model} is not a multiple of {} {n_head}, and the file has no {}",
                    key("embedding_length"),
                    key("attention.head_count"),
                    key("attention.key_length")
                )));
            }
        };
        if let Some(v) = opt_usize("attention.value_length")?.filter(|&v| v != head_dim) {
            return Err(bad(format!(
                "{} {v} differs from the key head size {head_dim}; Hearth runs models whose \
                 keys and values have the same head size",
                key("attention.value_length")
            )));
        }
        let rope_dim = opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
        let rope_base = gguf
            .optional(&key("rope.freq_base"), GgufFile::get_f64)?
            .unwrap_or(10_000.0);
        let rope_linear_factor =
            match gguf.optional(&key("rope.scaling.type"), GgufFile::get_str)? {
                Some("linear") => Some(gguf.get_f64(&key("rope.scaling.factor"))?),
                _ => None,
            };
        let eps = gguf.get_f64(&key("attention.layer_norm_rms_epsilon"))?;
        let train_ctx = gguf.get_usize(&key("context_length"))?;
        let vocab = embedding_rows(gguf)?;
        if head_dim == 0 || train_ctx == 0 || vocab == 0 {
            return Err(bad(format!(
                "{} is 0",
                match (head_dim, train_ctx) {
                    (0, _) => key("attention.key_length"),
                    (_, 0) => key("context_length"),
                    _ => "the vocabulary (token_embd.weight's rows)".to_owned(),
                }
            )));
        }
        if n_head % n_kv_head != 0 {
            return Err(bad(format!(
                "{} {n_head} is not a multiple of {} {n_kv_head}",
                key("attention.head_count"),
                key("attention.head_count_kv")
            )));
        }
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(bad(format!(
                "{} {rope_dim} does not fit the head size {head_dim} (it must be even and \
                 at most that)",
                key("rope.dimension_count")
            )));
        }
        Ok(Self {
            arch,
            n_layer,
            d_model,
            n_head,
            n_kv_head,
            head_dim,
            rope_dim,
            rope_base,
            rope_linear_factor,
            eps,
            train_ctx,
            vocab,
        })
    }
}

/// The vocabulary size is the number of embedding rows (gemma3 has no
/// `vocab_size` key, and the rows are what the lookup can index).
fn embedding_rows(gguf: &GgufFile) -> std::result::Result<usize, EngineError> {
    let name = "token_embd.weight";
    let info = gguf.tensor_info(name)?;
    match info.shape().as_slice() {
        &[rows, _] => Ok(rows),
        other => Err(EngineError::InvalidGguf {
            path: gguf.path().to_path_buf(),
            reason: format!("{name} has shape {other:?}, expected 2 dimensions"),
        }),
    }
}

/// Loads tensors of one model, naming the tensor in every error.
pub(crate) struct Loader<'a> {
    pub(crate) gguf: &'a GgufFile,
    pub(crate) device: &'a Device,
    pub(crate) hp: Hparams,
    /// Positions the KV caches and rotary tables must hold.
    pub(crate) context: usize,
    /// candle's matmul instead of Hearth's kernels ([`super::LoadOptions`]).
    pub(crate) candle_matmul: bool,
}

impl Loader<'_> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.gguf.has_tensor(name)
    }

    pub(crate) fn linear(&self, name: &str) -> std::result::Result<Linear, EngineError> {
        let w = QWeight::load(self, &format!("{name}.weight"))?;
        let bias_name = format!("{name}.bias");
        let bias = if self.has(&bias_name) {
            Some(self.gguf.tensor_f32(&bias_name, self.device)?)
        } else {
            None
        };
        Ok(Linear { w, bias })
    }

    pub(crate) fn norm(&self, name: &str) -> std::result::Result<RmsNorm, EngineError> {
        let weight = self
            .gguf
            .tensor_f32(&format!("{name}.weight"), self.device)?;
        Ok(RmsNorm {
            weight,
            eps: self.hp.eps as f32,
        })
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
            cache: KvCache::new(self.context, self.device),
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

/// `x · Wᵀ (+ b)` with a quantised `W`.
#[derive(Debug)]
pub(crate) struct Linear {
    w: QWeight,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.add_bias(self.w.forward(x)?)
    }

    /// Each of `layers` over the same input, in one pass where the kernels
    /// allow it ([`QWeight::forward_shared`]).
    pub(crate) fn forward_shared<const N: usize>(
        layers: [&Linear; N],
        x: &Tensor,
    ) -> Result<[Tensor; N]> {
        let ys = QWeight::forward_shared(&layers.map(|l| &l.w), x)?;
        let ys: Vec<Tensor> = layers
            .iter()
            .zip(ys)
            .map(|(l, y)| l.add_bias(y))
            .collect::<Result<_>>()?;
        ys.try_into()
            .map_err(|_| candle_core::Error::Msg("forward_shared: output count".into()))
    }

    fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// RMS norm over the last dimension with candle's fused kernel. The GGUF weight
/// is used as stored (llama.cpp's converter already folds Gemma's `1 +` into it).
#[derive(Debug)]
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.weight, self.eps)
    }
}

/// The token embedding, kept quantised (and, on the CPU, in the mapped file):
/// rows are decoded on lookup only, and the same matrix is the output head when
/// the model ties them.
#[derive(Debug)]
pub(crate) struct Embeddings {
    table: QWeight,
    /// `output.weight`, when the model does not tie it to the embedding.
    head: Option<QWeight>,
}

impl Embeddings {
    pub(crate) fn load(loader: &Loader<'_>) -> std::result::Result<Self, EngineError> {
        let table = QWeight::load_table(loader, "token_embd.weight")?;
        let head = if loader.has("output.weight") {
            Some(QWeight::load(loader, "output.weight")?)
        } else {
            None
        };
        Ok(Self { table, head })
    }

    /// Number of rows (the vocabulary size).
    pub(crate) fn rows(&self) -> usize {
        self.table.n_rows()
    }

    /// Token ids to `[1, t, d]` f32 rows.
    pub(crate) fn lookup(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        self.table.rows(ids, device)?.unsqueeze(0)
    }

    /// Logits for `x` (`[.., d]` to `[.., vocab]`).
    pub(crate) fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.head.as_ref().unwrap_or(&self.table).forward(x)
    }
}

/// Which pairs of a head's dimensions one rotation mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RopeLayout {
    /// `(2i, 2i+1)`: llama-family GGUF, whose converter permutes the q/k rows
    /// back to Meta's interleaved order (llama.cpp's `LLAMA_ROPE_TYPE_NORM`).
    Interleaved,
    /// `(i, i + d/2)`: the Hugging Face layout, kept as-is by the converter for
    /// qwen2/qwen3/phi3/gemma3 (`LLAMA_ROPE_TYPE_NEOX`).
    Halves,
}

/// How to build one rotary table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RopeSpec {
    pub(crate) dim: usize,
    pub(crate) base: f64,
    /// Positions are divided by this (linear scaling); 1.0 for none.
    pub(crate) linear_factor: f64,
    /// Per-frequency divisors (llama 3's `rope_freqs.weight`).
    pub(crate) freq_factors: Option<Vec<f32>>,
    pub(crate) layout: RopeLayout,
}

/// cos/sin tables `[context, dim/2]`, built once per distinct [`RopeSpec`] and
/// shared by the layers (a `Tensor` clone is a reference count).
#[derive(Debug, Clone)]
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
    dim: usize,
    layout: RopeLayout,
}

impl Rotary {
    fn new(spec: &RopeSpec, context: usize, device: &Device) -> Result<Self> {
        let half = spec.dim / 2;
        // f32 throughout, like llama.cpp's rope kernel.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let f = 1.0 / (spec.base as f32).powf((2 * i) as f32 / spec.dim as f32);
                let factor = spec
                    .freq_factors
                    .as_ref()
                    .and_then(|ff| ff.get(i))
                    .map_or(1.0, |&x| x);
                f / factor / spec.linear_factor as f32
            })
            .collect();
        let mut cos = Vec::with_capacity(context * half);
        let mut sin = Vec::with_capacity(context * half);
        for p in 0..context {
            for f in &inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (context, half), device)?,
            sin: Tensor::from_vec(sin, (context, half), device)?,
            dim: spec.dim,
            layout: spec.layout,
        })
    }

    /// Rotates contiguous `[1, heads, t, head_dim]` for positions `pos..pos + t`.
    pub(crate) fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, _, t, head_dim) = x.dims4()?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let rope = |x: &Tensor| match self.layout {
            RopeLayout::Interleaved => candle_nn::rotary_emb::rope_i(x, &cos, &sin),
            RopeLayout::Halves => candle_nn::rotary_emb::rope(x, &cos, &sin),
        };
        if self.dim == head_dim {
            return rope(x);
        }
        // Partial rotary: only the first `dim` dimensions of each head turn.
        // Both halves contiguous, so the result is too (candle concatenates
        // views through transposes): the one-token attention kernel reads it
        // as a plain buffer.
        let turned = rope(&x.narrow(D::Minus1, 0, self.dim)?.contiguous()?)?;
        let rest = x
            .narrow(D::Minus1, self.dim, head_dim - self.dim)?
            .contiguous()?;
        Tensor::cat(&[&turned, &rest], D::Minus1)
    }
}

/// Builds rotary tables, reusing one per distinct spec.
#[derive(Debug)]
pub(crate) struct RotaryTables {
    context: usize,
    built: Vec<(RopeSpec, Rotary)>,
}

impl RotaryTables {
    pub(crate) fn new(context: usize) -> Self {
        Self {
            context,
            built: Vec::new(),
        }
    }

    pub(crate) fn get(&mut self, spec: RopeSpec, device: &Device) -> Result<Rotary> {
        if let Some((_, r)) = self.built.iter().find(|(s, _)| *s == spec) {
            return Ok(r.clone());
        }
        let r = Rotary::new(&spec, self.context, device)?;
        self.built.push((spec, r.clone()));
        Ok(r)
    }
}

/// The activation of a gated MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Silu,
    /// GELU, tanh approximation (Gemma's `gelu_pytorch_tanh`).
    GeluTanh,
}

/// How the gate and up projections are stored.
#[derive(Debug)]
pub(crate) enum GateUp {
    Separate {
        gate: Linear,
        up: Linear,
    },
    /// One `ffn_up` matrix, rows ordered gate then up (phi3).
    Fused(Linear),
}

/// `down(act(gate(x)) · up(x))`.
#[derive(Debug)]
pub(crate) struct Mlp {
    pub(crate) gate_up: GateUp,
    pub(crate) down: Linear,
    pub(crate) act: Activation,
}

impl Mlp {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (gate, up) = match &self.gate_up {
            GateUp::Separate { gate, up } => {
                let [gate, up] = Linear::forward_shared([gate, up], x)?;
                (gate, up)
            }
            GateUp::Fused(w) => {
                let both = w.forward(x)?;
                let n = both.dim(D::Minus1)? / 2;
                (both.narrow(D::Minus1, 0, n)?, both.narrow(D::Minus1, n, n)?)
            }
        };
        let hidden = if gate.device().is_cpu() && gate.dtype() == DType::F32 {
            gate.contiguous()?
                .apply_op2_no_bwd(&up.contiguous()?, &GatedAct(self.act))?
        } else {
            let gate = match self.act {
                Activation::Silu => candle_nn::ops::silu(&gate)?,
                Activation::GeluTanh => gate.gelu()?,
            };
            (gate * up)?
        };
        self.down.forward(&hidden)
    }
}

/// `act(gate) · up` in one vectorised pass (hearth-kernels), for f32 on the CPU.
struct GatedAct(Activation);

impl CustomOp2 for GatedAct {
    fn name(&self) -> &'static str {
        "hearth-gated-act"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_layout: &Layout,
        up: &CpuStorage,
        up_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let gate = contiguous_f32(self.name(), gate, gate_layout)?;
        let up = contiguous_f32(self.name(), up, up_layout)?;
        if gate_layout.shape() != up_layout.shape() {
            candle_core::bail!(
                "hearth-gated-act: gate {:?} and up {:?} differ",
                gate_layout.shape(),
                up_layout.shape()
            );
        }
        let mut out = vec![0.0f32; gate.len()];
        match self.0 {
            Activation::Silu => hearth_kernels::silu_mul(gate, up, &mut out),
            Activation::GeluTanh => hearth_kernels::gelu_tanh_mul(gate, up, &mut out),
        }
        Ok((CpuStorage::F32(out), gate_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_rotary_turns_the_first_dims_and_gives_a_contiguous_tensor() {
        let spec = RopeSpec {
            dim: 4,
            base: 10000.0,
            linear_factor: 1.0,
            freq_factors: None,
            layout: RopeLayout::Halves,
        };
        let rotary = Rotary::new(&spec, 16, &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 2.0 * 6.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 1, 6))
            .unwrap();
        let y = rotary.apply(&x, 3).unwrap();
        assert!(
            y.is_contiguous(),
            "the one-token attention reads it as a buffer"
        );
        let (x, y) = (
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for head in 0..2 {
            let at = head * 6;
            assert_eq!(
                y[at + 4..at + 6],
                x[at + 4..at + 6],
                "the rest is untouched"
            );
            assert_ne!(y[at..at + 4], x[at..at + 4], "the rotary part turned");
        }
    }
}
