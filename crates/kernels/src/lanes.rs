//! Prompt products on x86: a prompt's rows against panels of 16 weight rows
//! laid out so that each 32-bit lane of a vector belongs to one weight row.
//!
//! The row and tile kernels put one block's 32 values across a vector, so
//! every weight row and activation row ends in a horizontal sum, and the
//! signed formats pay a sign trick per product. Here 16 weight rows are
//! unpacked once into a panel: each 32-value block (a K-quant's sub-block) as
//! unsigned bytes, its scale and min as floats, one lane per row (a K-quant's
//! `d · scale`, `-dmin · min`), and the bytes interleaved four at a time, so
//! vector `g` of block `b` holds values `4g..4g + 4` of that block for each of
//! the 16 rows. With AVX-512 VNNI one `vpdpbusd` against four activation
//! bytes broadcast to every lane then adds 64 products to the 16 rows' sums
//! at once, with no shuffle and no horizontal sum, and each loaded weight
//! vector meets [`A`] activation rows. With AVX2 alone, `vpmaddubsw` +
//! `vpmaddwd` do the same for 8 rows per vector (module [`avx2`]; the 8-bit
//! values with the sign trick, see [`signed_on_avx2`]).
//!
//! The formats' signed values are stored with an offset that makes them
//! unsigned (`q + 128` for `Q8_0`, `IQ4_NL` and `IQ4_XS`; `Q4_0`, `Q5_0` and
//! `Q6_K` keep their stored `q`, whose offset is 8, 16 or 32), and each
//! block's integer sum starts at `-offset · Σ a` (the activations' sums taken
//! once per product). A block's sums become floats with the rows' scales as
//! one vector (`Q6_K`: each half of 16 values with its own scale), and the
//! formats with a min add `min · d_a · Σ a`.
//!
//! The results are the exact products of the quantised operands up to f32
//! rounding (as the f32 GEMM's of `dense.rs` are), not the row kernels' bit
//! for bit: a K-quant's sub-blocks are scaled in floats here, in integers
//! there.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dense::Out;
use crate::kquants::x86::scales_mins_k4;
use crate::legacy::x86::fifth_bits;
use crate::pool::Pool;
use crate::reference::iq4xs_scale;
use crate::x86::*;
use crate::{ActBlock, Isa, QType};

/// Weight rows per panel: the 16 `i32` lanes of a 512-bit vector.
const ROWS: usize = 16;
/// Activation rows that meet each loaded weight vector (then 4, then 1 at
/// the end of a prompt): 8 independent chains of `vpdpbusd` per block.
const A: usize = 8;

/// How a format's unpacked values relate to its stored ones.
#[derive(Clone, Copy)]
struct Form {
    /// What the unsigned bytes exceed the signed values by.
    offset: i32,
    /// Whether blocks have a min (`w = d · q + min`).
    min: bool,
    /// Whether each half of a block has its own scale (`Q6_K`).
    halves: bool,
    /// The unsigned values' width in bits.
    bits: u32,
}

fn form(t: QType) -> Form {
    let (offset, min, halves, bits) = match t {
        QType::Q8_0 | QType::IQ4NL | QType::IQ4XS => (128, false, false, 8),
        QType::Q4_0 => (8, false, false, 4),
        QType::Q5_0 => (16, false, false, 5),
        QType::Q6K => (32, false, true, 6),
        QType::Q4_1 | QType::Q4K => (0, true, false, 4),
        _ => (0, true, false, 5),
    };
    Form {
        offset,
        min,
        halves,
        bits,
    }
}

/// Whether a prompt's product with `t` goes through these panels on this CPU
/// (from [`crate::matmul`]'s `DENSE_MIN_ROWS` activation rows on): every
/// quantised type on x86 with AVX2 or better.
pub(crate) fn takes(t: QType) -> bool {
    !t.is_float() && matches!(Isa::active(), Isa::Avx512 | Isa::Avx2)
}

/// Whether the AVX2 kernel takes `t`'s values signed, with the sign trick:
/// `vpmaddubsw` adds its pairs of products in `i16`, which unsigned values
/// of up to 6 bits keep clear of (`2 · 63 · 128 < 2¹⁵`) but 8-bit ones would
/// overflow; as `|w| · (a · sign w)` (`|w| <= 128`) they stay within it.
fn signed_on_avx2(form: Form) -> bool {
    form.bits > 6
}

/// What each activation block adds besides its byte products.
#[derive(Clone, Copy, Default)]
struct Fix {
    /// `-offset · Σ qs` over the block (over its first 16 values, for
    /// [`Form::halves`]): where the block's integer sum starts.
    start: i32,
    /// The same over the last 16 values, for [`Form::halves`].
    start_hi: i32,
    /// `d · Σ qs`, what a min meets.
    ds: f32,
}

/// [`ROWS`] weight rows unpacked.
#[derive(Default)]
struct Panel {
    /// `[block · 8 + g][row]`: values `4g..4g + 4` of the 32-value block in
    /// that row, unsigned, as one `u32`.
    quants: Vec<[u32; ROWS]>,
    /// `[block][row]`: the block's scale (of its first half, for
    /// [`Form::halves`]); 0 for rows past the weight's end.
    d: Vec<[f32; ROWS]>,
    /// `[block][row]`: the scale of the block's second half (`Q6_K`).
    d_hi: Vec<[f32; ROWS]>,
    /// `[block][row]`: the block's min.
    m: Vec<[f32; ROWS]>,
}

impl Panel {
    /// Panics unless every part of the panel holds `nb` blocks: the steps
    /// read all four through raw pointers.
    fn assert_blocks(&self, nb: usize) {
        assert!(
            self.quants.len() >= 8 * nb
                && self.d.len() >= nb
                && self.d_hi.len() >= nb
                && self.m.len() >= nb
        );
    }

    /// Block `b` of row `r`: its unsigned values, scales and min.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn put(&mut self, r: usize, b: usize, q: __m256i, d: f32, d_hi: f32, m: f32) {
        let mut groups = [0u32; 8];
        // SAFETY: 32 bytes into 8 `u32`s.
        unsafe { _mm256_storeu_si256(groups.as_mut_ptr().cast(), q) };
        for (g, &v) in groups.iter().enumerate() {
            self.quants[b * 8 + g][r] = v;
        }
        self.d[b][r] = d;
        self.d_hi[b][r] = d_hi;
        self.m[b][r] = m;
    }
}

thread_local! {
    static PANEL: RefCell<Panel> = RefCell::new(Panel::default());
    static FIX: RefCell<Vec<Fix>> = const { RefCell::new(Vec::new()) };
}

/// `y = x · Wᵀ` for `W` of `n` rows of `k` values of type `t` (checked by the
/// caller: `w` holds the rows, `k` is whole blocks) and `m = y.len() / n`
/// activation rows quantised as [`crate::quantize_acts_for`] quantises them
/// for `t`, into `y` (`m × n`). Runs over the pool, each thread taking panels
/// as it finishes one.
///
/// # Panics
/// When [`takes`] refuses `t` or the operands do not fit.
pub(crate) fn matmul(t: QType, w: &[u8], n: usize, k: usize, acts: &[ActBlock], y: &mut [f32]) {
    assert!(takes(t), "{} has no panels on this CPU", t.name());
    let wide = Isa::active() == Isa::Avx512;
    assert!(!t.is_float() && k.is_multiple_of(t.block_elems()));
    if n == 0 {
        return;
    }
    let nb = k / 32;
    let m = y.len() / n;
    let row_bytes = t.row_bytes(k);
    assert!(w.len() >= n * row_bytes && acts.len() >= m * nb && y.len() == m * n);
    let form = form(t);
    // The signed values on AVX2 need no offset taken off.
    let offset = if !wide && signed_on_avx2(form) {
        0
    } else {
        form.offset
    };
    FIX.with_borrow_mut(|fix| {
        fix.clear();
        fix.extend(acts[..m * nb].iter().map(|a| {
            let sum = |q: &[i8]| q.iter().map(|&q| i32::from(q)).sum::<i32>();
            let (lo, hi) = (sum(&a.qs[..16]), sum(&a.qs[16..]));
            let start = if form.halves { lo } else { lo + hi };
            Fix {
                start: -offset * start,
                start_hi: -offset * hi,
                ds: a.d * (lo + hi) as f32,
            }
        }));
        let fix: &[Fix] = fix;
        let panels = n.div_ceil(ROWS);
        let next = AtomicUsize::new(0);
        let out = Out(y.as_mut_ptr());
        let task = |_part: usize| {
            PANEL.with_borrow_mut(|panel| {
                loop {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    if p >= panels {
                        break;
                    }
                    let r0 = p * ROWS;
                    let rows = ROWS.min(n - r0);
                    // SAFETY: `takes` checked the CPU's features; `w` holds `n`
                    // rows and `acts`/`fix` `m` rows of `nb` blocks
                    // (asserted); the panel writes columns `r0..r0 + rows`
                    // of the `m × n` output, which no other part writes, and
                    // `y` outlives the pool's job.
                    unsafe {
                        unpack(t, &w[r0 * row_bytes..], row_bytes, rows, nb, panel);
                        if wide {
                            times_acts(form, panel, nb, acts, fix, m, out.at(r0), n, rows);
                        } else {
                            avx2::times_acts(form, panel, nb, acts, fix, m, out.at(r0), n, rows);
                        }
                    }
                }
            })
        };
        Pool::global().run(&task);
    });
}

/// `rows` (at most [`ROWS`]) weight rows of `nb` 32-value blocks of `t` at
/// `w`, `row_bytes` apart, into `panel`; the lanes of missing rows are zero.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack(t: QType, w: &[u8], row_bytes: usize, rows: usize, nb: usize, panel: &mut Panel) {
    // A whole panel overwrites every lane; a short one zeroes the lanes of
    // the missing rows first.
    if rows < ROWS || panel.d.len() != nb {
        for v in [&mut panel.d, &mut panel.d_hi, &mut panel.m] {
            v.clear();
            v.resize(nb, [0.0; ROWS]);
        }
        panel.quants.clear();
        panel.quants.resize(nb * 8, [0; ROWS]);
    }
    let bytes = t.block_bytes();
    let per_block = t.block_elems() / 32;
    for r in 0..rows {
        let row = &w[r * row_bytes..][..row_bytes];
        for (i, block) in row.chunks_exact(bytes).enumerate() {
            // SAFETY: a whole block of `t` (caller: the CPU's features).
            unsafe { unpack_block(t, block, r, i * per_block, panel) };
        }
    }
}

/// One block of `t` as row `r` of `panel`'s 32-value blocks from `b0` on (one
/// for the 32-value formats, eight for the K-quants).
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn unpack_block(t: QType, block: &[u8], r: usize, b0: usize, panel: &mut Panel) {
    assert!(block.len() >= t.block_bytes());
    let b = block.as_ptr();
    let flip = _mm256_set1_epi8(-128);
    let mask = _mm256_set1_epi8(0x0F);
    // SAFETY (every read below): `b` is a whole block of `t`, asserted above.
    unsafe {
        match t {
            QType::Q4_0 => panel.put(r, b0, nibbles(b.add(2)), f16(b), 0.0, 0.0),
            QType::Q4_1 => panel.put(r, b0, nibbles(b.add(4)), f16(b), 0.0, f16(b.add(2))),
            QType::Q5_0 => {
                let q = _mm256_or_si256(nibbles(b.add(6)), fifth_bits(b.add(2)));
                panel.put(r, b0, q, f16(b), 0.0, 0.0);
            }
            QType::Q5_1 => {
                let q = _mm256_or_si256(nibbles(b.add(8)), fifth_bits(b.add(4)));
                panel.put(r, b0, q, f16(b), 0.0, f16(b.add(2)));
            }
            QType::Q8_0 => {
                let q = _mm256_xor_si256(_mm256_loadu_si256(b.add(2).cast()), flip);
                panel.put(r, b0, q, f16(b), 0.0, 0.0);
            }
            QType::IQ4NL => {
                let q = _mm256_xor_si256(iq4_values(b.add(2)), flip);
                panel.put(r, b0, q, f16(b), 0.0, 0.0);
            }
            QType::IQ4XS => {
                let d = f16(b);
                for j in 0..8 {
                    let q = _mm256_xor_si256(iq4_values(b.add(8 + 16 * j)), flip);
                    let scale = d * f32::from(iq4xs_scale(block, j));
                    panel.put(r, b0 + j, q, scale, 0.0, 0.0);
                }
            }
            QType::Q4K | QType::Q5K => {
                let (d, dmin) = (f16(b), f16(b.add(2)));
                let (scales, mins) = scales_mins_k4(b.add(4));
                let (scales, mins) = (scales.to_le_bytes(), mins.to_le_bytes());
                let q5 = t == QType::Q5K;
                let (qs, high) = if q5 {
                    (b.add(48), _mm256_loadu_si256(b.add(16).cast()))
                } else {
                    (b.add(16), _mm256_setzero_si256())
                };
                for c in 0..4 {
                    let q = _mm256_loadu_si256(qs.add(32 * c).cast());
                    let halves = [
                        _mm256_and_si256(q, mask),
                        _mm256_and_si256(_mm256_srli_epi16(q, 4), mask),
                    ];
                    for (h, mut q) in halves.into_iter().enumerate() {
                        let j = 2 * c + h;
                        if q5 {
                            let bit = _mm256_set1_epi8((1u8 << j) as i8);
                            let set = _mm256_cmpeq_epi8(_mm256_and_si256(high, bit), bit);
                            q = _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
                        }
                        let scale = d * f32::from(scales[j]);
                        let min = -dmin * f32::from(mins[j]);
                        panel.put(r, b0 + j, q, scale, 0.0, min);
                    }
                }
            }
            QType::Q6K => {
                let d = f16(b.add(208));
                let three = _mm256_set1_epi8(3);
                for n in 0..2 {
                    let ql0 = _mm256_loadu_si256(b.add(n * 64).cast());
                    let ql1 = _mm256_loadu_si256(b.add(n * 64 + 32).cast());
                    let qh = _mm256_loadu_si256(b.add(128 + n * 32).cast());
                    let lows = [
                        _mm256_and_si256(ql0, mask),
                        _mm256_and_si256(ql1, mask),
                        _mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask),
                        _mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask),
                    ];
                    for (s, low) in lows.into_iter().enumerate() {
                        let high = _mm256_and_si256(
                            _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s as i32)),
                            three,
                        );
                        let q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                        let sc = |i: usize| d * f32::from(block[192 + n * 8 + i] as i8);
                        panel.put(r, b0 + n * 4 + s, q, sc(2 * s), sc(2 * s + 1), 0.0);
                    }
                }
            }
            QType::F16 | QType::BF16 => unreachable!("floats are not unpacked to panels"),
        }
    }
}

/// The panel against every activation row: [`A`] rows at a time, then 4,
/// then the rest one by one.
///
/// # Safety
/// `acts` and `fix` hold `m` rows of `nb` blocks and the panel `nb` blocks;
/// `out` is the first of the panel's `rows` columns in an `m × n` output; the
/// CPU has AVX-512 F and VNNI.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn times_acts(
    form: Form,
    panel: &Panel,
    nb: usize,
    acts: &[ActBlock],
    fix: &[Fix],
    m: usize,
    out: *mut f32,
    n: usize,
    rows: usize,
) {
    let mask: __mmask16 = if rows >= ROWS {
        u16::MAX
    } else {
        (1u16 << rows) - 1
    };
    let mut i = 0;
    while i < m {
        let take = [A, 4, 1].into_iter().find(|&a| i + a <= m).unwrap_or(1);
        let acts = &acts[i * nb..(i + take) * nb];
        let fix = &fix[i * nb..(i + take) * nb];
        // SAFETY (caller): rows `i..i + take` of the output exist.
        unsafe {
            let out = out.add(i * n);
            match take {
                A => step_form::<A>(form, panel, nb, acts, fix, out, n, mask),
                4 => step_form::<4>(form, panel, nb, acts, fix, out, n, mask),
                _ => step_form::<1>(form, panel, nb, acts, fix, out, n, mask),
            }
        }
        i += take;
    }
}

/// [`step`] for `form`.
///
/// # Safety
/// As [`step`].
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn step_form<const N: usize>(
    form: Form,
    panel: &Panel,
    nb: usize,
    acts: &[ActBlock],
    fix: &[Fix],
    out: *mut f32,
    n: usize,
    mask: __mmask16,
) {
    // SAFETY (caller): as `step`.
    unsafe {
        match (form.min, form.halves) {
            (true, _) => step::<N, true, false>(panel, nb, acts, fix, out, n, mask),
            (false, false) => step::<N, false, false>(panel, nb, acts, fix, out, n, mask),
            (false, true) => step::<N, false, true>(panel, nb, acts, fix, out, n, mask),
        }
    }
}

/// The panel against `N` activation rows (`acts` and `fix`: `N` rows of `nb`
/// blocks), into the panel's columns of `N` output rows `n` apart.
///
/// # Safety
/// As [`times_acts`].
#[inline]
#[target_feature(enable = "avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn step<const N: usize, const MIN: bool, const HALVES: bool>(
    panel: &Panel,
    nb: usize,
    acts: &[ActBlock],
    fix: &[Fix],
    out: *mut f32,
    n: usize,
    mask: __mmask16,
) {
    assert!(acts.len() >= N * nb && fix.len() >= N * nb);
    panel.assert_blocks(nb);
    let (acts, fix) = (acts.as_ptr(), fix.as_ptr());
    let quants = panel.quants.as_ptr();
    let mut total = [_mm512_setzero_ps(); N];
    for b in 0..nb {
        let mut sums = [_mm512_setzero_si512(); N];
        let mut sums_hi = [_mm512_setzero_si512(); N];
        // SAFETY (every read in this block): `b < nb` and `j < N`, inside
        // the lengths asserted above.
        unsafe {
            for j in 0..N {
                let f = &*fix.add(j * nb + b);
                sums[j] = _mm512_set1_epi32(f.start);
                sums_hi[j] = _mm512_set1_epi32(f.start_hi);
            }
            for g in 0..8 {
                let q = _mm512_loadu_si512(quants.add(b * 8 + g).cast());
                for j in 0..N {
                    let a = (*acts.add(j * nb + b)).qs.as_ptr().add(4 * g);
                    let a = _mm512_set1_epi32(a.cast::<i32>().read_unaligned());
                    if HALVES && g >= 4 {
                        sums_hi[j] = _mm512_dpbusd_epi32(sums_hi[j], q, a);
                    } else {
                        sums[j] = _mm512_dpbusd_epi32(sums[j], q, a);
                    }
                }
            }
            let d = _mm512_loadu_ps(panel.d.as_ptr().add(b).cast());
            for j in 0..N {
                let a = &*acts.add(j * nb + b);
                let d_a = _mm512_set1_ps(a.d);
                let scale = _mm512_mul_ps(d, d_a);
                total[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[j]), scale, total[j]);
                if HALVES {
                    let d_hi = _mm512_loadu_ps(panel.d_hi.as_ptr().add(b).cast());
                    let scale = _mm512_mul_ps(d_hi, d_a);
                    total[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums_hi[j]), scale, total[j]);
                }
                if MIN {
                    let mins = _mm512_loadu_ps(panel.m.as_ptr().add(b).cast());
                    let ds = _mm512_set1_ps((*fix.add(j * nb + b)).ds);
                    total[j] = _mm512_fmadd_ps(mins, ds, total[j]);
                }
            }
        }
    }
    for (j, total) in total.into_iter().enumerate() {
        // SAFETY (caller): the masked lanes are the panel's columns of row j.
        unsafe { _mm512_mask_storeu_ps(out.add(j * n), mask, total) };
    }
}

/// The same products on AVX2 without VNNI: `vpmaddubsw` then `vpmaddwd` by
/// ones for the byte products, 8 rows per 256-bit vector, so a panel is
/// swept as two halves of 8 rows (each loaded weight vector meeting 4
/// activation rows in the 16 registers AVX2 has).
mod avx2 {
    use super::*;

    /// Activation rows per step.
    const A: usize = 4;

    /// As [`super::times_acts`], on AVX2.
    ///
    /// # Safety
    /// As [`super::times_acts`], the CPU having AVX2 and FMA.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn times_acts(
        form: Form,
        panel: &Panel,
        nb: usize,
        acts: &[ActBlock],
        fix: &[Fix],
        m: usize,
        out: *mut f32,
        n: usize,
        rows: usize,
    ) {
        for half in 0..2 {
            let lanes = rows.saturating_sub(8 * half).min(8);
            if lanes == 0 {
                break;
            }
            let mut i = 0;
            while i < m {
                let take = if i + A <= m { A } else { 1 };
                let acts = &acts[i * nb..(i + take) * nb];
                let fix = &fix[i * nb..(i + take) * nb];
                // SAFETY (caller): rows `i..i + take` of the output exist.
                unsafe {
                    let out = out.add(i * n + 8 * half);
                    let args = (form, panel, half, nb, acts, fix, out, n, lanes);
                    match (take == A, form.min, signed_on_avx2(form)) {
                        (true, true, _) => step::<A, true, false>(args),
                        (true, false, false) => step::<A, false, false>(args),
                        (true, false, true) => step::<A, false, true>(args),
                        (false, true, _) => step::<1, true, false>(args),
                        (false, false, false) => step::<1, false, false>(args),
                        (false, false, true) => step::<1, false, true>(args),
                    }
                }
                i += take;
            }
        }
    }

    /// [`step`]'s operands: the panel's form, the panel, which half of its
    /// rows, blocks per row, `N` rows of activations and of their fixes, the
    /// output (the half's first column in row 0), the output's row length and
    /// the half's rows.
    type Args<'a> = (
        Form,
        &'a Panel,
        usize,
        usize,
        &'a [ActBlock],
        &'a [Fix],
        *mut f32,
        usize,
        usize,
    );

    /// Rows `8 · half..` of the panel against `N` activation rows, into the
    /// first `lanes` of those 8 columns of `N` output rows `n` apart. A
    /// `Q6_K` block's halves are summed one after the other, each from its
    /// own start and with its own scale. `SIGNED`: the 8-bit values, taken
    /// back to signed bytes and multiplied with the sign trick (see
    /// [`signed_on_avx2`]). (Adding two groups' pairs of products in `i16`
    /// before they widen, which 6-bit values allow, was measured 0–9% slower
    /// on a Zen 5.)
    ///
    /// # Safety
    /// As [`times_acts`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step<const N: usize, const MIN: bool, const SIGNED: bool>(args: Args<'_>) {
        let (form, panel, half, nb, acts, fix, out, n, lanes) = args;
        assert!(acts.len() >= N * nb && fix.len() >= N * nb && half < 2);
        panel.assert_blocks(nb);
        let (acts, fix) = (acts.as_ptr(), fix.as_ptr());
        let quants = panel.quants.as_ptr();
        let ones = _mm256_set1_epi16(1);
        // (groups, which start, which scale) of a block: all 8 groups at
        // once, or each half of 4 on its own.
        let parts: &[(std::ops::Range<usize>, bool)] = if form.halves {
            &[(0..4, false), (4..8, true)]
        } else {
            &[(0..8, false)]
        };
        let mut total = [_mm256_setzero_ps(); N];
        for b in 0..nb {
            for (groups, hi) in parts.iter().cloned() {
                let mut sums = [_mm256_setzero_si256(); N];
                // SAFETY (every read in this block): `b < nb`, `j < N` and
                // `half < 2`, inside the lengths asserted above.
                unsafe {
                    for (j, sum) in sums.iter_mut().enumerate() {
                        let f = &*fix.add(j * nb + b);
                        *sum = _mm256_set1_epi32(if hi { f.start_hi } else { f.start });
                    }
                    for g in groups {
                        let q = quants.add(b * 8 + g).cast::<u32>().add(8 * half);
                        let mut q = _mm256_loadu_si256(q.cast());
                        let signed = _mm256_xor_si256(q, _mm256_set1_epi8(-128));
                        if SIGNED {
                            q = _mm256_abs_epi8(signed);
                        }
                        for (j, sum) in sums.iter_mut().enumerate() {
                            let a = (*acts.add(j * nb + b)).qs.as_ptr().add(4 * g);
                            let mut a = _mm256_set1_epi32(a.cast::<i32>().read_unaligned());
                            if SIGNED {
                                a = _mm256_sign_epi8(a, signed);
                            }
                            let pairs = _mm256_maddubs_epi16(q, a);
                            *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(pairs, ones));
                        }
                    }
                    let scales = if hi { &panel.d_hi } else { &panel.d };
                    let d = _mm256_loadu_ps(scales.as_ptr().add(b).cast::<f32>().add(8 * half));
                    for (j, (total, sum)) in total.iter_mut().zip(sums).enumerate() {
                        let scale = _mm256_mul_ps(d, _mm256_set1_ps((*acts.add(j * nb + b)).d));
                        *total = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, *total);
                    }
                }
            }
            if MIN {
                // SAFETY: as above.
                unsafe {
                    let mins = _mm256_loadu_ps(panel.m.as_ptr().add(b).cast::<f32>().add(8 * half));
                    for (j, total) in total.iter_mut().enumerate() {
                        let ds = _mm256_set1_ps((*fix.add(j * nb + b)).ds);
                        *total = _mm256_fmadd_ps(mins, ds, *total);
                    }
                }
            }
        }
        for (j, total) in total.into_iter().enumerate() {
            let mut lanes8 = [0.0f32; 8];
            // SAFETY: 8 floats.
            unsafe { _mm256_storeu_ps(lanes8.as_mut_ptr(), total) };
            // SAFETY (caller): the first `lanes` columns of row j are the
            // panel's.
            unsafe { std::ptr::copy_nonoverlapping(lanes8.as_ptr(), out.add(j * n), lanes) };
        }
    }
}
