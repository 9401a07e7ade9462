//! A span of an f16 cache with AVX-512, the common case on a CPU that has it.
//!
//! The generic body widens each cached row into a buffer and calls a dot
//! product per head; here the rows are widened in registers (`vcvtph2ps`
//! straight from the cache), the scores of a group's heads come from one pass
//! over each key row, and the weighted values are summed 16 dimensions at a
//! time with the group's accumulators held in registers. The group size is a
//! const parameter, so those accumulators are plain registers.

use std::arch::x86_64::*;
use std::ops::Range;

use half::f16;

use super::{AttentionShape, Job, KvData, sum_of};
use crate::glu::exp;

/// Does [`super::span`]'s work when the cache is f16, `head_dim` a multiple of
/// 16 and 1 to 8 query heads share a kv head; `false`: nothing was done.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(super) fn try_span(
    job: &Job<'_>,
    range: Range<usize>,
    part: &mut [f32],
    scores: &mut [f32],
) -> bool {
    let (KvData::F16(k), KvData::F16(v)) = (job.k.data, job.v.data) else {
        return false;
    };
    if !job.shape.head_dim.is_multiple_of(16) {
        return false;
    }
    macro_rules! by_group {
        ($($g:literal)*) => {
            match job.shape.heads / job.shape.kv_heads {
                $($g => span::<$g>(job, k, v, range, part, scores),)*
                _ => return false,
            }
        };
    }
    by_group!(1 2 3 4 5 6 7 8);
    true
}

/// 16 f16 at `p` as f32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16(p: *const f16) -> __m512 {
    // SAFETY (caller): `p` points at 16 readable f16.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p.cast()) })
}

#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
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
            let mut dots = [_mm512_setzero_ps(); G];
            for c in (0..d).step_by(16) {
                // SAFETY: `row` holds `d` values and `q` `G · d`; `c + 16 <= d`.
                let key = unsafe { load16(row.as_ptr().add(c)) };
                for (hh, dot) in dots.iter_mut().enumerate() {
                    let qv = unsafe { _mm512_loadu_ps(q.as_ptr().add(hh * d + c)) };
                    *dot = _mm512_fmadd_ps(qv, key, *dot);
                }
            }
            for (hh, dot) in dots.into_iter().enumerate() {
                scores[hh * n + i] = job.scale * _mm512_reduce_add_ps(dot);
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
        for c in (0..d).step_by(16) {
            let mut out = [_mm512_setzero_ps(); G];
            for (i, row) in vg.chunks_exact(d).enumerate() {
                // SAFETY: `row` holds `d` values; `c + 16 <= d`.
                let value = unsafe { load16(row.as_ptr().add(c)) };
                for (hh, out) in out.iter_mut().enumerate() {
                    *out = _mm512_fmadd_ps(_mm512_set1_ps(scores[hh * n + i]), value, *out);
                }
            }
            for (hh, out) in out.into_iter().enumerate() {
                let at = &mut acc[(h0 + hh) * d + c..][..16];
                // SAFETY: `at` is 16 f32; the store takes an unaligned address.
                unsafe { _mm512_storeu_ps(at.as_mut_ptr(), out) };
            }
        }
    }
}
