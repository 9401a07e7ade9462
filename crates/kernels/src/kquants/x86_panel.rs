//! x86-64 prompt kernels for Q5_K and Q6_K: many activation rows against a
//! panel of weight rows. They take products of 16 to 31 activation rows (a
//! short prompt, or a prompt's last chunk), which keep the row kernels'
//! results bit for bit; from 32 on, `lanes.rs` takes them.
//!
//! The many-rows kernels of `x86.rs` unpack a super-block in registers for at
//! most four activation rows. Here one super-block of `W` weight rows is
//! unpacked once into a small buffer, a [`Panel`] (each sub-block's quants as
//! unsigned bytes and its scales as a vector of `i16` lanes), which stays in
//! L1 while every activation row of a prompt's tile meets it, [`A`] rows at a
//! time: the inner step holds only `W · A` integer accumulators and the `W`
//! weight and scale vectors of one sub-block. The rows' later super-blocks are
//! prefetched, since a panel reads its rows in turn rather than as one stream.
//!
//! The results are the row kernels' bit for bit: each sub-block's byte products
//! are weighted and summed in `i32` as there (integer sums do not depend on
//! order), and the float steps of a super-block are the same, in the same
//! order. Q6_K's quants are kept with their offset of 32 (0..=63, so they need
//! no sign trick); the offset's share, `32 · Σ scale · Σ activations` over each
//! 16 values, comes off the integer total before it is converted.

use super::x86::{q6k_total, scales_mins_k4};
use crate::x86::*;
use crate::{ActBlock, QType};

/// Weight rows unpacked together.
const W: usize = 2;
/// Activation rows each unpacked sub-block meets at a time.
const A: usize = 4;
/// Activation rows whose accumulators a panel keeps (the callers pass at most
/// `TILE_ACT_ROWS`, 16, at a time; more are taken in turns).
const ACT_ROWS: usize = 16;
/// Super-blocks ahead of the one unpacked whose bytes are prefetched.
const PREFETCH_AHEAD: usize = 2;
/// From this many activation rows on (a whole block of a prompt), a product
/// goes through panels. With fewer, unpacking to the buffer costs more than
/// it saves (`cargo xtask bench kernels` on a Zen 3, 8 rows: 11–16% slower
/// than two 4-row tiles with the weights streaming from memory).
pub(crate) const MIN_ACT_ROWS: usize = 16;

/// Whether products with `t` go through panels (from [`MIN_ACT_ROWS`] rows).
/// Against four 4-row tiles, 16 rows on a Zen 3 (AVX2) take 14–19% less time
/// for Q6_K, whose tile is the slowest, and 1–6% less for Q5_K; Q4_K's tiles
/// are as fast as a panel or up to 5% faster, so Q4_K stays on them.
pub(crate) fn takes(t: QType) -> bool {
    matches!(t, QType::Q5K | QType::Q6K)
}

/// One super-block of `R` weight rows, unpacked.
#[repr(C, align(32))]
struct Panel<const R: usize> {
    /// `[j][w]`: sub-block `j` of row `w`, one unsigned byte per value.
    quants: [[[u8; 32]; R]; 8],
    /// `[j][w]`: its scale in every `i16` lane (Q6_K: the first 16 values'
    /// scale in the low 8 lanes, the other 16's in the high 8).
    scales: [[[i16; 16]; R]; 8],
    /// Q5_K: `dmin · m_j` for the 8 sub-blocks of row `w`.
    mins: [[f32; 8]; R],
    /// Q6_K: the 16 scales of row `w`.
    scales16: [[i16; 16]; R],
    /// The super-block scale of row `w`.
    d: [f32; R],
}

impl<const R: usize> Panel<R> {
    const ZERO: Self = Panel {
        quants: [[[0; 32]; R]; 8],
        scales: [[[0; 16]; R]; 8],
        mins: [[0.0; 8]; R],
        scales16: [[0; 16]; R],
        d: [0.0; R],
    };
}

/// The totals of a panel's rows against a tile's activation rows, each kept
/// in 8 lanes until the row ends, as the row kernels keep them.
struct Totals<const R: usize> {
    lanes: [[__m256; ACT_ROWS]; R],
}

/// Generates the panel kernels for one instruction set.
macro_rules! kernels {
    ($module:ident, $features:literal, $scaled_dot:ident) => {
        pub(crate) mod $module {
            use super::*;

            /// Super-block `i` of the `R` rows at `p` (`row_bytes` apart) into
            /// `panel`.
            ///
            /// # Safety
            /// `p` holds `R` rows of at least `i + 1` super-blocks of `t`,
            /// which is Q5_K or Q6_K.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn unpack<const R: usize>(
                t: QType,
                p: *const u8,
                row_bytes: usize,
                i: usize,
                panel: &mut Panel<R>,
            ) {
                let bytes = t.block_bytes();
                for w in 0..R {
                    // SAFETY (caller): a whole block.
                    let b = unsafe { p.add(w * row_bytes + i * bytes) };
                    // Ask for the row's super-block after next: each is read
                    // once per tile, and a panel's rows are not one stream
                    // the hardware prefetcher follows far enough ahead.
                    let ahead = b.wrapping_add(PREFETCH_AHEAD * bytes);
                    for line in (0..bytes).step_by(64) {
                        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast());
                    }
                    // SAFETY: as above.
                    unsafe {
                        if t == QType::Q6K {
                            unpack_q6k(b, w, panel);
                        } else {
                            unpack_q5k(b, w, panel);
                        }
                    }
                }
            }

            /// Q5_K block `b` as row `w` of `panel`, the way `x86.rs`'s
            /// `block_k45` unpacks it.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn unpack_q5k<const R: usize>(b: *const u8, w: usize, panel: &mut Panel<R>) {
                // SAFETY (caller, for every read below): `b` is a whole block.
                let (d, dmin) = unsafe { (f16(b), f16(b.add(2))) };
                let (scales, mins) = unsafe { scales_mins_k4(b.add(4)) };
                let scales = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64));
                let scales = _mm256_set_m128i(
                    _mm_unpackhi_epi16(scales, scales),
                    _mm_unpacklo_epi16(scales, scales),
                );
                let mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64)));
                let mins = _mm256_mul_ps(mins, _mm256_set1_ps(dmin));
                // SAFETY: 8 floats.
                unsafe { _mm256_storeu_ps(panel.mins[w].as_mut_ptr(), mins) };
                panel.d[w] = d;
                let high = unsafe { _mm256_loadu_si256(b.add(16).cast()) };
                let mask = _mm256_set1_epi8(0x0F);
                for c in 0..4 {
                    let q = unsafe { _mm256_loadu_si256(b.add(48 + c * 32).cast()) };
                    let halves = [
                        _mm256_and_si256(q, mask),
                        _mm256_and_si256(_mm256_srli_epi16(q, 4), mask),
                    ];
                    for (h, mut quants) in halves.into_iter().enumerate() {
                        let j = 2 * c + h;
                        let bit = _mm256_set1_epi8((1u8 << j) as i8);
                        let set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
                        quants =
                            _mm256_or_si256(quants, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
                        let sc = _mm256_permutevar8x32_epi32(scales, _mm256_set1_epi32(j as i32));
                        // SAFETY: 32 bytes each.
                        unsafe {
                            _mm256_storeu_si256(panel.quants[j][w].as_mut_ptr().cast(), quants);
                            _mm256_storeu_si256(panel.scales[j][w].as_mut_ptr().cast(), sc);
                        }
                    }
                }
            }

            /// Q6_K block `b` as row `w` of `panel`: its quants with their
            /// offset of 32, the way `x86.rs`'s `block_q6k` builds them.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn unpack_q6k<const R: usize>(b: *const u8, w: usize, panel: &mut Panel<R>) {
                // SAFETY (caller, for every read below): `b` is a whole block.
                panel.d[w] = unsafe { f16(b.add(208)) };
                let all = unsafe { _mm_loadu_si128(b.add(192).cast()) };
                // SAFETY: 16 `i16`s.
                unsafe {
                    _mm256_storeu_si256(
                        panel.scales16[w].as_mut_ptr().cast(),
                        _mm256_cvtepi8_epi16(all),
                    );
                }
                let mask = _mm256_set1_epi8(0x0F);
                let three = _mm256_set1_epi8(3);
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
                        let (s0, s1) = (2 * t as i32, 2 * t as i32 + 1);
                        let scales = _mm256_permutevar8x32_epi32(
                            pairs,
                            _mm256_setr_epi32(s0, s0, s0, s0, s1, s1, s1, s1),
                        );
                        let j = n * 4 + t;
                        // SAFETY: 32 bytes each.
                        unsafe {
                            _mm256_storeu_si256(panel.quants[j][w].as_mut_ptr().cast(), q);
                            _mm256_storeu_si256(panel.scales[j][w].as_mut_ptr().cast(), scales);
                        }
                    }
                }
            }

            /// The `R × N` integer sums of a panel's super-block against `N`
            /// activation rows (each pointing at the super-block's 8 blocks).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn dots<const R: usize, const N: usize>(
                panel: &Panel<R>,
                acts: &[*const ActBlock; N],
            ) -> [[__m256i; N]; R] {
                let mut dots = [[_mm256_setzero_si256(); N]; R];
                for j in 0..8 {
                    let mut q = [_mm256_setzero_si256(); R];
                    let mut sc = [_mm256_setzero_si256(); R];
                    for w in 0..R {
                        // SAFETY: 32 bytes each.
                        unsafe {
                            q[w] = _mm256_load_si256(panel.quants[j][w].as_ptr().cast());
                            sc[w] = _mm256_load_si256(panel.scales[j][w].as_ptr().cast());
                        }
                    }
                    for a in 0..N {
                        // SAFETY (caller): each row has the super-block's 8 blocks.
                        let av =
                            unsafe { _mm256_loadu_si256((*acts[a].add(j)).qs.as_ptr().cast()) };
                        for w in 0..R {
                            dots[w][a] = $scaled_dot(dots[w][a], q[w], av, sc[w]);
                        }
                    }
                }
                dots
            }

            /// Where a tile's activation rows and their per-block data are.
            struct Acts<'a> {
                acts: &'a [ActBlock],
                /// Q5_K: each block's scaled sum, contiguous.
                sums: &'a [f32],
                /// Q6_K: each block's two sums of 16.
                sums16: &'a [i16],
                /// Blocks per row.
                per_row: usize,
            }

            /// Rows `a0 + at..a0 + at + N` of the tile against super-block
            /// `i` of the panel, added to their totals (from `at` on).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn step<const R: usize, const N: usize>(
                t: QType,
                panel: &Panel<R>,
                x: &Acts<'_>,
                i: usize,
                a0: usize,
                at: usize,
                totals: &mut Totals<R>,
            ) {
                let a = a0 + at;
                let mut rows = [std::ptr::null::<ActBlock>(); N];
                for (n, row) in rows.iter_mut().enumerate() {
                    // SAFETY (caller): the tile holds rows `a..a + N` of
                    // `per_row` blocks, `per_row` a multiple of 8 past `i · 8`.
                    *row = unsafe { x.acts.as_ptr().add((a + n) * x.per_row + i * 8) };
                }
                // SAFETY: as above.
                let dots = unsafe { dots(panel, &rows) };
                for w in 0..R {
                    for n in 0..N {
                        // SAFETY: as above.
                        let d_a = unsafe { (*rows[n]).d };
                        let block = (a + n) * x.per_row + i * 8;
                        if t == QType::Q6K {
                            // SAFETY: 16 sums per super-block and row.
                            let s16 = unsafe {
                                _mm256_loadu_si256(x.sums16.as_ptr().add(block * 2).cast())
                            };
                            let sc =
                                unsafe { _mm256_load_si256(panel.scales16[w].as_ptr().cast()) };
                            let total = q6k_total(dots[w][n], sc, s16);
                            let scale = _mm256_set1_ps(panel.d[w] * d_a);
                            let v = &mut totals.lanes[w][at + n];
                            *v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), scale, *v);
                        } else {
                            // SAFETY: 8 sums per super-block and row, 8 mins.
                            let (s, mins) = unsafe {
                                (
                                    _mm256_loadu_ps(x.sums.as_ptr().add(block)),
                                    _mm256_load_ps(panel.mins[w].as_ptr()),
                                )
                            };
                            let scale = _mm256_set1_ps(panel.d[w] * d_a);
                            let v = &mut totals.lanes[w][at + n];
                            *v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[w][n]), scale, *v);
                            *v = _mm256_fnmadd_ps(mins, s, *v);
                        }
                    }
                }
            }

            /// `R` weight rows from `r` (of `rows`, at `w`) against activation
            /// rows `a0..a0 + mm` (at most [`ACT_ROWS`]) into `out`.
            #[allow(clippy::too_many_arguments)]
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn panel<const R: usize>(
                t: QType,
                k: usize,
                w: &[u8],
                rows: usize,
                r: usize,
                x: &Acts<'_>,
                a0: usize,
                mm: usize,
                out: &mut [f32],
            ) {
                let row_bytes = t.row_bytes(k);
                let mut totals = Totals::<R> {
                    lanes: [[_mm256_setzero_ps(); ACT_ROWS]; R],
                };
                let mut panel = Panel::<R>::ZERO;
                // SAFETY (caller): rows `r..r + R` are in `w`.
                let p = unsafe { w.as_ptr().add(r * row_bytes) };
                for i in 0..k / 256 {
                    // SAFETY: as above.
                    unsafe { unpack(t, p, row_bytes, i, &mut panel) };
                    let mut n = 0;
                    // SAFETY (caller): the tile holds rows `a0..a0 + mm`.
                    unsafe {
                        while n + A <= mm {
                            step::<R, A>(t, &panel, x, i, a0, n, &mut totals);
                            n += A;
                        }
                        if n + 2 <= mm {
                            step::<R, 2>(t, &panel, x, i, a0, n, &mut totals);
                            n += 2;
                        }
                        if n < mm {
                            step::<R, 1>(t, &panel, x, i, a0, n, &mut totals);
                        }
                    }
                }
                for wr in 0..R {
                    for n in 0..mm {
                        out[(a0 + n) * rows + r + wr] = hsum(totals.lanes[wr][n]);
                    }
                }
            }

            /// `out[i · rows + r] = W[r] · acts[i]` for `rows` weight rows of
            /// `t` (Q5_K or Q6_K) and `m` activation rows, `sums` being the
            /// activation blocks' scaled sums (Q5_K; contiguous) and `sums16`
            /// their two sums of 16 values each (Q6_K).
            ///
            /// # Safety
            /// The lengths were checked (`check_operands`) and the CPU has
            /// `$features`.
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(crate) unsafe fn rows(
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
                let x = Acts {
                    acts,
                    sums,
                    sums16,
                    per_row: k / 32,
                };
                let mut a0 = 0;
                while a0 < m {
                    let mm = ACT_ROWS.min(m - a0);
                    let mut r = 0;
                    // SAFETY (caller): the lengths and the CPU features.
                    unsafe {
                        while r + W <= rows {
                            panel::<W>(t, k, w, rows, r, &x, a0, mm, out);
                            r += W;
                        }
                        while r < rows {
                            panel::<1>(t, k, w, rows, r, &x, a0, mm, out);
                            r += 1;
                        }
                    }
                    a0 += mm;
                }
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
