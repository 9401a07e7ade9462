//! Attention for a block of a prompt's queries over the cache, tiled with an
//! online softmax (as FlashAttention does on a GPU): the keys are read in tiles
//! of a few dozen rows, each query keeps its running maximum, sum and weighted
//! values, and no `queries × keys` score matrix is ever made. Memory is the
//! cache plus a few tiles per thread, whatever the context; a 32k-token prompt
//! does not need a gigabyte of scores per layer.
//!
//! The causal mask and the sliding window are positions compared, not a mask
//! tensor: a tile no query of a block can see is never read, so a sliding-window
//! layer only reads its window.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Mutex;

use super::{
    AttentionError, AttentionShape, KvData, KvView, Q8_0_BLOCK, Q8_0_BYTES, check_isa, check_view,
    sum_of, widen_q8_0,
};
use crate::Isa;
use crate::glu::exp;
use crate::pool::Pool;

/// Where a block of queries sits and which keys each may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySpan {
    /// Query rows, at positions `first .. first + rows`.
    pub rows: usize,
    /// Position of the first query.
    pub first: usize,
    /// Position of the views' first key (keys before it are out of every
    /// query's window, or the caller's view starts there).
    pub key0: usize,
    /// A query at `i` sees a key at `j <= i` when `i - j < window`
    /// (llama.cpp's and Hugging Face's sliding window); `None`: every `j <= i`.
    pub window: Option<usize>,
}

impl QuerySpan {
    /// Index in the views of the first key the query at `pos` sees.
    fn first_key(&self, pos: usize) -> usize {
        let from = self.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        from.saturating_sub(self.key0)
    }
}

/// Query rows per unit of work (one kv head's group of query heads × this many
/// positions): their running sums stay in L2 while the key tiles stream past.
const QUERY_BLOCK: usize = 32;

/// Bytes of one widened tile of keys or values: it stays in L1.
const TILE_BYTES: usize = 32 * 1024;

/// A register block: `ROWS` queries × `LANES` keys (scores) or dimensions
/// (weighted values), 4 × 16 f32 = eight AVX2 or four AVX-512 registers.
const ROWS: usize = 4;
const LANES: usize = 16;

/// Below this many query·key·dim products the caller does the whole job.
const PARALLEL_MIN_WORK: usize = 64 * 1024;

/// Spans of at most this many queries are attended one query at a time by
/// the decode kernel ([`super::attend_one`]) over exactly the keys a
/// generated token at that position sees, so they give a generated token's
/// numbers bit for bit: a speculative draft checked in one pass (up to 16
/// drafted tokens and the last accepted one) accepts what decoding one token
/// at a time would have produced, not a near tie rounded the other way. The
/// tiled kernel pays from here on, where a span reads the keys far fewer
/// times than once per query.
pub const DECODE_EXACT_ROWS: usize = 17;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One thread's buffers for a unit.
#[derive(Default)]
struct Scratch {
    /// A tile of keys, then of values, widened to f32.
    tile: Vec<f32>,
    /// The tile's keys transposed.
    keys_t: Vec<f32>,
    /// Scores of the unit's queries over the tile (`queries × tile`).
    scores: Vec<f32>,
    /// Per query: running max and sum, and the tile's visible key range.
    max: Vec<f32>,
    sum: Vec<f32>,
    seen: Vec<Range<usize>>,
    /// Per query: the weighted values so far (`queries × head_dim`).
    acc: Vec<f32>,
}

/// `out[r][h] = softmax(scale · q[h][r] · K[g]ᵀ + mask) · V[g]` for each query
/// row `r` of `span` and query head `h` (`g = h / (heads / kv_heads)`), where
/// the mask hides keys after the query's position and outside its window.
///
/// `q` is `heads × rows × head_dim` (a `[1, heads, rows, head_dim]` tensor),
/// `out` is `rows × heads × head_dim` (`[1, rows, heads · head_dim]`, ready for
/// the output projection). `shape.keys` is the views' length, which must reach
/// the last query's position: `first + rows - key0`.
pub fn attend_many(
    shape: AttentionShape,
    span: QuerySpan,
    q: &[f32],
    k: KvView<'_>,
    v: KvView<'_>,
    scale: f32,
    out: &mut [f32],
) -> Result<(), AttentionError> {
    attend(Isa::active(), shape, span, q, k, v, scale, out)
}

/// The operands of one call, checked.
struct Job<'a> {
    shape: AttentionShape,
    span: QuerySpan,
    q: &'a [f32],
    k: KvView<'a>,
    v: KvView<'a>,
    scale: f32,
    /// Query blocks per kv head.
    blocks: usize,
}

#[allow(clippy::too_many_arguments)] // attend_many's operands and the ISA
fn attend(
    isa: Isa,
    shape: AttentionShape,
    span: QuerySpan,
    q: &[f32],
    k: KvView<'_>,
    v: KvView<'_>,
    scale: f32,
    out: &mut [f32],
) -> Result<(), AttentionError> {
    check_isa(isa)?;
    let AttentionShape {
        heads,
        kv_heads,
        head_dim: d,
        keys,
    } = shape;
    let QuerySpan {
        rows, first, key0, ..
    } = span;
    if kv_heads == 0 || heads % kv_heads != 0 || d == 0 || rows == 0 || span.window == Some(0) {
        return Err(AttentionError(format!("bad shape {shape:?} {span:?}")));
    }
    if key0 > first || keys != first + rows - key0 {
        return Err(AttentionError(format!(
            "{keys} keys from position {key0} do not end at the last query ({span:?})"
        )));
    }
    if span.window.map_or(0, |w| (first + 1).saturating_sub(w)) < key0 {
        return Err(AttentionError(format!(
            "the keys start at {key0}, after the first query's window ({span:?})"
        )));
    }
    if q.len() != heads * rows * d || out.len() != heads * rows * d {
        return Err(AttentionError(format!(
            "q has {} and out {} values, not {heads} × {rows} × {d}",
            q.len(),
            out.len()
        )));
    }
    check_view("keys", k, kv_heads, keys, d)?;
    check_view("values", v, kv_heads, keys, d)?;
    if rows <= DECODE_EXACT_ROWS {
        return row_by_row(isa, shape, span, q, (k, v), scale, out);
    }
    let job = Job {
        shape,
        span,
        q,
        k,
        v,
        scale,
        blocks: rows.div_ceil(QUERY_BLOCK),
    };
    let units = kv_heads * job.blocks;
    let out = Mutex::new(out);
    let pool = Pool::global();
    let parts = pool.parts().min(units);
    if parts <= 1 || heads * rows * keys * d / 2 < PARALLEL_MIN_WORK {
        (0..units).for_each(|u| unit(isa, &job, u, &out));
    } else {
        // Units taken in turn, so each part gets early (short) and late (long,
        // under the causal mask) query blocks alike.
        pool.run(&|part| {
            for u in (part..units).step_by(parts) {
                unit(isa, &job, u, &out);
            }
        });
    }
    Ok(())
}

/// A short span as that many generated tokens: each query through the
/// decode kernel over the keys its position sees (the views from its
/// window's first key to itself), as [`super::attend_one`] meets them when
/// the engine generates the token at that position.
fn row_by_row(
    isa: Isa,
    shape: AttentionShape,
    span: QuerySpan,
    q: &[f32],
    (k, v): (KvView<'_>, KvView<'_>),
    scale: f32,
    out: &mut [f32],
) -> Result<(), AttentionError> {
    let (heads, d, rows) = (shape.heads, shape.head_dim, span.rows);
    let mut q_row = vec![0.0f32; heads * d];
    for (r, out) in out.chunks_exact_mut(heads * d).enumerate() {
        let pos = span.first + r;
        let (from, to) = (span.first_key(pos), pos + 1 - span.key0);
        for (h, dst) in q_row.chunks_exact_mut(d).enumerate() {
            dst.copy_from_slice(&q[(h * rows + r) * d..][..d]);
        }
        let one = AttentionShape {
            keys: to - from,
            ..shape
        };
        super::attend(
            isa,
            one,
            &q_row,
            k.skip_keys(from, d),
            v.skip_keys(from, d),
            scale,
            out,
        )?;
    }
    Ok(())
}

/// One unit with `isa`'s code.
fn unit(isa: Isa, job: &Job<'_>, u: usize, out: &Mutex<&mut [f32]>) {
    SCRATCH.with_borrow_mut(|scratch| match isa {
        // SAFETY: `isa` is one this CPU has (checked in `attend`), and both x86
        // levels include FMA and F16C (see `Isa::available`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { x86::unit_avx512(job, u, scratch, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { x86::unit_avx2(job, u, scratch, out) },
        // Every aarch64 CPU has NEON's fused multiply-add: `mul_add` is one
        // `fmla` there (elsewhere, without FMA, it would be a library call).
        #[cfg(target_arch = "aarch64")]
        _ => unit_body(
            job,
            u,
            scratch,
            out,
            |src, out| {
                for (o, h) in out.iter_mut().zip(src) {
                    *o = h.to_f32();
                }
            },
            f32::mul_add,
        ),
        #[cfg(not(target_arch = "aarch64"))]
        _ => unit_body(
            job,
            u,
            scratch,
            out,
            |src, out| {
                for (o, h) in out.iter_mut().zip(src) {
                    *o = h.to_f32();
                }
            },
            |a, b, c| a * b + c,
        ),
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::attention::x86::widen_f16c;

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) fn unit_avx512(job: &Job<'_>, u: usize, s: &mut Scratch, out: &Mutex<&mut [f32]>) {
        unit_body(job, u, s, out, |src, o| widen_f16c(src, o), f32::mul_add);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn unit_avx2(job: &Job<'_>, u: usize, s: &mut Scratch, out: &Mutex<&mut [f32]>) {
        unit_body(job, u, s, out, |src, o| widen_f16c(src, o), f32::mul_add);
    }
}

/// Rows `keys` of kv head `g` of `view`, as f32: the cache itself when it is
/// f32, else widened into `tile`.
#[inline(always)]
fn tile_rows<'t>(
    view: KvView<'t>,
    g: usize,
    keys: Range<usize>,
    d: usize,
    tile: &'t mut Vec<f32>,
    widen: &impl Fn(&[half::f16], &mut [f32]),
) -> &'t [f32] {
    let at = g * view.head_stride + keys.start * d;
    let n = keys.len() * d;
    match view.data {
        KvData::F32(data) => &data[at..][..n],
        KvData::F16(data) => {
            tile.resize(n, 0.0);
            widen(&data[at..][..n], tile);
            tile
        }
        KvData::Q8_0(data) => {
            tile.resize(n, 0.0);
            let bytes = n / Q8_0_BLOCK * Q8_0_BYTES;
            widen_q8_0(&data[at / Q8_0_BLOCK * Q8_0_BYTES..][..bytes], tile);
            tile
        }
    }
}

/// Unit `u`: kv head `u / blocks`, query rows of block `u % blocks`, every
/// query head of the group, over the keys those rows see, a tile at a time.
#[inline(always)]
fn unit_body(
    job: &Job<'_>,
    u: usize,
    scratch: &mut Scratch,
    out: &Mutex<&mut [f32]>,
    widen: impl Fn(&[half::f16], &mut [f32]),
    fma: impl Fn(f32, f32, f32) -> f32,
) {
    let AttentionShape {
        heads,
        kv_heads,
        head_dim: d,
        ..
    } = job.shape;
    let span = job.span;
    let group = heads / kv_heads;
    let (g, b) = (u / job.blocks, u % job.blocks);
    let r0 = b * QUERY_BLOCK;
    let nr = QUERY_BLOCK.min(span.rows - r0);
    // Queries of the unit, `hh · nr + r`: query head `g · group + hh`, row `r0 + r`.
    let queries = group * nr;
    let query = |qi: usize| {
        let (hh, r) = (qi / nr, qi % nr);
        &job.q[((g * group + hh) * span.rows + r0 + r) * d..][..d]
    };
    // The keys (view indices) of query row `r`: its window's start to itself.
    let sees = |r: usize| {
        let pos = span.first + r0 + r;
        span.first_key(pos)..pos + 1 - span.key0
    };
    let keys = sees(0).start..sees(nr - 1).end;
    let tile_len = (TILE_BYTES / 4 / d).max(1).next_multiple_of(LANES);
    // Rows padded to whole register blocks: the padding rows compute on the
    // last query's values and are never written out.
    let padded = queries.next_multiple_of(ROWS);

    let Scratch {
        tile,
        keys_t,
        scores,
        max,
        sum,
        seen,
        acc,
    } = scratch;
    scores.clear();
    scores.resize(padded * tile_len, 0.0);
    max.clear();
    max.resize(queries, f32::NEG_INFINITY);
    sum.clear();
    sum.resize(queries, 0.0);
    seen.clear();
    seen.resize(queries, 0..0);
    acc.clear();
    acc.resize(padded * d, 0.0);

    for t0 in keys.clone().step_by(tile_len) {
        let t = t0..(t0 + tile_len).min(keys.end);
        let width = t.len().next_multiple_of(LANES);
        // The tile's keys transposed (`head_dim × width`, zero past the
        // tile), so a block of scores is outer products, not dot products
        // each ending in a horizontal sum.
        let k = tile_rows(job.k, g, t.clone(), d, tile, &widen);
        keys_t.clear();
        keys_t.resize(d * width, 0.0);
        for (j, key) in k.chunks_exact(d).enumerate() {
            for (i, &x) in key.iter().enumerate() {
                keys_t[i * width + j] = x;
            }
        }
        for qb in (0..padded).step_by(ROWS) {
            let q: [&[f32]; ROWS] = std::array::from_fn(|r| query((qb + r).min(queries - 1)));
            for j0 in (0..width).step_by(LANES) {
                let mut block = [[0.0f32; LANES]; ROWS];
                for (i, row) in keys_t.chunks_exact(width).enumerate() {
                    let Some(kv) = row.get(j0..j0 + LANES) else {
                        continue;
                    };
                    for (b, q) in block.iter_mut().zip(&q) {
                        let x = q[i];
                        for (b, &k) in b.iter_mut().zip(kv) {
                            *b = fma(x, k, *b);
                        }
                    }
                }
                for (r, b) in block.iter().enumerate() {
                    let s = &mut scores[(qb + r) * tile_len + j0..][..LANES];
                    for (s, &b) in s.iter_mut().zip(b) {
                        *s = job.scale * b;
                    }
                }
            }
        }
        // Each query's softmax numerators over the keys it sees (zero
        // elsewhere), and the online softmax's rescaling of what came before.
        for qi in 0..queries {
            let r = sees(qi % nr);
            let vis = r.start.max(t.start)..r.end.min(t.end);
            let row = &mut scores[qi * tile_len..][..width];
            if vis.is_empty() {
                row.fill(0.0);
                seen[qi] = t.start..t.start;
                continue;
            }
            let (lo, hi) = (vis.start - t.start, vis.end - t.start);
            seen[qi] = vis;
            row[..lo].fill(0.0);
            row[hi..].fill(0.0);
            let s = &mut row[lo..hi];
            let top = s.iter().copied().fold(max[qi], f32::max);
            let carry = exp(max[qi] - top);
            // Apart, so both loops vectorise.
            for s in s.iter_mut() {
                *s = exp(*s - top);
            }
            let total = sum_of(s);
            max[qi] = top;
            sum[qi] = sum[qi] * carry + total;
            if carry != 1.0 {
                for a in &mut acc[qi * d..][..d] {
                    *a *= carry;
                }
            }
        }
        for qi in queries..padded {
            scores[qi * tile_len..][..width].fill(0.0);
        }
        // The weighted values, a register block of queries × dimensions at a
        // time, over the keys any of the block's queries sees.
        let v = tile_rows(job.v, g, t.clone(), d, tile, &widen);
        for qb in (0..padded).step_by(ROWS) {
            let block_rows = qb..(qb + ROWS).min(queries);
            let lo = block_rows
                .clone()
                .map(|qi| seen[qi].start)
                .min()
                .unwrap_or(t.start);
            let hi = block_rows.map(|qi| seen[qi].end).max().unwrap_or(t.start);
            let used = lo.max(t.start) - t.start..hi.max(t.start) - t.start;
            if used.is_empty() {
                continue;
            }
            let p: [&[f32]; ROWS] =
                std::array::from_fn(|r| &scores[(qb + r) * tile_len..][..width]);
            let whole = d - d % LANES;
            for c0 in (0..whole).step_by(LANES) {
                let mut block = [[0.0f32; LANES]; ROWS];
                for j in used.clone() {
                    let vv = &v[j * d + c0..][..LANES];
                    for (b, p) in block.iter_mut().zip(&p) {
                        let w = p[j];
                        for (b, &x) in b.iter_mut().zip(vv) {
                            *b = fma(w, x, *b);
                        }
                    }
                }
                for (r, b) in block.iter().enumerate() {
                    for (a, &b) in acc[(qb + r) * d + c0..][..LANES].iter_mut().zip(b) {
                        *a += b;
                    }
                }
            }
            // A head size that is not whole blocks (none of today's models).
            for r in 0..ROWS {
                for j in used.clone() {
                    let w = p[r][j];
                    for c in whole..d {
                        acc[(qb + r) * d + c] += w * v[j * d + c];
                    }
                }
            }
        }
    }

    // A poisoned lock only means another unit panicked; the pool re-raises that.
    let mut out = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for qi in 0..queries {
        let (hh, r) = (qi / nr, qi % nr);
        let inv = 1.0 / sum[qi];
        let o = &mut out[((r0 + r) * heads + g * group + hh) * d..][..d];
        for (o, &a) in o.iter_mut().zip(&acc[qi * d..][..d]) {
            *o = a * inv;
        }
    }
}

#[cfg(test)]
mod tests;
