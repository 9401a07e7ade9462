//! Attention over cached keys and values: [`attend_one`] for one query
//! position (a generated token), the keys split over the kernel pool, and
//! [`attend_many`] for a block of a prompt's queries (`prefill.rs`), tiled with
//! an online softmax so no score matrix is ever whole.
//!
//! Decoding one token runs this once per layer on a few hundred keys: small
//! enough that a general GEMM's fixed costs and the half dozen tensor ops
//! around it (scale, two products, softmax, reshapes) cost more than the
//! arithmetic, and they ran on one thread while the other waited.

use std::cell::RefCell;
use std::sync::Mutex;

use crate::Isa;
use crate::glu::exp;
use crate::pool::Pool;

mod prefill;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use prefill::{DECODE_EXACT_ROWS, QuerySpan, attend_many};

/// Operands that do not fit together.
#[derive(Debug, thiserror::Error)]
#[error("attention: {0}")]
pub struct AttentionError(String);

/// Cached keys or values: for kv head `g`, key `j`, the `head_dim` values at
/// `data[g * head_stride + j * head_dim ..]`.
#[derive(Debug, Clone, Copy)]
pub struct KvView<'a> {
    pub data: KvData<'a>,
    pub head_stride: usize,
}

impl<'a> KvView<'a> {
    /// The view from its key `key` on (rows of `d` values; `key · d` a
    /// whole number of blocks for `Q8_0`, as [`check_view`] asks of `d`).
    fn skip_keys(self, key: usize, d: usize) -> KvView<'a> {
        let skip = key * d;
        let data = match self.data {
            KvData::F32(x) => KvData::F32(&x[skip.min(x.len())..]),
            KvData::F16(x) => KvData::F16(&x[skip.min(x.len())..]),
            KvData::Q8_0(x) => {
                let bytes = skip / Q8_0_BLOCK * Q8_0_BYTES;
                KvData::Q8_0(&x[bytes.min(x.len())..])
            }
        };
        KvView { data, ..self }
    }
}

/// The values of a cache: f32, f16 (half the memory, as llama.cpp keeps it by
/// default) or ggml's `Q8_0` blocks (32 values as `i8` after their f16 scale,
/// 34 bytes: llama.cpp's `--cache-type-k/v q8_0`). Each row is widened to f32
/// as it is read (f16 with F16C where the CPU has it). Offsets and strides
/// count values whatever the type; a `Q8_0` row holds a whole number of blocks.
#[derive(Debug, Clone, Copy)]
pub enum KvData<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
    Q8_0(&'a [u8]),
}

/// Values per `Q8_0` block, and its bytes (f16 scale + 32 `i8`).
pub const Q8_0_BLOCK: usize = 32;
pub const Q8_0_BYTES: usize = 34;

impl KvData<'_> {
    /// Values held (whole blocks for `Q8_0`).
    fn len(&self) -> usize {
        match self {
            KvData::F32(d) => d.len(),
            KvData::F16(d) => d.len(),
            KvData::Q8_0(d) => d.len() / Q8_0_BYTES * Q8_0_BLOCK,
        }
    }
}

/// `x` as ggml `Q8_0` blocks appended to `out` (`x.len()` a multiple of 32):
/// the scale is `max|x| / 127` and each value `round(x / scale)`, as
/// llama.cpp's reference quantiser writes them.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    debug_assert!(x.len().is_multiple_of(Q8_0_BLOCK));
    out.reserve(x.len() / Q8_0_BLOCK * Q8_0_BYTES);
    for block in x.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|&v| (v * id).round() as i8 as u8));
    }
}

/// `Q8_0` blocks widened to f32 (`out.len()` values).
#[inline(always)]
fn widen_q8_0(src: &[u8], out: &mut [f32]) {
    for (o, b) in out
        .chunks_exact_mut(Q8_0_BLOCK)
        .zip(src.chunks_exact(Q8_0_BYTES))
    {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        for (o, &q) in o.iter_mut().zip(&b[2..]) {
            *o = f32::from(q as i8) * d;
        }
    }
}

/// Refuses an instruction set this CPU does not have.
fn check_isa(isa: Isa) -> Result<(), AttentionError> {
    if isa.available() {
        Ok(())
    } else {
        Err(AttentionError(format!(
            "this CPU cannot run {}",
            isa.name()
        )))
    }
}

/// Checks that `view` holds `keys` rows of `d` values for each of `kv_heads`.
fn check_view(
    name: &str,
    view: KvView<'_>,
    kv_heads: usize,
    keys: usize,
    d: usize,
) -> Result<(), AttentionError> {
    if let KvData::Q8_0(_) = view.data
        && (!d.is_multiple_of(Q8_0_BLOCK) || !view.head_stride.is_multiple_of(Q8_0_BLOCK))
    {
        return Err(AttentionError(format!(
            "{name}: a q8_0 cache needs a head size that is a multiple of 32, not {d}"
        )));
    }
    let need = (kv_heads - 1) * view.head_stride + keys * d;
    if view.head_stride < keys * d || view.data.len() < need {
        return Err(AttentionError(format!(
            "{name}: {} values with head stride {}, need {need}",
            view.data.len(),
            view.head_stride
        )));
    }
    Ok(())
}

/// The shape of one attention: `heads` query heads sharing `kv_heads` key and
/// value heads (grouped-query), `head_dim` values each, over `keys` positions.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub keys: usize,
}

/// Below this many key·dim products in all the caller does the whole job.
const PARALLEL_MIN_WORK: usize = 16 * 1024;

thread_local! {
    /// A span's scores (query heads of a group × its keys), one key or
    /// value row widened from f16, and x86's q8_0 weights (see [`Scratch`]).
    static SCRATCH: RefCell<[Vec<f32>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// `out[h] = softmax(scale · q[h] · K[g]ᵀ) · V[g]` for every query head `h`
/// (`g = h / (heads / kv_heads)`): `q` and `out` hold `heads × head_dim`.
///
/// The keys are split into one span per thread (so the work is even whatever
/// the number of heads); each span gives, per head, its largest score, the sum
/// of its scores' exponentials and the values weighted by them, and the spans
/// are merged as in flash-decoding. Within a span, the query heads that share
/// a kv head go over its keys and values together, so each cached row is read
/// (and, from f16, widened) once.
pub fn attend_one(
    shape: AttentionShape,
    q: &[f32],
    k: KvView<'_>,
    v: KvView<'_>,
    scale: f32,
    out: &mut [f32],
) -> Result<(), AttentionError> {
    attend(Isa::active(), shape, q, k, v, scale, out)
}

/// [`attend_one`] with the kernels of `isa` (the tests cover every level).
fn attend(
    isa: Isa,
    shape: AttentionShape,
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
    if kv_heads == 0 || heads % kv_heads != 0 || d == 0 || keys == 0 {
        return Err(AttentionError(format!("bad shape {shape:?}")));
    }
    if q.len() != heads * d || out.len() != heads * d {
        return Err(AttentionError(format!(
            "q has {} and out {} values, not {heads} × {d}",
            q.len(),
            out.len()
        )));
    }
    check_view("keys", k, kv_heads, keys, d)?;
    check_view("values", v, kv_heads, keys, d)?;
    let job = Job {
        isa,
        shape,
        q,
        k,
        v,
        scale,
    };
    let pool = Pool::global();
    let spans = if heads * keys * d < PARALLEL_MIN_WORK {
        1
    } else {
        pool.parts().min(keys)
    };
    // Per span: the weighted values of every head, then its max and its sum.
    let stride = heads * (d + 2);
    let mut partial = vec![0.0f32; spans * stride];
    if spans == 1 {
        span(&job, 0..keys, &mut partial);
    } else {
        let slots: Vec<Mutex<&mut [f32]>> = partial.chunks_mut(stride).map(Mutex::new).collect();
        pool.run(&|part| {
            if let Some(Ok(mut slot)) = slots.get(part).map(Mutex::lock) {
                span(
                    &job,
                    keys * part / spans..keys * (part + 1) / spans,
                    &mut slot,
                );
            }
        });
    }
    let stat = |p: usize, i: usize, h: usize| partial[p * stride + heads * d + i * heads + h];
    for (h, out) in out.chunks_exact_mut(d).enumerate() {
        let max = (0..spans)
            .map(|p| stat(p, 0, h))
            .fold(f32::NEG_INFINITY, f32::max);
        out.fill(0.0);
        let mut sum = 0.0f32;
        for p in 0..spans {
            let w = exp(stat(p, 0, h) - max);
            sum += w * stat(p, 1, h);
            for (o, &x) in out.iter_mut().zip(&partial[p * stride + h * d..][..d]) {
                *o += w * x;
            }
        }
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
    Ok(())
}

/// One attention's operands (checked).
struct Job<'a> {
    isa: Isa,
    shape: AttentionShape,
    q: &'a [f32],
    k: KvView<'a>,
    v: KvView<'a>,
    scale: f32,
}

/// The keys `range` of every head into `part`: `heads × head_dim` weighted
/// values, then `heads` maxima, then `heads` sums.
fn span(job: &Job<'_>, range: std::ops::Range<usize>, part: &mut [f32]) {
    SCRATCH.with_borrow_mut(|[scores, row, weights]| {
        let AttentionShape {
            heads,
            kv_heads,
            head_dim: d,
            ..
        } = job.shape;
        let group_keys = heads / kv_heads * range.len();
        scores.resize(group_keys, 0.0);
        row.resize(d, 0.0);
        let blocks = match job.v.data {
            KvData::Q8_0(_) => d / Q8_0_BLOCK,
            _ => 0,
        };
        weights.resize(group_keys * blocks, 0.0);
        let scratch = Scratch {
            scores,
            row,
            weights,
        };
        match job.isa {
            // SAFETY: `job.isa` is one this CPU has (see `attend`), and both
            // x86 levels include F16C (see `Isa::available`).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::avx512::span(job, range, part, scratch) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::avx2::span(job, range, part, scratch) },
            _ => span_body(job, range, part, scratch, dot, |src, out| {
                for (o, h) in out.iter_mut().zip(src) {
                    *o = h.to_f32();
                }
            }),
        }
    });
}

/// A thread's buffers: the scores of a group's heads over a span's keys, and
/// one row widened from f16. With q8_0 values, `weights` has room for each
/// score times each block scale of its value row: x86's fast path folds a
/// value block's scale into its weight there (empty for other caches).
struct Scratch<'a> {
    scores: &'a mut [f32],
    row: &'a mut [f32],
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    weights: &'a mut [f32],
}

#[inline(always)]
fn span_body(
    job: &Job<'_>,
    range: std::ops::Range<usize>,
    part: &mut [f32],
    scratch: Scratch<'_>,
    dot: impl Fn(&[f32], &[f32]) -> f32,
    widen: impl Fn(&[half::f16], &mut [f32]),
) {
    let AttentionShape {
        heads,
        kv_heads,
        head_dim: d,
        ..
    } = job.shape;
    let group = heads / kv_heads;
    let n = range.len();
    let (acc, stats) = part.split_at_mut(heads * d);
    let (maxes, sums) = stats.split_at_mut(heads);
    let Scratch { scores, row, .. } = scratch;
    for g in 0..kv_heads {
        let heads_of_g = g * group..(g + 1) * group;
        for (i, j) in range.clone().enumerate() {
            let key = kv_row(job.k, g, j, d, row, &widen);
            for (hh, h) in heads_of_g.clone().enumerate() {
                scores[hh * n + i] = job.scale * dot(&job.q[h * d..][..d], key);
            }
        }
        for (hh, h) in heads_of_g.clone().enumerate() {
            (maxes[h], sums[h]) = exponentiate(&mut scores[hh * n..][..n]);
            acc[h * d..][..d].fill(0.0);
        }
        for (i, j) in range.clone().enumerate() {
            let value = kv_row(job.v, g, j, d, row, &widen);
            for (hh, h) in heads_of_g.clone().enumerate() {
                let p = scores[hh * n + i];
                for (o, &x) in acc[h * d..][..d].iter_mut().zip(value) {
                    *o += p * x;
                }
            }
        }
    }
}

/// Row `j` of kv head `g` of `view` (`d` values), as f32: in the cache, or
/// widened from f16 or `Q8_0` into `row`.
#[inline(always)]
fn kv_row<'r>(
    view: KvView<'r>,
    g: usize,
    j: usize,
    d: usize,
    row: &'r mut [f32],
    widen: &impl Fn(&[half::f16], &mut [f32]),
) -> &'r [f32] {
    let at = g * view.head_stride + j * d;
    match view.data {
        KvData::F32(data) => &data[at..][..d],
        KvData::F16(data) => {
            widen(&data[at..][..d], row);
            row
        }
        KvData::Q8_0(data) => {
            let bytes = d / Q8_0_BLOCK * Q8_0_BYTES;
            widen_q8_0(
                &data[at / Q8_0_BLOCK * Q8_0_BYTES..][..bytes],
                &mut row[..d],
            );
            row
        }
    }
}

/// Turns scores into their softmax numerators `e^(s - max)`; returns the
/// max and their sum.
#[inline(always)]
fn exponentiate(s: &mut [f32]) -> (f32, f32) {
    let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for x in s.iter_mut() {
        *x = exp(*x - max);
    }
    (max, sum_of(s))
}

/// A sum in 16 running sums (so it vectorises), added up as a tree.
#[inline(always)]
fn sum_of(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let x16 = x.chunks_exact(16);
    let tail: f32 = x16.remainder().iter().sum();
    for x in x16 {
        for i in 0..16 {
            acc[i] += x[i];
        }
    }
    tree_sum(acc) + tail
}

/// `Σ acc` as a tree, not a chain, of additions: 4 dependent steps, not 15.
#[inline(always)]
fn tree_sum(mut acc: [f32; 16]) -> f32 {
    for width in [8, 4, 2, 1] {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// A dot product in 16 running sums, so it vectorises (a single running sum
/// fixes the order of the additions and keeps the loop scalar).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a16
        .remainder()
        .iter()
        .zip(b16.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a16.zip(b16) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    tree_sum(acc) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition in f64.
    fn reference(shape: AttentionShape, q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f64> {
        let AttentionShape {
            heads,
            kv_heads,
            head_dim: d,
            keys,
        } = shape;
        let mut out = vec![0.0f64; heads * d];
        for h in 0..heads {
            let g = h / (heads / kv_heads);
            let s: Vec<f64> = (0..keys)
                .map(|j| {
                    (0..d)
                        .map(|i| f64::from(q[h * d + i]) * f64::from(k[(g * keys + j) * d + i]))
                        .sum::<f64>()
                        * f64::from(scale)
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for j in 0..keys {
                for i in 0..d {
                    out[h * d + i] += e[j] / sum * f64::from(v[(g * keys + j) * d + i]);
                }
            }
        }
        out
    }

    pub(super) fn to_f16(x: &[f32]) -> Vec<half::f16> {
        x.iter().map(|&x| half::f16::from_f32(x)).collect()
    }

    fn to_f32(x: &[half::f16]) -> Vec<f32> {
        x.iter().map(|x| x.to_f32()).collect()
    }

    /// Each head of `x` (`head` values) followed by `spare` NaN (a cache
    /// with room left).
    pub(super) fn pad(x: &[f32], head: usize, spare: usize) -> Vec<f32> {
        x.chunks_exact(head)
            .flat_map(|h| {
                h.iter()
                    .copied()
                    .chain(std::iter::repeat_n(f32::NAN, spare))
            })
            .collect()
    }

    /// Uniform in [-1, 1), from a fixed seed.
    pub(super) fn rng(mut seed: u32) -> impl FnMut() -> f32 {
        move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        }
    }

    pub(super) fn q8(x: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        quantize_q8_0(x, &mut out);
        out
    }

    /// What the cache holds after a round trip through `Q8_0`.
    pub(super) fn q8_values(x: &[f32]) -> Vec<f32> {
        let bytes = q8(x);
        let mut out = vec![0.0; x.len()];
        widen_q8_0(&bytes, &mut out);
        out
    }

    #[test]
    fn attention_matches_its_definition() {
        let mut rnd = rng(7);
        // Grouped 3 and 4 to 1, plain, a group above the fast paths' 8, a
        // head size of no whole 16-lane vectors (24) and of none at all (20).
        for (heads, kv_heads, d, keys) in [
            (9, 3, 64, 300),
            (4, 1, 256, 17),
            (2, 2, 20, 1),
            (8, 8, 64, 640),
            (9, 1, 16, 150),
            (6, 2, 24, 200),
        ] {
            let shape = AttentionShape {
                heads,
                kv_heads,
                head_dim: d,
                keys,
            };
            let q: Vec<f32> = (0..heads * d).map(|_| rnd() * 3.0).collect();
            let k: Vec<f32> = (0..kv_heads * keys * d).map(|_| rnd()).collect();
            let v: Vec<f32> = (0..kv_heads * keys * d).map(|_| rnd()).collect();
            let scale = 1.0 / (d as f32).sqrt();
            let (kh, vh) = (to_f16(&k), to_f16(&v));
            // The f16 cache is checked against f32 values rounded to f16.
            let want = reference(shape, &q, &k, &v, scale);
            let want_f16 = reference(shape, &q, &to_f32(&kh), &to_f32(&vh), scale);
            for isa in Isa::all_available() {
                let run = |k, v, stride| {
                    let view = |data| KvView {
                        data,
                        head_stride: stride,
                    };
                    let mut out = vec![f32::NAN; heads * d];
                    attend(isa, shape, &q, view(k), view(v), scale, &mut out).unwrap();
                    out
                };
                let out = run(KvData::F32(&k), KvData::F32(&v), keys * d);
                let out_f16 = run(KvData::F16(&kh), KvData::F16(&vh), keys * d);
                for (out, want, kind) in [(&out, &want, "f32"), (&out_f16, &want_f16, "f16")] {
                    for (i, (&o, &w)) in out.iter().zip(want).enumerate() {
                        assert!(
                            (f64::from(o) - w).abs() < 1e-5,
                            "{isa:?} {kind} {shape:?} [{i}]: {o} vs {w}"
                        );
                    }
                }
                // A cache with room for more keys (its head stride, the spare
                // rows NaN) gives the same, bit for bit.
                let (kp, vp) = (pad(&k, keys * d, 7 * d), pad(&v, keys * d, 7 * d));
                let (khp, vhp) = (to_f16(&kp), to_f16(&vp));
                let stride = keys * d + 7 * d;
                let again = run(KvData::F32(&kp), KvData::F32(&vp), stride);
                assert_eq!(again, out, "{isa:?} f32 {shape:?} with a head stride");
                let again = run(KvData::F16(&khp), KvData::F16(&vhp), stride);
                assert_eq!(again, out_f16, "{isa:?} f16 {shape:?} with a head stride");
            }
        }
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            keys: 3,
        };
        let short = KvView {
            data: KvData::F32(&[0.0; 11]),
            head_stride: 12,
        };
        assert!(attend_one(shape, &[0.0; 8], short, short, 1.0, &mut [0.0; 8]).is_err());
    }

    #[test]
    fn a_q8_0_cache_matches_its_definition() {
        let mut rnd = rng(3);
        // Heads of 64 and 128, groups of 1 to 8 (x86's fast path) and 9 (the
        // generic body); one key, keys in one span, keys split over threads.
        for d in [64, 128] {
            for group in 1..=9 {
                for (kv_heads, keys) in [(1, 1), (3, 37), (2, 300)] {
                    let heads = group * kv_heads;
                    let shape = AttentionShape {
                        heads,
                        kv_heads,
                        head_dim: d,
                        keys,
                    };
                    let q: Vec<f32> = (0..heads * d).map(|_| rnd() * 3.0).collect();
                    let k: Vec<f32> = (0..kv_heads * keys * d).map(|_| rnd()).collect();
                    let v: Vec<f32> = (0..kv_heads * keys * d).map(|_| rnd()).collect();
                    let scale = 1.0 / (d as f32).sqrt();
                    let want = reference(shape, &q, &q8_values(&k), &q8_values(&v), scale);
                    // Room for 3 more keys per head, in blocks whose scale is
                    // NaN: a read of one makes its heads' outputs NaN.
                    let spare = 3 * d / Q8_0_BLOCK;
                    let with_room = |x: &[f32]| -> Vec<u8> {
                        let nan_block = [0x00, 0x7E].into_iter().chain([1; Q8_0_BLOCK]);
                        q8(x)
                            .chunks_exact(keys * d / Q8_0_BLOCK * Q8_0_BYTES)
                            .flat_map(|h| {
                                h.iter()
                                    .copied()
                                    .chain(nan_block.clone().cycle().take(spare * Q8_0_BYTES))
                            })
                            .collect()
                    };
                    let (kq, vq) = (q8(&k), q8(&v));
                    let (kp, vp) = (with_room(&k), with_room(&v));
                    for isa in Isa::all_available() {
                        let run = |k, v, stride| {
                            let view = |data| KvView {
                                data,
                                head_stride: stride,
                            };
                            let mut out = vec![f32::NAN; heads * d];
                            attend(isa, shape, &q, view(k), view(v), scale, &mut out).unwrap();
                            out
                        };
                        let out = run(KvData::Q8_0(&kq), KvData::Q8_0(&vq), keys * d);
                        for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                            assert!(
                                (f64::from(o) - w).abs() < 1e-5,
                                "{isa:?} {shape:?} [{i}]: {o} vs {w}"
                            );
                        }
                        let stride = keys * d + spare * Q8_0_BLOCK;
                        let again = run(KvData::Q8_0(&kp), KvData::Q8_0(&vp), stride);
                        assert_eq!(again, out, "{isa:?} {shape:?} with a head stride");
                    }
                }
            }
        }
    }
}
