//! A span of attention with AVX-512 or AVX2: a fast path for an f16 cache
//! (the common case on x86-64), else the generic body with this instruction
//! set's dot product and F16C widening.
//!
//! The generic body widens each cached row into a buffer and calls a dot
//! product per head; here the rows are widened in registers (`vcvtph2ps`
//! straight from the cache), the scores of a group's heads come from one pass
//! over each key row, and the weighted values are summed one vector of
//! dimensions at a time with the group's accumulators held in registers. The
//! group size is a const parameter, so those accumulators are plain registers.
//! The two instruction sets share the code through a macro that swaps the
//! vector type and its operations.

use std::arch::x86_64::*;
use std::ops::Range;

use half::f16;

use super::{AttentionShape, Job, KvData, Scratch, exponentiate, span_body};

/// `$lanes` f32 per `$v`; `$load` widens that many f16, `$sum` adds the lanes.
macro_rules! spans {
    ($module:ident, $features:literal, $v:ty, $lanes:literal, $load:ident,
     $zero:ident, $fma:ident, $splat:ident, $loadf:ident, $store:ident, $sum:path) => {
        pub(super) mod $module {
            use super::*;

            /// [`super::super::span`]'s work on this instruction set: the
            /// fast path below when it applies, else the generic body with
            /// this set's dot product and F16C widening.
            #[target_feature(enable = $features)]
            pub(in crate::attention) fn span(
                job: &Job<'_>,
                range: Range<usize>,
                part: &mut [f32],
                scratch: Scratch<'_>,
            ) {
                if !try_span(job, range.clone(), part, &mut *scratch.scores) {
                    span_body(
                        job,
                        range,
                        part,
                        scratch,
                        |a, b| dot(a, b),
                        |src, out| widen_f16c(src, out),
                    );
                }
            }

            /// `a · b` in one vector accumulator: a head's dot product is
            /// only 64 to 256 products, so a plain loop's dependent final
            /// additions would cost as much.
            #[inline]
            #[target_feature(enable = $features)]
            fn dot(a: &[f32], b: &[f32]) -> f32 {
                let (ac, bc) = (a.chunks_exact($lanes), b.chunks_exact($lanes));
                let tail: f32 = ac
                    .remainder()
                    .iter()
                    .zip(bc.remainder())
                    .map(|(x, y)| x * y)
                    .sum();
                let mut acc = $zero();
                for (x, y) in ac.zip(bc) {
                    // SAFETY: `x` and `y` are one vector of f32 each; the loads
                    // take unaligned addresses.
                    acc = unsafe { $fma($loadf(x.as_ptr()), $loadf(y.as_ptr()), acc) };
                }
                $sum(acc) + tail
            }

            /// Does the work when the cache is f16, `head_dim` a multiple of
            /// the vector width and 1 to 8 query heads share a kv head;
            /// `false`: nothing was done.
            #[target_feature(enable = $features)]
            fn try_span(
                job: &Job<'_>,
                range: Range<usize>,
                part: &mut [f32],
                scores: &mut [f32],
            ) -> bool {
                let (KvData::F16(k), KvData::F16(v)) = (job.k.data, job.v.data) else {
                    return false;
                };
                if !job.shape.head_dim.is_multiple_of($lanes) {
                    return false;
                }
                let (j, r, p, s) = (job, range, part, scores);
                match job.shape.heads / job.shape.kv_heads {
                    1 => fast_span::<1>(j, k, v, r, p, s),
                    2 => fast_span::<2>(j, k, v, r, p, s),
                    3 => fast_span::<3>(j, k, v, r, p, s),
                    4 => fast_span::<4>(j, k, v, r, p, s),
                    5 => fast_span::<5>(j, k, v, r, p, s),
                    6 => fast_span::<6>(j, k, v, r, p, s),
                    7 => fast_span::<7>(j, k, v, r, p, s),
                    8 => fast_span::<8>(j, k, v, r, p, s),
                    _ => return false,
                }
                true
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn fast_span<const G: usize>(
                job: &Job<'_>,
                k: &[f16],
                v: &[f16],
                range: Range<usize>,
                part: &mut [f32],
                scores: &mut [f32],
            ) {
                let AttentionShape {
                    heads,
                    kv_heads,
                    head_dim: d,
                    ..
                } = job.shape;
                let n = range.len();
                let (acc, stats) = part.split_at_mut(heads * d);
                let (maxes, sums) = stats.split_at_mut(heads);
                let scores = &mut scores[..G * n];
                for g in 0..kv_heads {
                    let h0 = g * G;
                    let q = &job.q[h0 * d..][..G * d];
                    // The span's rows of kv head `g` (`attend_one` checked the lengths).
                    let kg = &k[g * job.k.head_stride + range.start * d..][..n * d];
                    let vg = &v[g * job.v.head_stride + range.start * d..][..n * d];
                    for (i, row) in kg.chunks_exact(d).enumerate() {
                        let mut dots: [$v; G] = [$zero(); G];
                        for c in (0..d).step_by($lanes) {
                            // SAFETY: `row` holds `d` values and `q` `G · d`;
                            // `c + $lanes <= d`.
                            let key = unsafe { $load(row.as_ptr().add(c)) };
                            for (hh, dot) in dots.iter_mut().enumerate() {
                                let qv = unsafe { $loadf(q.as_ptr().add(hh * d + c)) };
                                *dot = $fma(qv, key, *dot);
                            }
                        }
                        for (hh, dot) in dots.into_iter().enumerate() {
                            scores[hh * n + i] = job.scale * $sum(dot);
                        }
                    }
                    for (hh, s) in scores.chunks_exact_mut(n).enumerate() {
                        (maxes[h0 + hh], sums[h0 + hh]) = exponentiate(s);
                    }
                    for c in (0..d).step_by($lanes) {
                        let mut out: [$v; G] = [$zero(); G];
                        for (i, row) in vg.chunks_exact(d).enumerate() {
                            // SAFETY: `row` holds `d` values; `c + $lanes <= d`.
                            let value = unsafe { $load(row.as_ptr().add(c)) };
                            for (hh, out) in out.iter_mut().enumerate() {
                                *out = $fma($splat(scores[hh * n + i]), value, *out);
                            }
                        }
                        for (hh, out) in out.into_iter().enumerate() {
                            let at = &mut acc[(h0 + hh) * d + c..][..$lanes];
                            // SAFETY: `at` is one vector of f32; the store takes
                            // an unaligned address.
                            unsafe { $store(at.as_mut_ptr(), out) };
                        }
                    }
                }
            }
        }
    };
}

/// f16 to f32, eight at a time.
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(in crate::attention) fn widen_f16c(src: &[f16], out: &mut [f32]) {
    let (src8, out8) = (src.chunks_exact(8), out.chunks_exact_mut(8));
    for (o, h) in out8.into_remainder().iter_mut().zip(src8.remainder()) {
        *o = h.to_f32();
    }
    for (o, h) in out.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
        // SAFETY: `h` is 8 f16 and `o` 8 f32; both take unaligned addresses.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), load8(h.as_ptr())) };
    }
}

/// 16 f16 at `p` as f32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16(p: *const f16) -> __m512 {
    // SAFETY (caller): `p` points at 16 readable f16.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p.cast()) })
}

/// 8 f16 at `p` as f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn load8(p: *const f16) -> __m256 {
    // SAFETY (caller): `p` points at 8 readable f16.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast()) })
}

spans!(
    avx512,
    "avx512f,avx2,fma,f16c",
    __m512,
    16,
    load16,
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_reduce_add_ps
);
spans!(
    avx2,
    "avx2,fma,f16c",
    __m256,
    8,
    load8,
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    crate::x86::hsum
);
