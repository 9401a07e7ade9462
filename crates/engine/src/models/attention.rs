//! Attention with grouped kv heads, optional per-head q/k norms, rotary
//! positions and an optional sliding window, over a KV cache that grows by
//! doubling and truncates in O(1) (for prompt-prefix reuse across chat turns).
//!
//! Semantics follow llama.cpp (`llm_graph_context::build_attn`, its SWA mask
//! `p1 - p0 >= n_swa`) and Hugging Face's `sliding_window` masks.

use candle_core::{CpuStorage, CustomOp3, D, DType, Device, Layout, Result, Shape, Tensor};

use super::KvType;
use super::layers::{Linear, RmsNorm};
use super::qweight::contiguous_f32;
use super::rope::Rotary;

/// Keys and values of past positions of one layer for one sequence,
/// `[1, kv_heads, capacity, row]` (a [`super::SeqCache`] holds one per layer).
/// Capacity grows by doubling up to the context; truncation only moves `len`.
/// On the CPU they are kept as the user chose ([`KvType`]: f16 by default, as
/// llama.cpp keeps them, or f32, or `Q8_0` blocks held as bytes, a row being
/// `head_dim / 32 · 34` of them); hearth-kernels' attention widens them as it
/// reads. On another device they are f32.
#[derive(Debug)]
pub(crate) struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
    len: usize,
    max: usize,
    kind: KvType,
}

/// The smallest capacity allocated, in positions.
const KV_MIN_CAPACITY: usize = 256;

impl KvCache {
    pub(crate) fn new(max: usize, kind: KvType, device: &Device) -> Self {
        Self {
            k: None,
            v: None,
            len: 0,
            max,
            kind: if device.is_cpu() { kind } else { KvType::F32 },
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn capacity(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[2])
    }

    /// Bytes allocated for keys and values (the capacity, not the length).
    pub(crate) fn bytes(&self) -> usize {
        [&self.k, &self.v]
            .into_iter()
            .flatten()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
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

    /// `[1, kv_heads, t, head_dim]` f32 rows in the cache's type.
    fn stored(&self, x: &Tensor) -> Result<Tensor> {
        match self.kind {
            KvType::F32 => x.to_dtype(DType::F32),
            KvType::F16 => x.to_dtype(DType::F16),
            KvType::Q8_0 => {
                let (b, h, t, d) = x.dims4()?;
                let values = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                let mut bytes = Vec::new();
                hearth_kernels::quantize_q8_0(&values, &mut bytes);
                Tensor::from_vec(bytes, (b, h, t, self.kind.row_bytes(d)), x.device())
            }
        }
    }

    /// A new cache holding a copy of this one's first `n` positions (all it
    /// holds when it holds fewer), with room for at least
    /// [`KV_MIN_CAPACITY`].
    pub(crate) fn copy_prefix(&self, n: usize) -> Result<Self> {
        let n = n.min(self.len);
        let mut copy = Self {
            k: None,
            v: None,
            len: 0,
            max: self.max,
            kind: self.kind,
        };
        if let (Some(k), Some(v)) = (&self.k, &self.v)
            && n > 0
        {
            let cap = n.max(KV_MIN_CAPACITY).min(self.max);
            let take = |buf: &Tensor| {
                if cap > n {
                    Self::grow(Some(buf), n, buf, cap)
                } else {
                    buf.narrow(2, 0, n)?.copy()
                }
            };
            copy.k = Some(take(k)?);
            copy.v = Some(take(v)?);
            copy.len = n;
        }
        Ok(copy)
    }

    /// Appends contiguous `[1, kv_heads, t, head_dim]` keys and values and
    /// returns views of positions `from..len`, in the cache's type.
    fn append(&mut self, k: &Tensor, v: &Tensor, from: usize) -> Result<(Tensor, Tensor)> {
        let t = k.dims()[2];
        let need = self.len + t;
        if need > self.max {
            candle_core::bail!("KV cache full: {need} positions, context {}", self.max);
        }
        let (k, v) = (&self.stored(k)?, &self.stored(v)?);
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

/// Queries per block of a long prompt's attention on a device other than the
/// CPU (the CPU's is tiled by hearth-kernels).
const ATTENTION_BLOCK: usize = 128;

/// Additive attention masks for one forward of `t` tokens at `pos`, for the
/// candle path a device other than the CPU takes: `None` when no key has to be
/// hidden (a single token with every visible key in view), and on the CPU,
/// whose kernels compare positions instead.
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
        if t <= 1 || device.is_cpu() {
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
/// rotary positions and an optional sliding window. The weights only: the
/// KV cache is the sequence's, passed to each forward, so one model serves
/// several conversations, each with its own cache.
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

    /// Bytes a full-context cache of this layer takes, stored as `kind`.
    pub(crate) fn cache_bytes(&self, context: usize, kind: KvType) -> usize {
        2 * self.n_kv_head * context * kind.row_bytes(self.head_dim)
    }

    pub(crate) fn forward(
        &self,
        x: &Tensor,
        pos: usize,
        masks: &Masks,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x)?;
        let y = self.attend(&q, &k, &v, pos, masks, cache)?;
        self.out.forward(&y)
    }

    /// One new token for each of several sequences: `x` is `[1, n, hidden]`,
    /// row `i` at position `positions[i]` of `caches[i]`. The projections
    /// run on the `n` rows together (each weight read once for all of
    /// them); rotary positions, the cache append and the attention run per
    /// sequence, over its own cache.
    pub(crate) fn forward_batch(
        &self,
        x: &Tensor,
        positions: &[usize],
        caches: &mut [&mut KvCache],
    ) -> Result<Tensor> {
        let (q, k, v) = self.project(x)?;
        let mut rows = Vec::with_capacity(positions.len());
        for (i, (&pos, cache)) in positions.iter().zip(caches.iter_mut()).enumerate() {
            let masks = Masks::new(1, pos, self.window, x.device())?;
            let row = |t: &Tensor| t.narrow(1, i, 1);
            rows.push(self.attend(&row(&q)?, &row(&k)?, &row(&v)?, pos, &masks, cache)?);
        }
        self.out.forward(&Tensor::cat(&rows, 1)?)
    }

    /// The q, k and v projections of `x` `[1, t, hidden]`.
    fn project(&self, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let (q_dim, kv_dim) = (self.n_head * self.head_dim, self.n_kv_head * self.head_dim);
        Ok(match &self.qkv {
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
        })
    }

    /// The attention of projected rows `[1, t, ·]` at `pos` over `cache`
    /// (which they are appended to), before the output projection:
    /// `[1, t, heads · head_dim]`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        pos: usize,
        masks: &Masks,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (b, t, _) = q.dims3()?;
        let q_dim = self.n_head * self.head_dim;
        let q = self.heads(q, self.n_head, self.q_norm.as_ref(), Some(pos))?;
        let k = self.heads(k, self.n_kv_head, self.k_norm.as_ref(), Some(pos))?;
        let v = self.heads(v, self.n_kv_head, None, None)?;
        let from = window_start(pos, self.window);
        let (k, v) = cache.append(&k, &v, from)?;
        if q.device().is_cpu() {
            if b != 1 {
                candle_core::bail!("attention runs one sequence at a time, not {b}");
            }
            // Every head in one op of hearth-kernels, straight from the cache:
            // one token over the keys in view (its window is `from`), or a
            // prompt's tokens tiled with an online softmax, the causal mask and
            // the window as positions compared.
            let shape = CacheShape {
                heads: self.n_head,
                kv_heads: self.n_kv_head,
                head_dim: self.head_dim,
                scale: self.scale as f32,
            };
            let op = CacheAttention {
                shape,
                span: hearth_kernels::QuerySpan {
                    rows: t,
                    first: pos,
                    key0: from,
                    window: self.window,
                },
            };
            let y = q.contiguous()?.apply_op3_no_bwd(&k, &v, &op)?;
            return Ok(y);
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
        Ok(y)
    }
}

/// The heads of an attention over the cache, for hearth-kernels.
#[derive(Debug, Clone, Copy)]
struct CacheShape {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    scale: f32,
}

impl CacheShape {
    /// The cache view `[1, kv_heads, keys, row]` (rows in a row) as
    /// hearth-kernels reads it, and its number of keys.
    fn view<'a>(
        &self,
        op: &str,
        storage: &'a CpuStorage,
        layout: &Layout,
    ) -> Result<(hearth_kernels::KvView<'a>, usize)> {
        let at = layout.start_offset();
        let d = self.head_dim;
        let (data, row) = match storage {
            CpuStorage::F16(x) if at <= x.len() => (hearth_kernels::KvData::F16(&x[at..]), d),
            CpuStorage::F32(x) if at <= x.len() => (hearth_kernels::KvData::F32(&x[at..]), d),
            CpuStorage::U8(x) if at <= x.len() => (
                hearth_kernels::KvData::Q8_0(&x[at..]),
                KvType::Q8_0.row_bytes(d),
            ),
            _ => candle_core::bail!("{op} takes an f16, f32 or q8_0 cache"),
        };
        match (layout.dims(), layout.stride()) {
            ([1, kv, keys, width], [_, head_stride, step, 1])
                if *kv == self.kv_heads && *width == row && *step == row =>
            {
                // Strides in values, whatever the type (a q8_0 row is d values).
                let view = hearth_kernels::KvView {
                    data,
                    head_stride: head_stride / row * d,
                };
                Ok((view, *keys))
            }
            (dims, stride) => candle_core::bail!("{op}: cache view {dims:?} / {stride:?}"),
        }
    }

    /// The keys and values views, checked to have as many rows.
    #[allow(clippy::type_complexity)]
    fn views<'a>(
        &self,
        op: &str,
        k: (&'a CpuStorage, &Layout),
        v: (&'a CpuStorage, &Layout),
    ) -> Result<(
        hearth_kernels::KvView<'a>,
        hearth_kernels::KvView<'a>,
        usize,
    )> {
        let (kv, keys) = self.view(op, k.0, k.1)?;
        let (vv, v_keys) = self.view(op, v.0, v.1)?;
        if v_keys != keys {
            candle_core::bail!("{op}: {keys} keys but {v_keys} values");
        }
        Ok((kv, vv, keys))
    }

    fn kernel_shape(&self, keys: usize) -> hearth_kernels::AttentionShape {
        hearth_kernels::AttentionShape {
            heads: self.heads,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
            keys,
        }
    }
}

/// The attention of `t` query positions over the cache, as one candle op
/// over `q` `[1, heads, t, d]` and the cache views `[1, kv_heads, keys, row]`;
/// gives `[1, t, heads · d]`. One position (a generated token) takes
/// hearth-kernels' decode kernel, split over the keys; more (a prompt) the
/// tiled one, the causal mask and the window as positions compared.
struct CacheAttention {
    shape: CacheShape,
    span: hearth_kernels::QuerySpan,
}

impl CustomOp3 for CacheAttention {
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
        let (s, rows) = (self.shape, self.span.rows);
        let q = contiguous_f32(self.name(), q, q_layout)?;
        let (k, v, keys) = s.views(self.name(), (k, k_layout), (v, v_layout))?;
        let shape = s.kernel_shape(keys);
        let mut out = vec![0.0f32; rows * s.heads * s.head_dim];
        if rows == 1 {
            hearth_kernels::attend_one(shape, q, k, v, s.scale, &mut out)
        } else {
            hearth_kernels::attend_many(shape, self.span, q, k, v, s.scale, &mut out)
        }
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok((
            CpuStorage::F32(out),
            Shape::from((1, rows, s.heads * s.head_dim)),
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
        let mut c = KvCache::new(600, KvType::F16, &Device::Cpu);
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
