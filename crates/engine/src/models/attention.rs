//! Attention with grouped kv heads, optional per-head q/k norms, rotary
//! positions and an optional sliding window, over a KV cache that grows by
//! doubling and truncates in O(1) (for prompt-prefix reuse across chat turns).
//!
//! Semantics follow llama.cpp (`llm_graph_context::build_attn`, its SWA mask
//! `p1 - p0 >= n_swa`) and Hugging Face's `sliding_window` masks.

use candle_core::{CpuStorage, CustomOp3, D, DType, Device, Layout, Result, Shape, Tensor};

use super::layers::{Linear, RmsNorm, Rotary};
use super::qweight::contiguous_f32;

/// Keys and values of past positions, `[1, kv_heads, capacity, head_dim]`.
/// Capacity grows by doubling up to the context; truncation only moves `len`.
/// On the CPU they are kept in f16, as llama.cpp keeps them: half the memory,
/// and hearth-kernels' attention widens them as it reads.
#[derive(Debug)]
pub(crate) struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
    max: usize,
    dtype: DType,
}

/// The smallest capacity allocated, in positions.
const KV_MIN_CAPACITY: usize = 256;

impl KvCache {
    pub(crate) fn new(max: usize, device: &Device) -> Self {
        Self {
            k: None,
            v: None,
            len: 0,
            max,
            dtype: if device.is_cpu() {
                DType::F16
            } else {
                DType::F32
            },
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
    /// returns views of positions `from..len`, in the cache's type.
    fn append(&mut self, k: &Tensor, v: &Tensor, from: usize) -> Result<(Tensor, Tensor)> {
        let (k, v) = (&k.to_dtype(self.dtype)?, &v.to_dtype(self.dtype)?);
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

/// Queries per block of a long prompt's attention.
const ATTENTION_BLOCK: usize = 128;

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
            QkvProj::Separate { q, k, v } => {
                let [q, k, v] = Linear::forward_shared([q, k, v], x)?;
                (q, k, v)
            }
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
        if t == 1 && b == 1 && q.device().is_cpu() {
            // One token: every cached key in view is visible (the window is
            // `from`), so no mask; hearth-kernels does all heads in one op.
            let op = DecodeAttention {
                heads: self.n_head,
                kv_heads: self.n_kv_head,
                head_dim: self.head_dim,
                scale: self.scale as f32,
            };
            return self.out.forward(&q.apply_op3_no_bwd(&k, &v, &op)?);
        }

        let (k, v) = (k.to_dtype(q.dtype())?, v.to_dtype(q.dtype())?);
        // Grouped-query attention without repeating k/v: the `group` query heads
        // that share a kv head become extra rows of one matmul.
        let group = self.n_head / self.n_kv_head;
        let q = (q * self.scale)?.reshape((b, self.n_kv_head, group, t, self.head_dim))?;
        let mask = if self.window.is_some() {
            masks.sliding.as_ref()
        } else {
            masks.causal.as_ref()
        };
        // A long prompt's queries go in blocks: the scores of a block are
        // `group · ATTENTION_BLOCK × keys`, not `t × keys` per kv head (tens of
        // MiB for 512 tokens), and each block skips the keys after its last
        // query, which the causal mask would hide anyway.
        let mut blocks = Vec::with_capacity(t.div_ceil(ATTENTION_BLOCK));
        for r0 in (0..t).step_by(ATTENTION_BLOCK) {
            let rows = ATTENTION_BLOCK.min(t - r0);
            let seen = pos + r0 + rows - from;
            let q =
                q.narrow(3, r0, rows)?
                    .reshape((b, self.n_kv_head, group * rows, self.head_dim))?;
            let att = q.matmul(&k.narrow(2, 0, seen)?.t()?)?;
            let att = match mask {
                Some(m) => att
                    .reshape((b, self.n_kv_head, group, rows, seen))?
                    .broadcast_add(&m.narrow(0, r0, rows)?.narrow(1, 0, seen)?)?
                    .reshape((b, self.n_kv_head, group * rows, seen))?,
                None => att,
            };
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v.narrow(2, 0, seen)?)?;
            blocks.push(y.reshape((b, self.n_kv_head, group, rows, self.head_dim))?);
        }
        // [b, kv, group, t, d] == [b, h, t, d]
        let y = match blocks.as_slice() {
            [one] => one.clone(),
            _ => Tensor::cat(&blocks, 3)?,
        };
        let y = y
            .reshape((b, self.n_head, t, self.head_dim))?
            .transpose(1, 2)?
            .reshape((b, t, q_dim))?;
        self.out.forward(&y)
    }
}

/// Attention of one query position over the cache, as one candle op over
/// `q` `[1, heads, 1, d]` and the cache views `[1, kv_heads, keys, d]`.
struct DecodeAttention {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f32,
}

impl DecodeAttention {
    /// The cache view `[1, kv_heads, keys, d]` with rows of `d` in a row.
    fn view<'a>(
        &self,
        storage: &'a CpuStorage,
        layout: &Layout,
    ) -> Result<(hearth_kernels::KvView<'a>, usize)> {
        let at = layout.start_offset();
        let data = match storage {
            CpuStorage::F16(d) if at <= d.len() => hearth_kernels::KvData::F16(&d[at..]),
            CpuStorage::F32(d) if at <= d.len() => hearth_kernels::KvData::F32(&d[at..]),
            _ => candle_core::bail!("hearth-attention takes an f16 or f32 cache"),
        };
        let (dims, stride) = (layout.dims(), layout.stride());
        match (dims, stride) {
            ([1, kv, keys, d], [_, head_stride, row, 1])
                if *kv == self.kv_heads && *d == self.head_dim && *row == self.head_dim =>
            {
                let view = hearth_kernels::KvView {
                    data,
                    head_stride: *head_stride,
                };
                Ok((view, *keys))
            }
            _ => candle_core::bail!("hearth-attention: cache view {dims:?} / {stride:?}"),
        }
    }
}

impl CustomOp3 for DecodeAttention {
    fn name(&self) -> &'static str {
        "hearth-attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_layout: &Layout,
        k: &CpuStorage,
        k_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let q = contiguous_f32(self.name(), q, q_layout)?;
        let (k, keys) = self.view(k, k_layout)?;
        let (v, v_keys) = self.view(v, v_layout)?;
        if v_keys != keys {
            candle_core::bail!("hearth-attention: {keys} keys but {v_keys} values");
        }
        let shape = hearth_kernels::AttentionShape {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            keys,
        };
        let mut out = vec![0.0f32; self.heads * self.head_dim];
        hearth_kernels::attend_one(shape, q, k, v, self.scale, &mut out)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok((
            CpuStorage::F32(out),
            Shape::from((1, 1, self.heads * self.head_dim)),
        ))
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
        let mut c = KvCache::new(600, &Device::Cpu);
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
