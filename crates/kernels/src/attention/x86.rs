//! A span of an f16 cache with AVX-512 or AVX2, the common case on x86-64.
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

use super::{AttentionShape, Job, KvData, sum_of};
use crate::glu::exp;

/// `$lanes` f32 per `$v`; `$load` widens that many f16, `$sum` adds the lanes.
macro_rules! spans {
    ($module:ident, $features:literal, $v:ty, $lanes:literal, $load:ident,
     $zero:ident, $fma:ident, $splat:ident, $loadf:ident, $store:ident, $sum:path) => {
        pub(super) mod $module {
            use super::*;

            /// Does [`super::super::span`]'s work when the cache is f16,
            /// `head_dim` a multiple of the vector width and 1 to 8 query heads
            /// share a kv head; `false`: nothing was done.
            #[target_feature(enable = $features)]
            pub(in crate::attention) fn try_span(
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
                    1 => span::<1>(j, k, v, r, p, s),
                    2 => span::<2>(j, k, v, r, p, s),
                    3 => span::<3>(j, k, v, r, p, s),
                    4 => span::<4>(j, k, v, r, p, s),
                    5 => span::<5>(j, k, v, r, p, s),
                    6 => span::<6>(j, k, v, r, p, s),
                    7 => span::<7>(j, k, v, r, p, s),
                    8 => span::<8>(j, k, v, r, p, s),
                    _ => return false,
                }
                true
            }

            #[inline]
            #[target_feature(enable = $features)]
            fn span<const G: usize>(
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
                        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        for x in s.iter_mut() {
                            *x = exp(*x - max);
                        }
                        maxes[h0 + hh] = max;
                        sums[h0 + hh] = sum_of(s);
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
