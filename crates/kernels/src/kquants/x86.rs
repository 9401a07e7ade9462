//! x86-64 kernels for the K-quants, one 32-value sub-block per 256-bit vector.
//!
//! The activations of a super-block share one scale (see
//! [`crate::quantize_acts_k`]), so, as llama.cpp does against its `q8_K`, each
//! sub-block's byte products are weighted by the sub-block's integer scale
//! and summed in `i32` lanes over the whole super-block; one conversion and
//! one multiply by `d · d_a` per super-block and activation row finish it.
//!
//! Q4_K / Q5_K: unsigned quants (nibbles, plus the fifth bit spread from `qh`
//! with a compare) meet the activation bytes directly; the mins are
//! subtracted as `dmin · Σ m · s` (`s` being each block's scaled sum), the 8
//! mins of a super-block as one vector against the 8 sums (copied out of the
//! activation blocks once per product), and each row's total is kept in a
//! vector until the row ends.
//!
//! Q6_K: the quants keep their offset of 32 (0..=63, unsigned, so they meet
//! the activation bytes directly), the two 16-value scales of a sub-block
//! weight the two 128-bit halves, and the offset's share, `32 · Σ scale · Σ
//! activations` over each 16 values, comes off the integer total (llama.cpp
//! takes it off the same way, with its `q8_K` sums). Every type keeps each
//! row's total in a vector until the row ends.
//!
//! IQ4_XS: each sub-block's 16 bytes of indices become 32 signed table values
//! with one byte shuffle and meet the activations with the sign trick.
//!
//! Each super-block is unpacked once for `N` activation rows (several
//! conversations decoded together, or a short prompt); per activation row
//! the operations are the same whatever `N`, so the many-rows kernel gives the
//! row kernel's results bit for bit.

use super::x86_panel;
use crate::isa::check_operands;
use crate::reference::iq4xs_scale;
use crate::x86::*;
use crate::{ActBlock, QType, RowsDot, TileDot};

thread_local! {
    /// The activation blocks' scaled sums of the current Q4_K / Q5_K product,
    /// contiguous (the kernels load 8 at a time); kept so no product allocates.
    static SUMS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Q6_K: each activation block's two sums of 16 values, in order.
    static SUMS16: std::cell::RefCell<Vec<i16>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Each block's two sums of 16 activations, into `out`.
fn sums_of_16(acts: &[ActBlock], out: &mut Vec<i16>) {
    out.clear();
    out.reserve(acts.len() * 2);
    for a in acts {
        for half in a.qs.chunks_exact(16) {
            out.push(half.iter().map(|&q| i16::from(q)).sum());
        }
    }
}

/// Q6_K's integer total of a super-block against one activation row: `dots`
/// (its quants, offset of 32 kept, times the activations, weighted by the
/// scales) less the offset's share `32 · Σ scale · Σ activations` per 16
/// values, from the block's 16 scales and the row's 16 sums of 16 values.
/// The row kernels and the panels both finish with this, so their lanes, and
/// hence their float totals, are the same.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn q6k_total(dots: __m256i, scales16: __m256i, sums16: __m256i) -> __m256i {
    _mm256_sub_epi32(
        dots,
        _mm256_slli_epi32(_mm256_madd_epi16(scales16, sums16), 5),
    )
}

/// The 8 six-bit scales and 8 mins of a Q4_K / Q5_K super-block, packed in
/// the 12 bytes at `p` (as `reference::scale_min_k4` reads them), as one byte
/// each. Sub-blocks 0–3 keep their low 6 bits in bytes 0–3 (scales) and 4–7
/// (mins); 4–7 have their low 4 bits in the nibbles of bytes 8–11 and their
/// top 2 bits in the top bits of bytes 0–7. Word arithmetic, 4 sub-blocks at
/// a time.
///
/// # Safety
/// `p` points at 12 readable bytes.
#[inline(always)]
pub(crate) unsafe fn scales_mins_k4(p: *const u8) -> (u64, u64) {
    const LOW6: u32 = 0x3F3F_3F3F;
    const LOW4: u32 = 0x0F0F_0F0F;
    const LOW2: u32 = 0x0303_0303;
    // SAFETY (caller): 12 readable bytes.
    let [w0, w1, w2] = unsafe { [0, 4, 8].map(|at| p.add(at).cast::<u32>().read_unaligned()) };
    let scales_hi = (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4);
    let mins_hi = ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4);
    (
        u64::from(w0 & LOW6) | (u64::from(scales_hi) << 32),
        u64::from(w1 & LOW6) | (u64::from(mins_hi) << 32),
    )
}

/// Super-block `i`'s activation blocks and (Q4_K, Q5_K) sums in `N` rows.
#[inline(always)]
fn super_block<const N: usize>(
    mut acts: [*const ActBlock; N],
    mut sums: [*const f32; N],
    i: usize,
) -> ([*const ActBlock; N], [*const f32; N]) {
    for r in 0..N {
        // Not dereferenced here; the kernels' callers keep them in bounds
        // (`sums` is null for the types that take none).
        acts[r] = acts[r].wrapping_add(i * 8);
        sums[r] = sums[r].wrapping_add(i * 8);
    }
    (acts, sums)
}

/// Generates the row and many-rows kernels for one instruction set.
macro_rules! kernels {
    ($module:ident, $features:literal, $scaled_dot:ident) => {
        pub(crate) mod $module {
            use super::*;

            /// Q4_K (`qh` null) or Q5_K: one super-block against `N`
            /// activation rows of 8 blocks each (`sums[r]`: the 8 blocks'
            /// scaled sums `s`, contiguous), added to `acc`.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_k45<const N: usize>(
                b: *const u8,
                qh: *const u8,
                qs: *const u8,
                acts: [*const ActBlock; N],
                sums: [*const f32; N],
                acc: &mut [__m256; N],
            ) {
                // SAFETY (caller, for every read below): `b` is a whole block,
                // each `acts[r]` points at 8 activation blocks and each
                // `sums[r]` at 8 floats.
                let (d, dmin) = unsafe { (f16(b), f16(b.add(2))) };
                let (scales, mins) = unsafe { scales_mins_k4(b.add(4)) };
                // Each scale as an `i32` lane of two `i16` copies, so one lane
                // permute broadcasts a sub-block's.
                let scales = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64));
                let scales = _mm256_set_m128i(
                    _mm_unpackhi_epi16(scales, scales),
                    _mm_unpacklo_epi16(scales, scales),
                );
                let high = if qh.is_null() {
                    None
                } else {
                    Some(unsafe { _mm256_loadu_si256(qh.cast()) })
                };
                let mask = _mm256_set1_epi8(0x0F);
                let mut dots = [_mm256_setzero_si256(); N];
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
                        let sc = _mm256_permutevar8x32_epi32(scales, _mm256_set1_epi32(j as i32));
                        for r in 0..N {
                            let a = unsafe { &*acts[r].add(j) };
                            let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                            dots[r] = $scaled_dot(dots[r], quants, av, sc);
                        }
                    }
                }
                // The mins of the 8 sub-blocks against their activation sums.
                let mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64)));
                let mins = _mm256_mul_ps(mins, _mm256_set1_ps(dmin));
                for r in 0..N {
                    let (d_a, s) = unsafe { ((*acts[r]).d, _mm256_loadu_ps(sums[r])) };
                    let scale = _mm256_set1_ps(d * d_a);
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[r]), scale, acc[r]);
                    acc[r] = _mm256_fnmadd_ps(mins, s, acc[r]);
                }
            }

            /// Q6_K: one super-block against `N` activation rows (`s16[r]`:
            /// their 16 sums of 16 values), added to `acc`. The quants keep
            /// their offset of 32 (0..=63, unsigned, so no sign trick), whose
            /// share `32 · Σ scale · Σ activations` comes off the integer total,
            /// as in the panels of `x86_panel.rs`, lane for lane.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_q6k<const N: usize>(
                b: *const u8,
                acts: [*const ActBlock; N],
                s16: [*const i16; N],
                acc: &mut [__m256; N],
            ) {
                // SAFETY (caller, for every read below): `b` is a whole block,
                // each `acts[r]` points at 8 activation blocks and each
                // `s16[r]` at 16 sums.
                let d = unsafe { f16(b.add(208)) };
                let mask = _mm256_set1_epi8(0x0F);
                let three = _mm256_set1_epi8(3);
                let mut dots = [_mm256_setzero_si256(); N];
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
                    // The half's 8 scales, each as an `i32` lane of two `i16`
                    // copies, so one lane permute gives a sub-block's two.
                    let sc = unsafe { _mm_loadl_epi64(b.add(192 + n * 8).cast()) };
                    let sc = _mm_cvtepi8_epi16(sc);
                    let pairs =
                        _mm256_set_m128i(_mm_unpackhi_epi16(sc, sc), _mm_unpacklo_epi16(sc, sc));
                    for (t, low) in lows.into_iter().enumerate() {
                        let high = _mm256_and_si256(
                            _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * t as i32)),
                            three,
                        );
                        let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                        // The first 16 values take scale 2t, the other 16 scale 2t + 1.
                        let (s0, s1) = (2 * t as i32, 2 * t as i32 + 1);
                        let scales = _mm256_permutevar8x32_epi32(
                            pairs,
                            _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1),
                        );
                        for r in 0..N {
                            let a = unsafe { &*acts[r].add(n * 4 + t) };
                            let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                            dots[r] = $scaled_dot(dots[r], q, av, scales);
                        }
                    }
                }
                let scales16 = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(b.add(192).cast()) });
                for r in 0..N {
                    let sums = unsafe { _mm256_loadu_si256(s16[r].cast()) };
                    let total = q6k_total(dots[r], scales16, sums);
                    let scale = _mm256_set1_ps(d * unsafe { (*acts[r]).d });
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), scale, acc[r]);
                }
            }

            /// IQ4_XS: one super-block against `N` activation rows.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn block_iq4xs<const N: usize>(
                b: *const u8,
                acts: [*const ActBlock; N],
                acc: &mut [__m256; N],
            ) {
                // SAFETY (caller, for every read below): `b` is a whole block
                // and each `acts[r]` points at 8 activation blocks.
                let d = unsafe { f16(b) };
                let head = unsafe { std::slice::from_raw_parts(b, 8) };
                let mut dots = [_mm256_setzero_si256(); N];
                for j in 0..8 {
                    let q = unsafe { iq4_values(b.add(8 + 16 * j)) };
                    let q_abs = _mm256_sign_epi8(q, q);
                    let ls = _mm256_set1_epi16(i16::from(iq4xs_scale(head, j)));
                    for r in 0..N {
                        let a = unsafe { &*acts[r].add(j) };
                        let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                        let av = _mm256_sign_epi8(av, q);
                        dots[r] = $scaled_dot(dots[r], q_abs, av, ls);
                    }
                }
                for r in 0..N {
                    let scale = _mm256_set1_ps(d * unsafe { (*acts[r]).d });
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[r]), scale, acc[r]);
                }
            }

            /// One weight row (`nb` super-blocks at `p`) against `N`
            /// activation rows of `nb · 8` blocks each, and (Q4_K, Q5_K)
            /// their `nb · 8` scaled sums or (Q6_K) their `nb · 16` sums of
            /// 16. Pointers, so no bounds are checked per super-block. Every
            /// type adds into a vector per activation row, summed once at the
            /// end of the row.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn row_of<const N: usize>(
                t: QType,
                p: *const u8,
                nb: usize,
                acts: [*const ActBlock; N],
                sums: [*const f32; N],
                sums16: [*const i16; N],
            ) -> [f32; N] {
                let bytes = t.block_bytes();
                let mut acc = [_mm256_setzero_ps(); N];
                for i in 0..nb {
                    let (a, s) = super_block(acts, sums, i);
                    // SAFETY (caller): the row holds `nb` blocks.
                    unsafe {
                        let b = p.add(i * bytes);
                        match t {
                            QType::Q4K => block_k45(b, std::ptr::null(), b.add(16), a, s, &mut acc),
                            QType::Q5K => block_k45(b, b.add(16), b.add(48), a, s, &mut acc),
                            QType::IQ4XS => block_iq4xs(b, a, &mut acc),
                            _ => block_q6k(b, a, sums16.map(|s| s.wrapping_add(i * 16)), &mut acc),
                        }
                    }
                }
                let mut out = [0.0f32; N];
                for r in 0..N {
                    out[r] = hsum(acc[r]);
                }
                out
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
                // The mins of Q4_K and Q5_K meet the blocks' sums 8 at a time,
                // copied into this thread's buffer (kept between products).
                // Q6_K's offset meets the blocks' sums of 16 values.
                SUMS.with_borrow_mut(|sums| {
                    SUMS16.with_borrow_mut(|sums16| {
                        sums.clear();
                        sums16.clear();
                        if matches!(t, QType::Q4K | QType::Q5K) {
                            sums.extend(acts.iter().map(|a| a.s));
                        } else if t == QType::Q6K {
                            sums_of_16(&acts[..m * (k / 32)], sums16);
                        }
                        // SAFETY: the lengths and CPU features `rows` was called with.
                        unsafe {
                            if m >= x86_panel::MIN_ACT_ROWS && x86_panel::takes(t) {
                                x86_panel::$module::rows(t, k, w, rows, acts, m, sums, sums16, out)
                            } else {
                                rows_with(t, k, w, rows, acts, m, sums, sums16, out)
                            }
                        }
                    })
                })
            }

            /// [`rows`] with the activation blocks' sums copied out (empty
            /// for the types without mins).
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            unsafe fn rows_with(
                t: QType,
                k: usize,
                w: &[u8],
                rows: usize,
                acts: &[ActBlock],
                m: usize,
                sums: &[f32],
                sums16: &[i16],
                out: &mut [f32],
            ) {
                let nb = k / 256;
                let row_bytes = t.row_bytes(k);
                // SAFETY: the wrapper checked `acts` holds `m` rows of `nb · 8` blocks.
                let act = |i: usize| unsafe { acts.as_ptr().add(i * nb * 8) };
                let sum = |i: usize| {
                    if sums.is_empty() {
                        std::ptr::null()
                    } else {
                        // SAFETY: `sums` has one float per activation block.
                        unsafe { sums.as_ptr().add(i * nb * 8) }
                    }
                };
                let sum16 = |i: usize| {
                    if sums16.is_empty() {
                        std::ptr::null()
                    } else {
                        // SAFETY: `sums16` has two sums per activation block.
                        unsafe { sums16.as_ptr().add(i * nb * 16) }
                    }
                };
                for r in 0..rows {
                    // SAFETY: the wrapper checked `w` holds `rows` rows.
                    let p = unsafe { w.as_ptr().add(r * row_bytes) };
                    let mut i = 0;
                    while i + 4 <= m {
                        let rows4 = [i, i + 1, i + 2, i + 3];
                        // SAFETY: `p` is a whole row of `t`.
                        let y = unsafe {
                            row_of(t, p, nb, rows4.map(act), rows4.map(sum), rows4.map(sum16))
                        };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 4;
                    }
                    if i + 2 <= m {
                        let rows2 = [i, i + 1];
                        // SAFETY: as above.
                        let y = unsafe {
                            row_of(t, p, nb, rows2.map(act), rows2.map(sum), rows2.map(sum16))
                        };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 2;
                    }
                    while i < m {
                        // SAFETY: as above.
                        let [y] = unsafe { row_of(t, p, nb, [act(i)], [sum(i)], [sum16(i)]) };
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

kernels!(avx2, "avx2,fma,f16c", scaled_dot_avx2);
kernels!(
    avx512,
    "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    scaled_dot_vnni
);

#[cfg(test)]
mod tests {
    use super::scales_mins_k4;
    use crate::reference::scale_min_k4;

    #[test]
    fn packed_scales_and_mins_unpack_as_the_reference_reads_them() {
        let mut seed = 9u32;
        for _ in 0..2000 {
            let bytes: [u8; 12] = std::array::from_fn(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            });
            // SAFETY: 12 bytes.
            let (scales, mins) = unsafe { scales_mins_k4(bytes.as_ptr()) };
            for j in 0..8 {
                let want = scale_min_k4(j, &bytes);
                let got = ((scales >> (8 * j)) as u8, (mins >> (8 * j)) as u8);
                assert_eq!(got, want, "sub-block {j} of {bytes:?}");
            }
        }
    }
}
