//! x86-64 kernels for the 32-value formats: one block is one 256-bit vector.
//!
//! Weights are unpacked to 32 bytes (nibbles split with a shift and a mask, the
//! fifth bit of Q5 spread from its `u32` with a byte shuffle), made signed
//! where the format has an offset (`q - 8`, `q - 16`; IQ4_NL's nibbles become
//! their table values with one byte shuffle), and multiplied with the 32
//! activation bytes into eight `i32` sums: with AVX2 through `vpmaddubsw` +
//! `vpmaddwd` (the sign trick: `|w| · (a · sign w)`, since the first operand
//! must be unsigned), with AVX-512 VNNI through one `vpdpbusd`. The sums are
//! scaled by `d_w · d_a` with one FMA per block; Q4_1/Q5_1 add `m · s`.
//!
//! The two instruction sets share the code below through a macro that only
//! swaps the byte product.

use crate::isa::check_operands;
use crate::x86::*;
use crate::{ActBlock, QType, RowsDot, TileDot};

/// The 32 bits of a Q5 block's `qh` at `p` as 32 bytes of `0x10` or `0`.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn fifth_bits(p: *const u8) -> __m256i {
    // SAFETY (caller): `p` points at 4 readable bytes.
    let qh = unsafe { p.cast::<u32>().read_unaligned() };
    // Byte j takes byte j / 8 of qh, then keeps bit j % 8.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(qh as i32),
        _mm256_set_epi64x(
            0x0303_0303_0303_0303,
            0x0202_0202_0202_0202,
            0x0101_0101_0101_0101,
            0,
        ),
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// Generates the five row kernels for one instruction set; `$features` are
/// the target features, `$dot_i8` / `$dot_u8` the byte products.
macro_rules! kernels {
    ($module:ident, $features:literal, $dot_i8:ident, $dot_u8:ident) => {
        pub(crate) mod $module {
            use super::*;

            /// One weight row (`nb` blocks of `bytes` bytes at `w`) against
            /// `N` activation rows of `nb` blocks (pointers, so no bounds are
            /// checked per block): each block is unpacked once (`unpack`
            /// gives its quants, `d` and `m`) and meets all `N`. Per activation
            /// row the operations are the same whatever `N`, so results do not
            /// depend on how rows are grouped.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const N: usize>(
                w: *const u8,
                nb: usize,
                acts: [*const ActBlock; N],
                bytes: usize,
                signed: bool,
                unpack: impl Fn(*const u8) -> (__m256i, f32, f32),
            ) -> [f32; N] {
                let mut acc = [_mm256_setzero_ps(); N];
                let mut offsets = [0.0f32; N];
                for i in 0..nb {
                    // SAFETY (caller): the row holds `nb` blocks.
                    let (q, d, m) = unpack(unsafe { w.add(i * bytes) });
                    for j in 0..N {
                        // SAFETY (caller): each activation row holds `nb` blocks.
                        let a = unsafe { &*acts[j].add(i) };
                        // SAFETY: an ActBlock's `qs` are 32 bytes.
                        let av = unsafe { _mm256_loadu_si256(a.qs.as_ptr().cast()) };
                        let sums = if signed {
                            $dot_i8(q, av)
                        } else {
                            $dot_u8(q, av)
                        };
                        let scale = _mm256_set1_ps(d * a.d);
                        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[j]);
                        offsets[j] += m * a.s;
                    }
                }
                let mut out = [0.0f32; N];
                for j in 0..N {
                    out[j] = hsum(acc[j]) + offsets[j];
                }
                out
            }

            /// [`tile`] with the unpacking of type `t`.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile_of<const N: usize>(
                t: QType,
                p: *const u8,
                nb: usize,
                acts: [*const ActBlock; N],
            ) -> [f32; N] {
                // SAFETY (caller, all blocks below): `b` points at a whole
                // block of `t` inside the row.
                unsafe {
                    match t {
                        QType::Q4_0 => tile(p, nb, acts, 18, true, |b| {
                            let q = _mm256_sub_epi8(nibbles(b.add(2)), _mm256_set1_epi8(8));
                            (q, f16(b), 0.0)
                        }),
                        QType::Q4_1 => tile(p, nb, acts, 20, false, |b| {
                            (nibbles(b.add(4)), f16(b), f16(b.add(2)))
                        }),
                        QType::Q5_0 => tile(p, nb, acts, 22, true, |b| {
                            let q = _mm256_or_si256(nibbles(b.add(6)), fifth_bits(b.add(2)));
                            (_mm256_sub_epi8(q, _mm256_set1_epi8(16)), f16(b), 0.0)
                        }),
                        QType::Q5_1 => tile(p, nb, acts, 24, false, |b| {
                            let q = _mm256_or_si256(nibbles(b.add(8)), fifth_bits(b.add(4)));
                            (q, f16(b), f16(b.add(2)))
                        }),
                        QType::Q8_0 => tile(p, nb, acts, 34, true, |b| {
                            (_mm256_loadu_si256(b.add(2).cast()), f16(b), 0.0)
                        }),
                        QType::IQ4NL => tile(p, nb, acts, 18, true, |b| {
                            (iq4_values(b.add(2)), f16(b), 0.0)
                        }),
                        _ => [0.0; N],
                    }
                }
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
                let nb = k / 32;
                let row_bytes = t.row_bytes(k);
                // SAFETY: the wrapper checked `acts` holds `m` rows of `nb` blocks.
                let act = |i: usize| unsafe { acts.as_ptr().add(i * nb) };
                for r in 0..rows {
                    // SAFETY: the wrapper checked `w` holds `rows` rows.
                    let p = unsafe { w.as_ptr().add(r * row_bytes) };
                    let mut i = 0;
                    while i + 4 <= m {
                        // SAFETY: `p` is a whole row of `t`.
                        let y = unsafe {
                            tile_of(t, p, nb, [act(i), act(i + 1), act(i + 2), act(i + 3)])
                        };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 4;
                    }
                    if i + 2 <= m {
                        // SAFETY: as above.
                        let y = unsafe { tile_of(t, p, nb, [act(i), act(i + 1)]) };
                        for (j, y) in y.into_iter().enumerate() {
                            out[(i + j) * rows + r] = y;
                        }
                        i += 2;
                    }
                    while i < m {
                        // SAFETY: as above.
                        let [y] = unsafe { tile_of(t, p, nb, [act(i)]) };
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
                // SAFETY: the lengths were checked above; `rows_dot_fn` hands
                // this kernel out only when `Isa::available()` says the CPU
                // has `$features`.
                unsafe { rows(t, k, w, rows_n, acts, m, out) }
            }

            pub(crate) fn rows_dot(t: QType) -> Option<RowsDot> {
                Some(match t {
                    QType::Q4_0 => |k, w, a, out| checked(QType::Q4_0, k, w, out.len(), a, 1, out),
                    QType::Q4_1 => |k, w, a, out| checked(QType::Q4_1, k, w, out.len(), a, 1, out),
                    QType::Q5_0 => |k, w, a, out| checked(QType::Q5_0, k, w, out.len(), a, 1, out),
                    QType::Q5_1 => |k, w, a, out| checked(QType::Q5_1, k, w, out.len(), a, 1, out),
                    QType::Q8_0 => |k, w, a, out| checked(QType::Q8_0, k, w, out.len(), a, 1, out),
                    QType::IQ4NL => {
                        |k, w, a, out| checked(QType::IQ4NL, k, w, out.len(), a, 1, out)
                    }
                    _ => return None,
                })
            }

            pub(crate) fn tile_dot(t: QType) -> Option<TileDot> {
                Some(match t {
                    QType::Q4_0 => |k, w, r, a, m, out| checked(QType::Q4_0, k, w, r, a, m, out),
                    QType::Q4_1 => |k, w, r, a, m, out| checked(QType::Q4_1, k, w, r, a, m, out),
                    QType::Q5_0 => |k, w, r, a, m, out| checked(QType::Q5_0, k, w, r, a, m, out),
                    QType::Q5_1 => |k, w, r, a, m, out| checked(QType::Q5_1, k, w, r, a, m, out),
                    QType::Q8_0 => |k, w, r, a, m, out| checked(QType::Q8_0, k, w, r, a, m, out),
                    QType::IQ4NL => |k, w, r, a, m, out| checked(QType::IQ4NL, k, w, r, a, m, out),
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
