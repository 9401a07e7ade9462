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
//!
//! Each super-block is unpacked once for `N` activation rows (several
//! conversations decoded together, or a short prompt); per activation row
//! the operations are the same whatever `N`, so the many-rows kernel gives the
//! row kernel's results bit for bit.

use crate::isa::check_operands;
use crate::reference::{iq4xs_scale, scale_min_k4};
use crate::x86::*;
use crate::{ActBlock, QType, RowsDot, TileDot};

/// Generates the row and many-rows kernels for one instruction set.
macro_rules! kernels {
    ($module:ident, $features:literal, $dot_i8:ident, $dot_u8:ident) => {
        pub(crate) mod $module {
            use super::*;

            /// Q4_K (`qh` null) or Q5_K: one super-block against `N`
            /// activation rows of 8 blocks each.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_k45<const N: usize>(
                b: *const u8,
                qh: *const u8,
                qs: *const u8,
                acts: [&[ActBlock]; N],
            ) -> [f32; N] {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let (d, dmin) = unsafe { (f16(b), f16(b.add(2))) };
                let scales = unsafe { std::slice::from_raw_parts(b.add(4), 12) };
                let high = if qh.is_null() {
                    None
                } else {
                    Some(unsafe { _mm256_loadu_si256(qh.cast()) })
                };
                let mask = _mm256_set1_epi8(0x0F);
                let mut acc = [_mm256_setzero_ps(); N];
                let mut mins = [0.0f32; N];
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
                        let (sc, m) = scale_min_k4(j, scales);
                        let (d_sc, dmin_m) = (d * f32::from(sc), dmin * f32::from(m));
                        for r in 0..N {
                            let a = &acts[r][j];
                            let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                            let scale = _mm256_set1_ps(d_sc * a.d);
                            let sums = _mm256_cvtepi32_ps($dot_u8(quants, av));
                            acc[r] = _mm256_fmadd_ps(sums, scale, acc[r]);
                            mins[r] += dmin_m * a.s;
                        }
                    }
                }
                std::array::from_fn(|r| hsum(acc[r]) - mins[r])
            }

            /// Q6_K: one super-block against `N` activation rows.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_q6k<const N: usize>(b: *const u8, acts: [&[ActBlock]; N]) -> [f32; N] {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let d = unsafe { f16(b.add(208)) };
                let mask = _mm256_set1_epi8(0x0F);
                let three = _mm256_set1_epi8(3);
                let mut acc = [_mm256_setzero_ps(); N];
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
                        // Lanes 0..4 hold values 0..16 (scale 2t), lanes 4..8 the rest.
                        let (s0, s1) = unsafe {
                            (
                                i32::from(sc.add(2 * t).cast::<i8>().read()),
                                i32::from(sc.add(2 * t + 1).cast::<i8>().read()),
                            )
                        };
                        let scales = _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1);
                        for r in 0..N {
                            let a = &acts[r][n * 4 + t];
                            let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                            let sums = _mm256_mullo_epi32($dot_i8(q, av), scales);
                            let scale = _mm256_set1_ps(d * a.d);
                            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[r]);
                        }
                    }
                }
                std::array::from_fn(|r| hsum(acc[r]))
            }

            /// IQ4_XS: one super-block against `N` activation rows.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_iq4xs<const N: usize>(
                b: *const u8,
                acts: [&[ActBlock]; N],
            ) -> [f32; N] {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let d = unsafe { f16(b) };
                let head = unsafe { std::slice::from_raw_parts(b, 8) };
                let mut acc = [_mm256_setzero_ps(); N];
                for j in 0..8 {
                    let q = unsafe { iq4_values(b.add(8 + 16 * j)) };
                    let d_ls = d * f32::from(iq4xs_scale(head, j));
                    for r in 0..N {
                        let a = &acts[r][j];
                        let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                        let scale = _mm256_set1_ps(d_ls * a.d);
                        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps($dot_i8(q, av)), scale, acc[r]);
                    }
                }
                std::array::from_fn(|r| hsum(acc[r]))
            }

            /// One weight row (`nb` super-blocks at `p`) against `N`
            /// activation rows of `nb · 8` blocks each.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn row_of<const N: usize>(
                t: QType,
                p: *const u8,
                nb: usize,
                acts: [&[ActBlock]; N],
            ) -> [f32; N] {
                let bytes = t.block_bytes();
                let mut sum = [0.0f32; N];
                for i in 0..nb {
                    let a: [&[ActBlock]; N] = std::array::from_fn(|r| &acts[r][i * 8..i * 8 + 8]);
                    // SAFETY (caller): the row holds `nb` blocks.
                    let y = unsafe {
                        let b = p.add(i * bytes);
                        match t {
                            QType::Q4K => block_k45(b, std::ptr::null(), b.add(16), a),
                            QType::Q5K => block_k45(b, b.add(16), b.add(48), a),
                            QType::IQ4XS => block_iq4xs(b, a),
                            _ => block_q6k(b, a),
                        }
                    };
                    for r in 0..N {
                        sum[r] += y[r];
                    }
                }
                sum
            }

            /// `out[i · rows + r] = W[r] · acts[i]` for `rows` weight rows and
            /// `m` activation rows, four activation rows per pass (then two, then one).
            #[target_feature(enable = $features)]
            unsafe fn rows(
                t: QType,
                k: usize,
                w: &[u8],
                rows: usize,
                acts: &[ActBlock],
                m: usize,
                out: &mut [f32],
            ) {
                let nb = k / 256;
                let row_bytes = t.row_bytes(k);
                let act = |i: usize| &acts[i * nb * 8..(i + 1) * nb * 8];
                for r in 0..rows {
                    // SAFETY: the wrapper checked `w` holds `rows` rows.
                    let p = unsafe { w.as_ptr().add(r * row_bytes) };
                    let mut i = 0;
                    while i + 4 <= m {
                        // SAFETY: `p` is a whole row of `t`.
                        let y = unsafe {
                            row_of(t, p, nb, [act(i), act(i + 1), act(i + 2), act(i + 3)])
                        };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 4;
                    }
                    if i + 2 <= m {
                        // SAFETY: as above.
                        let y = unsafe { row_of(t, p, nb, [act(i), act(i + 1)]) };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 2;
                    }
                    while i < m {
                        // SAFETY: as above.
                        let [y] = unsafe { row_of(t, p, nb, [act(i)]) };
                        out[i * rows + r] = y;
                        i += 1;
                    }
                }
            }

            fn checked(
                t: QType,
                k: usize,
                w: &[u8],
                rows_n: usize,
                acts: &[ActBlock],
                m: usize,
                out: &mut [f32],
            ) {
                check_operands(t, k, w, rows_n, acts, m, out);
                // SAFETY: the lengths were checked above; `rows_dot_fn` and
                // `tile_dot_fn` hand these kernels out only when
                // `Isa::available()` says the CPU has `$features`.
                unsafe { rows(t, k, w, rows_n, acts, m, out) }
            }

            pub(crate) fn rows_dot(t: QType) -> Option<RowsDot> {
                Some(match t {
                    QType::Q4K => |k, w, a, out| checked(QType::Q4K, k, w, out.len(), a, 1, out),
                    QType::Q5K => |k, w, a, out| checked(QType::Q5K, k, w, out.len(), a, 1, out),
                    QType::Q6K => |k, w, a, out| checked(QType::Q6K, k, w, out.len(), a, 1, out),
                    QType::IQ4XS => {
                        |k, w, a, out| checked(QType::IQ4XS, k, w, out.len(), a, 1, out)
                    }
                    _ => return None,
                })
            }

            pub(crate) fn tile_dot(t: QType) -> Option<TileDot> {
                Some(match t {
                    QType::Q4K => |k, w, r, a, m, out| checked(QType::Q4K, k, w, r, a, m, out),
                    QType::Q5K => |k, w, r, a, m, out| checked(QType::Q5K, k, w, r, a, m, out),
                    QType::Q6K => |k, w, r, a, m, out| checked(QType::Q6K, k, w, r, a, m, out),
                    QType::IQ4XS => |k, w, r, a, m, out| checked(QType::IQ4XS, k, w, r, a, m, out),
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
