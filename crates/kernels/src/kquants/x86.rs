//! x86-64 kernels for the K-quants, one 32-value sub-block per 256-bit vector.
//!
//! Q4_K / Q5_K: the 6-bit scales and mins of a super-block are unpacked once;
//! each sub-block's unsigned quants (nibbles, plus the fifth bit spread from
//! `qh` with a compare) meet the 32 activation bytes in one byte product, are
//! scaled by `d · sc · d_a` with an FMA, and the mins are subtracted as
//! `dmin · m · s` (`s` being the activations' scaled sum). Q6_K: the quants
//! minus 32 are signed, so the sign trick applies; the product's eight `i32`
//! lanes cover 4 values each, so the two 16-value scales of a sub-block are
//! one lane-wise multiply. IQ4_XS: each sub-block's 16 bytes of indices
//! become 32 signed table values with one byte shuffle, meet the activations
//! with the sign trick and are scaled by `d · (ls - 32) · d_a`.

use crate::isa::check_operands;
use crate::reference::{iq4xs_scale, scale_min_k4};
use crate::x86::*;
use crate::{ActBlock, QType, RowsDot};

/// Generates the three row kernels for one instruction set.
macro_rules! kernels {
    ($module:ident, $features:literal, $dot_i8:ident, $dot_u8:ident) => {
        pub(crate) mod $module {
            use super::*;

            /// Q4_K (`qh` null) or Q5_K: one super-block.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_k45(
                b: *const u8,
                qh: *const u8,
                qs: *const u8,
                acts: &[ActBlock],
            ) -> f32 {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let (d, dmin) = unsafe { (f16(b), f16(b.add(2))) };
                let scales = unsafe { std::slice::from_raw_parts(b.add(4), 12) };
                let high = if qh.is_null() {
                    None
                } else {
                    Some(unsafe { _mm256_loadu_si256(qh.cast()) })
                };
                let mask = _mm256_set1_epi8(0x0F);
                let mut acc = _mm256_setzero_ps();
                let mut mins = 0.0f32;
                for c in 0..4 {
                    let q = unsafe { _mm256_loadu_si256(qs.add(c * 32).cast()) };
                    let halves = [
                        _mm256_and_si256(q, mask),
                        _mm256_and_si256(_mm256_srli_epi16(q, 4), mask),
                    ];
                    for (h, mut quants) in halves.into_iter().enumerate() {
                        let j = 2 * c + h;
                        if let Some(high) = high {
                            let bit = _mm256_set1_epi8((1u8 << j) as i8);
                            let set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
                            quants = _mm256_or_si256(
                                quants,
                                _mm256_and_si256(set, _mm256_set1_epi8(0x10)),
                            );
                        }
                        let a = &acts[j];
                        let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                        let (sc, m) = scale_min_k4(j, scales);
                        let scale = _mm256_set1_ps(d * f32::from(sc) * a.d);
                        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps($dot_u8(quants, av)), scale, acc);
                        mins += dmin * f32::from(m) * a.s;
                    }
                }
                hsum(acc) - mins
            }

            /// Q6_K: one super-block.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_q6k(b: *const u8, acts: &[ActBlock]) -> f32 {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let d = unsafe { f16(b.add(208)) };
                let mask = _mm256_set1_epi8(0x0F);
                let three = _mm256_set1_epi8(3);
                let mut acc = _mm256_setzero_ps();
                for n in 0..2 {
                    let (ql0, ql1, qh) = unsafe {
                        (
                            _mm256_loadu_si256(b.add(n * 64).cast()),
                            _mm256_loadu_si256(b.add(n * 64 + 32).cast()),
                            _mm256_loadu_si256(b.add(128 + n * 32).cast()),
                        )
                    };
                    let lows = [
                        _mm256_and_si256(ql0, mask),
                        _mm256_and_si256(ql1, mask),
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask),
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask),
                    ];
                    let sc = unsafe { b.add(192 + n * 8) };
                    for (t, low) in lows.into_iter().enumerate() {
                        let high = _mm256_and_si256(
                            _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * t as i32)),
                            three,
                        );
                        let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                        let q = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
                        let a = &acts[n * 4 + t];
                        let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                        // Lanes 0..4 hold values 0..16 (scale 2t), lanes 4..8 the rest.
                        let (s0, s1) = unsafe {
                            (
                                i32::from(sc.add(2 * t).cast::<i8>().read()),
                                i32::from(sc.add(2 * t + 1).cast::<i8>().read()),
                            )
                        };
                        let scales = _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
                        let sums = _mm256_mullo_epi32($dot_i8(q, av), scales);
                        acc =
                            _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(d * a.d), acc);
                    }
                }
                hsum(acc)
            }

            /// IQ4_XS: one super-block.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_iq4xs(b: *const u8, acts: &[ActBlock]) -> f32 {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let d = unsafe { f16(b) };
                let head = unsafe { std::slice::from_raw_parts(b, 8) };
                let mut acc = _mm256_setzero_ps();
                for (j, a) in acts.iter().enumerate().take(8) {
                    let q = unsafe { iq4_values(b.add(8 + 16 * j)) };
                    let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                    let scale = _mm256_set1_ps(d * f32::from(iq4xs_scale(head, j)) * a.d);
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps($dot_i8(q, av)), scale, acc);
                }
                hsum(acc)
            }

            #[target_feature(enable = $features)]
            unsafe fn rows(t: QType, k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]) {
                let nb = k / 256;
                let bytes = t.block_bytes();
                for (r, y) in out.iter_mut().enumerate() {
                    let mut sum = 0.0f32;
                    for i in 0..nb {
                        let a = &acts[i * 8..i * 8 + 8];
                        // SAFETY: the wrapper checked `w` holds `out.len()` rows
                        // of `nb` blocks.
                        sum += unsafe {
                            let b = w.as_ptr().add((r * nb + i) * bytes);
                            match t {
                                QType::Q4K => block_k45(b, std::ptr::null(), b.add(16), a),
                                QType::Q5K => block_k45(b, b.add(16), b.add(48), a),
                                QType::IQ4XS => block_iq4xs(b, a),
                                _ => block_q6k(b, a),
                            }
                        };
                    }
                    *y = sum;
                }
            }

            fn checked(t: QType, k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]) {
                check_operands(t, k, w, out.len(), acts, 1, out);
                // SAFETY: the lengths were checked above; `rows_dot_fn` hands
                // this kernel out only when `Isa::available()` says the CPU
                // has `$features`.
                unsafe { rows(t, k, w, acts, out) }
            }

            pub(crate) fn rows_dot(t: QType) -> Option<RowsDot> {
                Some(match t {
                    QType::Q4K => |k, w, a, out| checked(QType::Q4K, k, w, a, out),
                    QType::Q5K => |k, w, a, out| checked(QType::Q5K, k, w, a, out),
                    QType::Q6K => |k, w, a, out| checked(QType::Q6K, k, w, a, out),
                    QType::IQ4XS => |k, w, a, out| checked(QType::IQ4XS, k, w, a, out),
                    _ => return None,
                })
            }
        }
    };
}

kernels!(avx2, "avx2,fma,f16c", dot_i8_avx2, dot_u8_avx2);
kernels!(
    avx512,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    dot_i8_vnni,
    dot_u8_vnni
);
