//! Building blocks shared by every architecture: hyperparameters read from the
//! GGUF metadata, RMS norm, quantised linear layers, the quantised token
//! embedding (which doubles as the tied output head) and the gated MLP.
//! Rotary tables and rope scaling are in `rope.rs`, attention and its KV
//! cache in `attention.rs`; `load.rs` builds all of them from the file.
//!
//! Learned from llama.cpp's graph builders (`src/models/*.cpp`) and candle's
//! `quantized_llama.rs`; written for Hearth. Activations are f32; weights stay in
//! their stored quantised type and are multiplied by `QWeight` (hearth-kernels on
//! the CPU, candle's `QMatMul` elsewhere).

use candle_core::{CpuStorage, CustomOp2, D, DType, Device, Layout, Result, Shape, Tensor};

use super::qweight::{QWeight, contiguous_f32};
use super::rope::RopeScaling;

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
    /// `rope.scaling.type` and `.factor` (linear, YaRN).
    pub(crate) rope_scaling: RopeScaling,
    /// The context the rope was first trained for
    /// (`rope.scaling.original_context_length`, else `context_length`): past
    /// it, Phi-3's LongRoPE takes its long factors; YaRN's ramp is measured
    /// against it.
    pub(crate) rope_orig_ctx: usize,
    /// `rope.scaling.attn_factor` (LongRoPE's, written by llama.cpp's
    /// converter for the 128k Phi models), else 1: cos and sin are multiplied
    /// by it, as llama.cpp's rope does (`hparams.rope_attn_factor`).
    pub(crate) rope_attn_factor: f64,
    pub(crate) eps: f64,
    pub(crate) train_ctx: usize,
    /// The longest context the file says the model handles: `train_ctx`, or
    /// with YaRN or linear rope scaling the factor times the original
    /// context when that is longer (`stretched_ctx`).
    pub(crate) max_ctx: usize,
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
        let rope_attn_factor = gguf
            .optional(&key("rope.scaling.attn_factor"), GgufFile::get_f64)?
            .unwrap_or(1.0);
        if !(rope_attn_factor.is_finite() && rope_attn_factor > 0.0) {
            return Err(bad(format!(
                "{} is {rope_attn_factor}",
                key("rope.scaling.attn_factor")
            )));
        }
        let eps = gguf.get_f64(&key("attention.layer_norm_rms_epsilon"))?;
        let train_ctx = gguf.get_usize(&key("context_length"))?;
        let declared_orig_ctx =
            opt_usize("rope.scaling.original_context_length")?.filter(|&n| n > 0);
        let rope_orig_ctx = declared_orig_ctx.unwrap_or(train_ctx);
        let rope_scaling = RopeScaling::read(gguf, rope_orig_ctx)?;
        let max_ctx = stretched_ctx(rope_scaling, declared_orig_ctx, train_ctx);
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
            rope_scaling,
            rope_orig_ctx,
            rope_attn_factor,
            eps,
            train_ctx,
            max_ctx,
            vocab,
        })
    }
}

/// The longest context a model with `scaling` handles, as far as its file
/// says: YaRN stretches the original context (`declared_orig_ctx`, else
/// `train_ctx`) by its factor; linear scaling does when the file declares
/// the original context (Gemma 3's files do not: their `context_length` is
/// already the stretched one); LongRoPE files (Phi-3) declare the long
/// context as `context_length`. Never less than `train_ctx`.
fn stretched_ctx(
    scaling: RopeScaling,
    declared_orig_ctx: Option<usize>,
    train_ctx: usize,
) -> usize {
    let stretched = match scaling {
        RopeScaling::Yarn(yarn) => yarn.factor * yarn.orig_ctx as f64,
        RopeScaling::Linear { factor } => declared_orig_ctx.map_or(0.0, |n| factor * n as f64),
        RopeScaling::None => 0.0,
    };
    // `as` saturates: an absurd factor gives usize::MAX, never a panic.
    train_ctx.max(stretched.round() as usize)
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

/// `x · Wᵀ (+ b)` with a quantised `W`.
#[derive(Debug)]
pub(crate) struct Linear {
    w: QWeight,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn new(w: QWeight, bias: Option<Tensor>) -> Self {
        Self { w, bias }
    }

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
    pub(crate) fn new(weight: Tensor, eps: f32) -> Self {
        Self { weight, eps }
    }

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
    /// `table` (`token_embd`), and `head` (`output`) when the model has its own.
    pub(crate) fn new(table: QWeight, head: Option<QWeight>) -> Self {
        Self { table, head }
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

    /// A llama file's metadata and token embedding, with `extra` keys.
    fn hparams_of(extra: &[(&str, hearth_testkit::gguf::Kv)]) -> Hparams {
        try_hparams_of(extra).unwrap()
    }

    fn try_hparams_of(
        extra: &[(&str, hearth_testkit::gguf::Kv)],
    ) -> std::result::Result<Hparams, EngineError> {
        use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec};
        let mut w = GgufWriter::new()
            .with("general.architecture", Kv::str("llama"))
            .with("llama.block_count", Kv::U32(1))
            .with("llama.embedding_length", Kv::U32(8))
            .with("llama.attention.head_count", Kv::U32(2))
            .with("llama.attention.layer_norm_rms_epsilon", Kv::F32(1e-5))
            .with("llama.context_length", Kv::U32(4096))
            .tensor(TensorSpec::f32("token_embd.weight", &[4, 8], &[0.0; 32]));
        for (k, v) in extra {
            w.set(k, v.clone());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, w.to_bytes()).unwrap();
        Hparams::read(&GgufFile::open(&path).unwrap())
    }

    #[test]
    fn rope_scaling_original_context_and_attention_factor_are_read() {
        use hearth_testkit::gguf::Kv;
        let plain = hparams_of(&[]);
        assert_eq!((plain.rope_orig_ctx, plain.rope_attn_factor), (4096, 1.0));
        let longrope = hparams_of(&[
            ("llama.rope.scaling.original_context_length", Kv::U32(1024)),
            ("llama.rope.scaling.attn_factor", Kv::F32(1.5)),
        ]);
        assert_eq!(
            (longrope.rope_orig_ctx, longrope.rope_attn_factor),
            (1024, 1.5)
        );
    }

    #[test]
    fn yarn_is_read_with_its_factor_and_the_original_context() {
        use super::super::rope::Yarn;
        use hearth_testkit::gguf::Kv;
        let yarn = hparams_of(&[
            ("llama.rope.scaling.type", Kv::str("yarn")),
            ("llama.rope.scaling.factor", Kv::F32(4.0)),
            ("llama.rope.scaling.original_context_length", Kv::U32(1024)),
        ]);
        assert_eq!(
            yarn.rope_scaling,
            RopeScaling::Yarn(Yarn {
                factor: 4.0,
                orig_ctx: 1024
            })
        );
        // The file's context is 4096: YaRN stretches 1024 by 4 to the same.
        assert_eq!(yarn.max_ctx, 4096);
        // As Qwen2.5's own files say it: the original context is the file's.
        let qwen = hparams_of(&[
            ("llama.rope.scaling.type", Kv::str("yarn")),
            ("llama.rope.scaling.factor", Kv::F32(4.0)),
            ("llama.rope.scaling.original_context_length", Kv::U32(4096)),
        ]);
        assert_eq!(qwen.max_ctx, 16384);
    }

    #[test]
    fn rope_scaling_types_are_read_as_llama_cpp_reads_them() {
        use hearth_testkit::gguf::Kv;
        let factor = ("llama.rope.scaling.factor", Kv::F32(8.0));
        let of = |kind: Option<&str>| {
            let mut keys = vec![factor.clone()];
            keys.extend(kind.map(|k| ("llama.rope.scaling.type", Kv::str(k))));
            hparams_of(&keys).rope_scaling
        };
        let linear = RopeScaling::Linear { factor: 8.0 };
        assert_eq!(of(Some("linear")), linear);
        assert_eq!(of(None), linear, "no type is linear");
        assert_eq!(of(Some("longrope")), linear);
        assert_eq!(
            of(Some("none")),
            RopeScaling::None,
            "none ignores the factor"
        );
        assert_eq!(hparams_of(&[]).rope_scaling, RopeScaling::None);
        // Gemma 3's files: linear, no original context, `context_length`
        // already the stretched one.
        assert_eq!(hparams_of(std::slice::from_ref(&factor)).max_ctx, 4096);
        let legacy = hparams_of(&[("llama.rope.scale_linear", Kv::F32(2.0))]);
        assert_eq!(legacy.rope_scaling, RopeScaling::Linear { factor: 2.0 });
    }

    #[test]
    fn an_unknown_rope_scaling_type_is_refused_naming_the_key_and_the_value() {
        use hearth_testkit::gguf::Kv;
        for kind in ["dynamic", "YaRN", "llama3", ""] {
            let err = try_hparams_of(&[("llama.rope.scaling.type", Kv::str(kind))])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("llama.rope.scaling.type is \"{kind}\"")),
                "{err}"
            );
            assert!(err.contains("cannot run"), "{err}");
        }
        let err = try_hparams_of(&[
            ("llama.rope.scaling.type", Kv::str("linear")),
            ("llama.rope.scaling.factor", Kv::F32(-2.0)),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("llama.rope.scaling.factor is -2"), "{err}");
    }
}
