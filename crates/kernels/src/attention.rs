//! Attention for one query position (a generated token) over cached keys and
//! values, heads split over the kernel pool.
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

/// Operands that do not fit together.
#[derive(Debug, thiserror::Error)]
#[error("attention: {0}")]
pub struct AttentionError(String);

/// Cached keys or values: for kv head `g`, key `j`, the `head_dim` values at
/// `data[g * head_stride + j * head_dim ..]`.
#[derive(Debug, Clone, Copy)]
pub struct KvView<'a> {
    pub data: &'a [f32],
    pub head_stride: usize,
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

/// Below this many key·dim products per head the caller does every head.
const PARALLEL_MIN_WORK: usize = 4096;

thread_local! {
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `out[h] = softmax(scale · q[h] · K[g]ᵀ) · V[g]` for every query head `h`
/// (`g = h / (heads / kv_heads)`): `q` and `out` hold `heads × head_dim`.
pub fn attend_one(
    shape: AttentionShape,
    q: &[f32],
    k: KvView<'_>,
    v: KvView<'_>,
    scale: f32,
    out: &mut [f32],
) -> Result<(), AttentionError> {
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
    for (name, view) in [("keys", k), ("values", v)] {
        let need = (kv_heads - 1) * view.head_stride + keys * d;
        if view.head_stride < keys * d || view.data.len() < need {
            return Err(AttentionError(format!(
                "{name}: {} values with head stride {}, need {need}",
                view.data.len(),
                view.head_stride
            )));
        }
    }
    let group = heads / kv_heads;
    let head = |h: usize, out: &mut [f32]| {
        let g = h / group;
        let kg = &k.data[g * k.head_stride..][..keys * d];
        let vg = &v.data[g * v.head_stride..][..keys * d];
        SCORES.with_borrow_mut(|scores| {
            scores.resize(keys, 0.0);
            one_head(&q[h * d..][..d], kg, vg, scale, scores, out);
        });
    };
    let pool = Pool::global();
    let parts = pool.parts().min(heads);
    if parts == 1 || keys * d < PARALLEL_MIN_WORK {
        for (h, out) in out.chunks_exact_mut(d).enumerate() {
            head(h, out);
        }
        return Ok(());
    }
    // Whole heads per part, as even as they divide.
    let per_part = heads.div_ceil(parts);
    let slots: Vec<Mutex<&mut [f32]>> = out.chunks_mut(per_part * d).map(Mutex::new).collect();
    pool.run(&|part| {
        if let Some(Ok(mut out)) = slots.get(part).map(Mutex::lock) {
            for (i, out) in out.chunks_exact_mut(d).enumerate() {
                head(part * per_part + i, out);
            }
        }
    });
    Ok(())
}

fn one_head(q: &[f32], k: &[f32], v: &[f32], scale: f32, scores: &mut [f32], out: &mut [f32]) {
    match Isa::active() {
        // SAFETY: `Isa::active` only returns an ISA this CPU has.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { one_head_avx512(q, k, v, scale, scores, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { one_head_avx2(q, k, v, scale, scores, out) },
        _ => one_head_body(q, k, v, scale, scores, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn one_head_avx512(q: &[f32], k: &[f32], v: &[f32], scale: f32, s: &mut [f32], out: &mut [f32]) {
    one_head_body(q, k, v, scale, s, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn one_head_avx2(q: &[f32], k: &[f32], v: &[f32], scale: f32, s: &mut [f32], out: &mut [f32]) {
    one_head_body(q, k, v, scale, s, out);
}

/// Scores, their softmax and the weighted sum of values for one head.
#[inline(always)]
fn one_head_body(q: &[f32], k: &[f32], v: &[f32], scale: f32, scores: &mut [f32], out: &mut [f32]) {
    let d = q.len();
    let mut max = f32::NEG_INFINITY;
    for (s, key) in scores.iter_mut().zip(k.chunks_exact(d)) {
        *s = scale * dot(q, key);
        max = max.max(*s);
    }
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = exp(*s - max);
        sum += *s;
    }
    out.fill(0.0);
    for (&p, value) in scores.iter().zip(v.chunks_exact(d)) {
        for (o, &x) in out.iter_mut().zip(value) {
            *o += p * x;
        }
    }
    let inv = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= inv;
    }
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
    acc.iter().sum::<f32>() + tail
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

    #[test]
    fn attention_matches_its_definition() {
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        };
        for (heads, kv_heads, d, keys) in [
            (9, 3, 64, 300),
            (4, 1, 256, 17),
            (2, 2, 20, 1),
            (8, 8, 64, 640),
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
            let view = |data| KvView {
                data,
                head_stride: keys * d,
            };
            let mut out = vec![f32::NAN; heads * d];
            attend_one(shape, &q, view(&k), view(&v), scale, &mut out).unwrap();
            let want = reference(shape, &q, &k, &v, scale);
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(o) - w).abs() < 1e-5,
                    "{shape:?} [{i}]: {o} vs {w}"
                );
            }
        }
        let shape = AttentionShape {
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            keys: 3,
        };
        let short = KvView {
            data: &[0.0; 11],
            head_stride: 12,
        };
        assert!(attend_one(shape, &[0.0; 8], short, short, 1.0, &mut [0.0; 8]).is_err());
    }
}
