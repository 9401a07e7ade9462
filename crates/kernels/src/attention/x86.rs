//! A span of attention with AVX-512 or AVX2: fast paths for an f16 cache
//! (the common case on x86-64) and a q8_0 one, else the generic body with
//! this instruction set's dot product and F16C widening.
//!
//! The generic body widens each cached row into a buffer and calls a dot
//! product per head; here the rows are widened in registers (`vcvtph2ps`
//! straight from the cache, or `vpmovsxbd` + `vcvtdq2ps` for q8_0's `i8`), the
//! scores of a group's heads come from one pass over each key row, and the
//! weighted values are summed one vector of dimensions at a time with the
//! group's accumulators held in registers. The group size is a const
//! parameter, so those accumulators are plain registers. The two instruction
//! sets share the code through a macro that swaps the vector type and its
//! operations.

use std::arch::x86_64::*;
use std::ops::Range;

use half::f16;

use super::{
    AttentionShape, Job, KvData, Q8_0_BLOCK, Q8_0_BYTES, Scratch, exponentiate, span_body,
};

/// `f($args)` with the group size `$g` (1 to 8) as its const parameter, else
/// `return false`.
macro_rules! by_group {
    ($g:expr, $f:ident($($arg:expr),*)) => {
        match $g {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            _ => return false,
        }
    };
}

/// `$lanes` f32 per `$v`; `$load_f16` widens that many f16 and `$load_i8`
/// that many `i8`, `$sum` adds the lanes.
macro_rules! spans {
    ($module:ident, $features:literal, $v:ty, $lanes:literal, $load_f16:ident,
     $load_i8:ident, $zero:ident, $fma:ident, $mul:ident, $splat:ident, $loadf:ident,
     $store:ident, $sum:path) => {
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
                if !try_span(
                    job,
                    range.clone(),
                    part,
                    &mut *scratch.scores,
                    &mut *scratch.weights,
                ) {
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

            /// Does the work when 1 to 8 query heads share a kv head and
            /// the cache is f16 with `head_dim` a multiple of the vector
            /// width, or q8_0 (whole blocks of 32, checked by `attend`);
            /// `false`: nothing was done.
            #[target_feature(enable = $features)]
            fn try_span(
                job: &Job<'_>,
                range: Range<usize>,
                part: &mut [f32],
                scores: &mut [f32],
                weights: &mut [f32],
            ) -> bool {
                let group = job.shape.heads / job.shape.kv_heads;
                let (j, r, p, s) = (job, range, part, scores);
                match (job.k.data, job.v.data) {
                    (KvData::F16(k), KvData::F16(v))
                        if job.shape.head_dim.is_multiple_of($lanes) =>
                    {
                        by_group!(group, fast_span(j, k, v, r, p, s))
                    }
                    (KvData::Q8_0(k), KvData::Q8_0(v)) => {
                        by_group!(group, q8_span(j, k, v, r, p, s, weights))
                    }
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
                            let key = unsafe { $load_f16(row.as_ptr().add(c)) };
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
                            let value = unsafe { $load_f16(row.as_ptr().add(c)) };
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

            /// [`fast_span`] over q8_0 rows (`d` a multiple of 32), widened
            /// in registers. A key vector is its `i8` as f32 times its
            /// block's scale: one multiply that the group's heads share (a
            /// scale applied to each head's partial sum per block would cost
            /// one per head, and twice the accumulators). A value row's
            /// scales are folded into the weights first, `weights[(b · G +
            /// hh) · n + i]` being head `hh`'s weight of row `i` times the
            /// scale of its block `b`, so the sum over the rows is the f16
            /// path's with another load.
            #[inline]
            #[target_feature(enable = $features)]
            fn q8_span<const G: usize>(
                job: &Job<'_>,
                k: &[u8],
                v: &[u8],
                range: Range<usize>,
                part: &mut [f32],
                scores: &mut [f32],
                weights: &mut [f32],
            ) {
                let AttentionShape {
                    heads,
                    kv_heads,
                    head_dim: d,
                    ..
                } = job.shape;
                let n = range.len();
                let blocks = d / Q8_0_BLOCK;
                let row_bytes = blocks * Q8_0_BYTES;
                let (acc, stats) = part.split_at_mut(heads * d);
                let (maxes, sums) = stats.split_at_mut(heads);
                let scores = &mut scores[..G * n];
                let weights = &mut weights[..blocks * G * n];
                for g in 0..kv_heads {
                    let h0 = g * G;
                    let q = &job.q[h0 * d..][..G * d];
                    let kg = q8_rows(k, job.k.head_stride, g, &range, d);
                    let vg = q8_rows(v, job.v.head_stride, g, &range, d);
                    for (i, row) in kg.chunks_exact(row_bytes).enumerate() {
                        let mut dots: [$v; G] = [$zero(); G];
                        for (b, block) in row.chunks_exact(Q8_0_BYTES).enumerate() {
                            let scale = $splat(block_scale(block));
                            for c in (0..Q8_0_BLOCK).step_by($lanes) {
                                // SAFETY: `block` is a scale and 32 `i8`, `q`
                                // holds `G · d` values; `c + $lanes <= 32`
                                // and `b · 32 + 32 <= d`.
                                let key = unsafe { $load_i8(block.as_ptr().add(2 + c)) };
                                let key = $mul(key, scale);
                                for (hh, dot) in dots.iter_mut().enumerate() {
                                    let at = hh * d + b * Q8_0_BLOCK + c;
                                    let qv = unsafe { $loadf(q.as_ptr().add(at)) };
                                    *dot = $fma(qv, key, *dot);
                                }
                            }
                        }
                        for (hh, dot) in dots.into_iter().enumerate() {
                            scores[hh * n + i] = job.scale * $sum(dot);
                        }
                    }
                    for (hh, s) in scores.chunks_exact_mut(n).enumerate() {
                        (maxes[h0 + hh], sums[h0 + hh]) = exponentiate(s);
                    }
                    for (i, row) in vg.chunks_exact(row_bytes).enumerate() {
                        for (b, block) in row.chunks_exact(Q8_0_BYTES).enumerate() {
                            let scale = block_scale(block);
                            for hh in 0..G {
                                weights[(b * G + hh) * n + i] = scores[hh * n + i] * scale;
                            }
                        }
                    }
                    for c in (0..d).step_by($lanes) {
                        let b = c / Q8_0_BLOCK;
                        let at = b * Q8_0_BYTES + 2 + c % Q8_0_BLOCK;
                        let w = &weights[b * G * n..][..G * n];
                        let mut out: [$v; G] = [$zero(); G];
                        for (i, row) in vg.chunks_exact(row_bytes).enumerate() {
                            // SAFETY: `row` is `d / 32` blocks; `at` is in
                            // block `b`'s `i8`, `$lanes` of them before its end.
                            let value = unsafe { $load_i8(row.as_ptr().add(at)) };
                            for (hh, out) in out.iter_mut().enumerate() {
                                *out = $fma($splat(w[hh * n + i]), value, *out);
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

/// The bytes of rows `range` of kv head `g` in a q8_0 cache of `d`-value
/// rows (`attend_one` checked the lengths, and that strides and `d` are
/// whole blocks).
#[inline]
fn q8_rows<'a>(
    data: &'a [u8],
    head_stride: usize,
    g: usize,
    range: &Range<usize>,
    d: usize,
) -> &'a [u8] {
    let at = (g * head_stride + range.start * d) / Q8_0_BLOCK * Q8_0_BYTES;
    &data[at..][..range.len() * d / Q8_0_BLOCK * Q8_0_BYTES]
}

/// The f16 scale that opens a q8_0 block.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn block_scale(block: &[u8]) -> f32 {
    let bits = u16::from_le_bytes([block[0], block[1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
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

/// 16 `i8` at `p` as f32.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16_i8(p: *const u8) -> __m512 {
    // SAFETY (caller): `p` points at 16 readable bytes.
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(unsafe { _mm_loadu_si128(p.cast()) }))
}

/// 8 `i8` at `p` as f32.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load8_i8(p: *const u8) -> __m256 {
    // SAFETY (caller): `p` points at 8 readable bytes.
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(p.cast()) }))
}

spans!(
    avx512,
    "avx512f,avx2,fma,f16c",
    __m512,
    16,
    load16,
    load16_i8,
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps,
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
    load8_i8,
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    _mm256_mul_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    crate::x86::hsum
);
