//! Building blocks shared by every architecture: hyperparameters read from the
//! GGUF metadata, RMS norm, quantised linear layers, the quantised token
//! embedding (which doubles as the tied output head), rotary tables, the KV
//! cache, attention and the gated MLP.
//!
//! Learned from llama.cpp's graph builders (`src/models/*.cpp`) and candle's
//! `quantized_llama.rs`; written for Hearth. Activations are f32; weights stay in
//! their stored quantised type and are multiplied with candle's `QMatMul`.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{D, Device, Module, Result, Tensor};

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
        let opt_usize = |suffix: &str| -> std::result::Result<Option<usize>, EngineError> {
            let k = key(suffix);
            match gguf.get(&k) {
                Some(_) => gguf.get_usize(&k).map(Some),
                None => Ok(None),
            }
        };
        let n_layer = gguf.get_usize(&key("block_count"))?;
        let d_model = gguf.get_usize(&key("embedding_length"))?;
        let n_head = gguf.get_usize(&key("attention.head_count"))?;
        let n_kv_head = opt_usize("attention.head_count_kv")?.unwrap_or(n_head);
        let head_dim = match opt_usize("attention.key_length")? {
            Some(d) => d,
            None if n_head > 0 => d_model / n_head,
            None => 0,
        };
        let rope_dim = opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
        let rope_base = match gguf.get(&key("rope.freq_base")) {
            Some(_) => gguf.get_f64(&key("rope.freq_base"))?,
            None => 10_000.0,
        };
        let rope_linear_factor = match gguf.get(&key("rope.scaling.type")) {
            Some(_) if gguf.get_str(&key("rope.scaling.type"))? == "linear" => {
                Some(gguf.get_f64(&key("rope.scaling.factor"))?)
            }
            _ => None,
        };
        let eps = gguf.get_f64(&key("attention.layer_norm_rms_epsilon"))?;
        let train_ctx = gguf.get_usize(&key("context_length"))?;
        let vocab = embedding_rows(gguf)?;
        let bad = |reason: String| EngineError::InvalidGguf {
            path: gguf.path().to_path_buf(),
            reason,
        };
        if n_layer == 0 || n_head == 0 || n_kv_head == 0 || head_dim == 0 || d_model == 0 {
            return Err(bad(format!(
                "{arch}: zero-sized hyperparameter (layers {n_layer}, heads {n_head}/{n_kv_head}, \
                 head_dim {head_dim}, d_model {d_model})"
            )));
        }
        if n_head % n_kv_head != 0 {
            return Err(bad(format!(
                "{arch}: {n_head} heads is not a multiple of {n_kv_head} kv heads"
            )));
        }
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(bad(format!(
                "{arch}: rope dimension {rope_dim} does not fit head dimension {head_dim}"
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
    let info = gguf
        .tensor_infos()
        .get(name)
        .ok_or_else(|| EngineError::MissingTensor { name: name.into() })?;
    match info.shape().as_slice() {
        [rows, _] => Ok(*rows),
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
}

impl Loader<'_> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.gguf.has_tensor(name)
    }

    pub(crate) fn linear(&self, name: &str) -> std::result::Result<Linear, EngineError> {
        let w = self.gguf.qtensor(&format!("{name}.weight"), self.device)?;
        let bias_name = format!("{name}.bias");
        let bias = if self.has(&bias_name) {
            Some(self.gguf.tensor_f32(&bias_name, self.device)?)
        } else {
            None
        };
        let w = QMatMul::from_qtensor(w).map_err(|source| EngineError::Tensor {
            name: format!("{name}.weight"),
            source,
        })?;
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
            cache: KvCache::new(self.context),
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
    w: QMatMul,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.w.forward(x)?;
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

/// The token embedding, kept quantised: rows are dequantised on lookup only, and
/// the same quantised tensor is the output head when the model ties them.
#[derive(Debug)]
pub(crate) struct Embeddings {
    table: Arc<QTensor>,
    /// Only when a row is not a whole number of quantisation blocks (the quantised
    /// gather cannot split a block); then the table is dequantised once.
    dense: Option<Tensor>,
    head: QMatMul,
}

impl Embeddings {
    pub(crate) fn load(loader: &Loader<'_>) -> std::result::Result<Self, EngineError> {
        let name = "token_embd.weight";
        let err = |source| EngineError::Tensor {
            name: name.into(),
            source,
        };
        let table = Arc::new(loader.gguf.qtensor(name, loader.device)?);
        let (_, hidden) = table.shape().dims2().map_err(err)?;
        let dense = if hidden % table.dtype().block_size() == 0 {
            None
        } else {
            tracing::warn!("token_embd rows are not block-aligned; dequantising the embedding");
            Some(table.dequantize(loader.device).map_err(err)?)
        };
        let head = if loader.has("output.weight") {
            let w = loader.gguf.qtensor("output.weight", loader.device)?;
            QMatMul::from_qtensor(w).map_err(|source| EngineError::Tensor {
                name: "output.weight".into(),
                source,
            })?
        } else {
            QMatMul::from_arc(table.clone()).map_err(err)?
        };
        Ok(Self { table, dense, head })
    }

    /// Number of rows (the vocabulary size).
    pub(crate) fn rows(&self) -> usize {
        self.table.shape().dims().first().copied().unwrap_or(0)
    }

    /// `[t]` ids to `[1, t, d]` f32 rows.
    pub(crate) fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        let rows = match &self.dense {
            Some(dense) => dense.index_select(ids, 0)?,
            None => self.table.embedding(ids)?,
        };
        rows.unsqueeze(0)
    }

    /// Logits for `x` (`[.., d]` to `[.., vocab]`).
    pub(crate) fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(x)
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
    fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
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
        let turned = rope(&x.narrow(D::Minus1, 0, self.dim)?.contiguous()?)?;
        let rest = x.narrow(D::Minus1, self.dim, head_dim - self.dim)?;
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

/// Keys and values of past positions, `[1, kv_heads, capacity, head_dim]`.
/// Capacity grows by doubling up to the context; truncation only moves `len`.
#[derive(Debug)]
pub(crate) struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
    max: usize,
}

/// The smallest capacity allocated, in positions.
const KV_MIN_CAPACITY: usize = 256;

impl KvCache {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            k: None,
            v: None,
            len: 0,
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn capacity(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[2])
    }

    fn grow(buf: Option<&Tensor>, len: usize, like: &Tensor, cap: usize) -> Result<Tensor> {
        let (b, h, _, d) = like.dims4()?;
        match buf {
            Some(old) if len > 0 => {
                let extra = Tensor::zeros((b, h, cap - len, d), like.dtype(), like.device())?;
                Tensor::cat(&[&old.narrow(2, 0, len)?, &extra], 2)
            }
            _ => Tensor::zeros((b, h, cap, d), like.dtype(), like.device()),
        }
    }

    /// Appends contiguous `[1, kv_heads, t, head_dim]` keys and values and
    /// returns views of positions `from..len`.
    fn append(&mut self, k: &Tensor, v: &Tensor, from: usize) -> Result<(Tensor, Tensor)> {
        let t = k.dims()[2];
        let need = self.len + t;
        if need > self.max {
            candle_core::bail!("KV cache full: {need} positions, context {}", self.max);
        }
        if need > self.capacity() {
            let cap = need
                .max(self.capacity() * 2)
                .max(KV_MIN_CAPACITY)
                .min(self.max);
            self.k = Some(Self::grow(self.k.as_ref(), self.len, k, cap)?);
            self.v = Some(Self::grow(self.v.as_ref(), self.len, v, cap)?);
        }
        let (Some(kb), Some(vb)) = (&self.k, &self.v) else {
            candle_core::bail!("KV cache was not allocated");
        };
        kb.slice_set(k, 2, self.len)?;
        vb.slice_set(v, 2, self.len)?;
        self.len = need;
        Ok((
            kb.narrow(2, from, need - from)?,
            vb.narrow(2, from, need - from)?,
        ))
    }
}

/// Additive attention masks for one forward of `t` tokens at `pos`: `None` when
/// no key has to be hidden (a single token with every visible key in view).
#[derive(Debug)]
pub(crate) struct Masks {
    causal: Option<Tensor>,
    sliding: Option<Tensor>,
}

/// First key position a query at `pos` (the earliest in the batch) may see
/// through a window of `window` positions (llama.cpp and HF: `i - j < window`).
fn window_start(pos: usize, window: Option<usize>) -> usize {
    window.map_or(0, |w| (pos + 1).saturating_sub(w))
}

fn build_mask(t: usize, pos: usize, window: Option<usize>, device: &Device) -> Result<Tensor> {
    let start = window_start(pos, window);
    let keys = pos + t - start;
    let mut m = vec![0f32; t * keys];
    for r in 0..t {
        let i = pos + r;
        for c in 0..keys {
            let j = start + c;
            if j > i || window.is_some_and(|w| i - j >= w) {
                m[r * keys + c] = f32::NEG_INFINITY;
            }
        }
    }
    Tensor::from_vec(m, (t, keys), device)
}

impl Masks {
    pub(crate) fn new(
        t: usize,
        pos: usize,
        window: Option<usize>,
        device: &Device,
    ) -> Result<Self> {
        if t <= 1 {
            return Ok(Self {
                causal: None,
                sliding: None,
            });
        }
        Ok(Self {
            causal: Some(build_mask(t, pos, None, device)?),
            sliding: match window {
                Some(_) => Some(build_mask(t, pos, window, device)?),
                None => None,
            },
        })
    }
}

/// How the q/k/v projections are stored.
#[derive(Debug)]
pub(crate) enum QkvProj {
    Separate {
        q: Linear,
        k: Linear,
        v: Linear,
    },
    /// One `attn_qkv` matrix, rows ordered q, k, v (phi3).
    Fused(Linear),
}

/// Multi-head attention with grouped kv heads, optional per-head q/k norms,
/// rotary positions, an optional sliding window and its own KV cache.
#[derive(Debug)]
pub(crate) struct Attention {
    pub(crate) qkv: QkvProj,
    pub(crate) out: Linear,
    pub(crate) q_norm: Option<RmsNorm>,
    pub(crate) k_norm: Option<RmsNorm>,
    pub(crate) n_head: usize,
    pub(crate) n_kv_head: usize,
    pub(crate) head_dim: usize,
    pub(crate) scale: f64,
    pub(crate) rotary: Rotary,
    pub(crate) window: Option<usize>,
    pub(crate) cache: KvCache,
}

impl Attention {
    /// `[1, t, h·d]` projection output to contiguous `[1, h, t, d]`, normed and rotated.
    fn heads(
        &self,
        x: &Tensor,
        n: usize,
        norm: Option<&RmsNorm>,
        pos: Option<usize>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let mut x = x.reshape((b, t, n, self.head_dim))?;
        if let Some(norm) = norm {
            x = norm.forward(&x)?;
        }
        let x = x.transpose(1, 2)?.contiguous()?;
        match pos {
            Some(pos) => self.rotary.apply(&x, pos),
            None => Ok(x),
        }
    }

    pub(crate) fn forward(&mut self, x: &Tensor, pos: usize, masks: &Masks) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (q_dim, kv_dim) = (self.n_head * self.head_dim, self.n_kv_head * self.head_dim);
        let (q, k, v) = match &self.qkv {
            QkvProj::Separate { q, k, v } => (q.forward(x)?, k.forward(x)?, v.forward(x)?),
            QkvProj::Fused(w) => {
                let qkv = w.forward(x)?;
                (
                    qkv.narrow(D::Minus1, 0, q_dim)?,
                    qkv.narrow(D::Minus1, q_dim, kv_dim)?,
                    qkv.narrow(D::Minus1, q_dim + kv_dim, kv_dim)?,
                )
            }
        };
        let q = self.heads(&q, self.n_head, self.q_norm.as_ref(), Some(pos))?;
        let k = self.heads(&k, self.n_kv_head, self.k_norm.as_ref(), Some(pos))?;
        let v = self.heads(&v, self.n_kv_head, None, None)?;
        let from = window_start(pos, self.window);
        let (k, v) = self.cache.append(&k, &v, from)?;
        let keys = k.dims()[2];

        // Grouped-query attention without repeating k/v: the `group` query heads
        // that share a kv head become extra rows of one matmul.
        let group = self.n_head / self.n_kv_head;
        let q = (q * self.scale)?.reshape((b, self.n_kv_head, group * t, self.head_dim))?;
        let att = q.matmul(&k.t()?)?;
        let mask = if self.window.is_some() {
            masks.sliding.as_ref()
        } else {
            masks.causal.as_ref()
        };
        let att = match mask {
            Some(m) => att
                .reshape((b, self.n_kv_head, group, t, keys))?
                .broadcast_add(m)?
                .reshape((b, self.n_kv_head, group * t, keys))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?; // [b, kv, group·t, d] == [b, h, t, d]
        let y = y
            .reshape((b, self.n_head, t, self.head_dim))?
            .transpose(1, 2)?
            .reshape((b, t, q_dim))?;
        self.out.forward(&y)
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
            GateUp::Separate { gate, up } => (gate.forward(x)?, up.forward(x)?),
            GateUp::Fused(w) => {
                let both = w.forward(x)?;
                let n = both.dim(D::Minus1)? / 2;
                (both.narrow(D::Minus1, 0, n)?, both.narrow(D::Minus1, n, n)?)
            }
        };
        let gate = match self.act {
            Activation::Silu => candle_nn::ops::silu(&gate)?,
            Activation::GeluTanh => gate.gelu()?,
        };
        self.down.forward(&(gate * up)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn causal_mask_hides_future_keys() {
        let m = build_mask(3, 2, None, &Device::Cpu).unwrap();
        let m = m.to_vec2::<f32>().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].len(), 5);
        // query at position 2 sees keys 0..=2
        assert!(m[0][..3].iter().all(|&x| x == 0.0));
        assert!(m[0][3..].iter().all(|&x| x == f32::NEG_INFINITY));
        assert!(m[2].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn sliding_mask_hides_keys_older_than_the_window() {
        // window 2: query i sees i-1 and i. Batch at pos 3, t = 2: keys from 2.
        let m = build_mask(2, 3, Some(2), &Device::Cpu).unwrap();
        let m = m.to_vec2::<f32>().unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(m, vec![vec![0.0, 0.0, inf], vec![inf, 0.0, 0.0]]);
    }

    #[test]
    fn kv_cache_grows_and_truncates() {
        let mut c = KvCache::new(600);
        let kv = Tensor::ones((1, 2, 200, 4), DType::F32, &Device::Cpu).unwrap();
        c.append(&kv, &kv, 0).unwrap();
        c.append(&kv, &kv, 0).unwrap();
        assert_eq!(c.len(), 400);
        assert_eq!(c.capacity(), 512);
        c.truncate(150);
        let (k, _) = c.append(&kv, &kv, 100).unwrap();
        assert_eq!(c.len(), 350);
        assert_eq!(k.dims(), &[1, 2, 250, 4]);
        c.truncate(500);
        assert_eq!(c.len(), 350);
        let big = Tensor::ones((1, 2, 300, 4), DType::F32, &Device::Cpu).unwrap();
        assert!(c.append(&big, &big, 0).is_err());
    }
}
