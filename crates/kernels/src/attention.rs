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
    pub data: KvData<'a>,
    pub head_stride: usize,
}

/// The values of a cache, f32 or f16 (half the memory, as llama.cpp keeps
/// it; a head's rows are widened to f32 with F16C where the CPU has it).
#[derive(Debug, Clone, Copy)]
pub enum KvData<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
}

impl KvData<'_> {
    fn len(&self) -> usize {
        match self {
            KvData::F32(d) => d.len(),
            KvData::F16(d) => d.len(),
        }
    }
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
    /// One head's keys and values widened from f16.
    static WIDE: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
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
    // Heads `first..` into `out` (whole heads). An f16 cache is widened once
    // per kv head, for all the query heads of this run that share it.
    let run = |first: usize, out: &mut [f32]| {
        SCORES.with_borrow_mut(|scores| {
            WIDE.with_borrow_mut(|(kw, vw)| {
                scores.resize(keys, 0.0);
                let mut widened = None;
                for (i, out) in out.chunks_exact_mut(d).enumerate() {
                    let h = first + i;
                    let g = h / group;
                    let q = &q[h * d..][..d];
                    let (ks, vs) = (g * k.head_stride, g * v.head_stride);
                    match (k.data, v.data) {
                        (KvData::F32(kd), KvData::F32(vd)) => {
                            let (kg, vg) = (&kd[ks..][..keys * d], &vd[vs..][..keys * d]);
                            one_head(q, kg, vg, scale, scores, out);
                        }
                        (kd, vd) => {
                            if widened != Some(g) {
                                widen(kd, ks, keys * d, kw);
                                widen(vd, vs, keys * d, vw);
                                widened = Some(g);
                            }
                            one_head(q, kw, vw, scale, scores, out);
                        }
                    }
                }
            })
        });
    };
    let pool = Pool::global();
    let parts = pool.parts().min(heads);
    if parts == 1 || keys * d < PARALLEL_MIN_WORK {
        run(0, out);
        return Ok(());
    }
    // Whole heads per part, as even as they divide.
    let per_part = heads.div_ceil(parts);
    let slots: Vec<Mutex<&mut [f32]>> = out.chunks_mut(per_part * d).map(Mutex::new).collect();
    pool.run(&|part| {
        if let Some(Ok(mut out)) = slots.get(part).map(Mutex::lock) {
            run(part * per_part, &mut out);
        }
    });
    Ok(())
}

/// `len` values of `data` from `at`, as f32 in `out`.
fn widen(data: KvData<'_>, at: usize, len: usize, out: &mut Vec<f32>) {
    out.resize(len, 0.0);
    match data {
        KvData::F32(d) => out.copy_from_slice(&d[at..][..len]),
        KvData::F16(d) => {
            let src = &d[at..][..len];
            match Isa::active() {
                // SAFETY: both x86 levels include F16C (see `Isa::available`).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512 => unsafe { widen_f16c(src, out) },
                _ => {
                    for (o, h) in out.iter_mut().zip(src) {
                        *o = h.to_f32();
                    }
                }
            }
        }
    }
}

/// f16 to f32, eight at a time with `vcvtph2ps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
fn widen_f16c(src: &[half::f16], out: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
    let (src8, out8) = (src.chunks_exact(8), out.chunks_exact_mut(8));
    for (o, h) in out8.into_remainder().iter_mut().zip(src8.remainder()) {
        *o = h.to_f32();
    }
    for (o, h) in out.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        // SAFETY: `h` is 8 f16 (16 bytes) and `o` 8 f32 (32 bytes); both
        // intrinsics take unaligned addresses.
        unsafe {
            let wide = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().cast::<__m128i>()));
            _mm256_storeu_ps(o.as_mut_ptr(), wide);
        }
    }
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
            let (kd, vd) = (KvData::F32(&k), KvData::F32(&v));
            attend_one(shape, &q, view(kd), view(vd), scale, &mut out).unwrap();
            let want = reference(shape, &q, &k, &v, scale);
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(o) - w).abs() < 1e-5,
                    "{shape:?} [{i}]: {o} vs {w}"
                );
            }
            // An f16 cache gives what f32 keys and values rounded to f16 give.
            let to_f16 = |x: &[f32]| -> Vec<half::f16> {
                x.iter().map(|&x| half::f16::from_f32(x)).collect()
            };
            let to_f32 = |x: &[half::f16]| -> Vec<f32> { x.iter().map(|x| x.to_f32()).collect() };
            let (kh, vh) = (to_f16(&k), to_f16(&v));
            let (kd, vd) = (KvData::F16(&kh), KvData::F16(&vh));
            attend_one(shape, &q, view(kd), view(vd), scale, &mut out).unwrap();
            let want = reference(shape, &q, &to_f32(&kh), &to_f32(&vh), scale);
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(o) - w).abs() < 1e-5,
                    "f16 {shape:?} [{i}]: {o} vs {w}"
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
            data: KvData::F32(&[0.0; 11]),
            head_stride: 12,
        };
        assert!(attend_one(shape, &[0.0; 8], short, short, 1.0, &mut [0.0; 8]).is_err());
    }
}
