//! Weights stored as 16-bit floats (GGUF `F16` and `BF16`), read in place from
//! the mapped file: two bytes a weight, where widening them to f32 (as candle
//! does) would hold twice the memory and make a generated token read twice
//! the bytes.
//!
//! As in llama.cpp, the activations meet them rounded to the weight's own
//! type (ggml's `vec_dot_type` for F16 is F16, for BF16 BF16, both rounded to
//! nearest-even) and the products are summed in f32. A generated token's few
//! rows take a dot product per weight row (x86: F16C's `vcvtph2ps`, or BF16
//! widened by a shift, then FMA; elsewhere portable code); a prompt's many
//! rows the f32 GEMM over decoded panels ([`crate::dense`]).

use crate::{Isa, QType};
use std::cell::RefCell;

thread_local! {
    /// The activations rounded to the weight's type (as f32).
    static ROUNDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `x` rounded to `t` (F16 or BF16, to nearest-even) and widened back to
/// f32, into `out`.
pub(crate) fn round_acts(t: QType, x: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(x.len(), 0.0);
    match t {
        QType::BF16 => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = half::bf16::from_f32(v).to_f32();
            }
        }
        _ => {
            #[cfg(target_arch = "x86_64")]
            if Isa::Avx2.available() {
                // SAFETY: the CPU has F16C (checked just above with AVX2).
                unsafe { x86::round_f16(x, out) };
                return;
            }
            for (o, &v) in out.iter_mut().zip(x) {
                *o = half::f16::from_f32(v).to_f32();
            }
        }
    }
}

/// Weight `i` of a row of F16 or BF16 values.
#[inline(always)]
pub(crate) fn widen(t: QType, w: &[u8], i: usize) -> f32 {
    let bits = u16::from_le_bytes([w[2 * i], w[2 * i + 1]]);
    match t {
        QType::BF16 => half::bf16::from_bits(bits).to_f32(),
        _ => half::f16::from_bits(bits).to_f32(),
    }
}

/// A row of F16 or BF16 values widened into `out`.
pub(crate) fn widen_row(t: QType, w: &[u8], out: &mut [f32]) {
    match t {
        QType::BF16 => {
            for (o, b) in out.iter_mut().zip(w.chunks_exact(2)) {
                *o = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
            }
        }
        _ => {
            #[cfg(target_arch = "x86_64")]
            if Isa::Avx2.available() {
                // SAFETY: the CPU has F16C (checked just above with AVX2).
                unsafe { x86::widen_f16(w, out) };
                return;
            }
            for (i, o) in out.iter_mut().enumerate() {
                *o = widen(t, w, i);
            }
        }
    }
}

/// `Σ w[i] · x[i]` for one row `w` of `x.len()` F16 or BF16 values, with the
/// kernels of `isa`.
fn dot(isa: Isa, t: QType, w: &[u8], x: &[f32]) -> f32 {
    match isa {
        // SAFETY: both x86 levels include AVX2, FMA and F16C (see
        // `Isa::available`), and the caller picked an available one.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => unsafe { x86::dot(t, w, x) },
        _ => dot_portable(t, w, x),
    }
}

/// [`dot`] in plain Rust: eight running sums, lanes the compiler can vectorise.
fn dot_portable(t: QType, w: &[u8], x: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let whole = x.len() / 8 * 8;
    for (j, xs) in x[..whole].chunks_exact(8).enumerate() {
        for (l, (s, &xv)) in sums.iter_mut().zip(xs).enumerate() {
            *s += widen(t, w, j * 8 + l) * xv;
        }
    }
    let mut total: f32 = sums.iter().sum();
    for (i, &xv) in x.iter().enumerate().skip(whole) {
        total += widen(t, w, i) * xv;
    }
    total
}

/// `y = x · Wᵀ` for `W` of `n` rows of `k` F16 or BF16 values (`2k` bytes a
/// row, checked by the caller), `x` of `m` rows, with the activations rounded
/// to `t`; `dense` says whether the rows are many enough for the GEMM.
pub(crate) fn matmul_float(
    t: QType,
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
    dense: bool,
) {
    ROUNDED.with_borrow_mut(|xs| {
        round_acts(t, x, xs);
        if dense {
            crate::dense::matmul_dense(t, &w[..n * 2 * k], n, k, xs, y);
            return;
        }
        let isa = Isa::active();
        let m = xs.len() / k;
        // Rows `r0..r0 + rows` of `W` for every activation row, into `out`
        // (`m × rows`).
        let run = |r0: usize, rows: usize, out: &mut [f32]| {
            for r in 0..rows {
                let wr = &w[(r0 + r) * 2 * k..][..2 * k];
                for (i, xi) in xs.chunks_exact(k).enumerate() {
                    out[i * rows + r] = dot(isa, t, wr, xi);
                }
            }
        };
        crate::matmul::by_parts(n, k, m, y, &run);
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::QType;

    /// Eight weights from `w` at value `i`, widened to f32.
    #[inline(always)]
    unsafe fn load8(t: QType, w: &[u8], i: usize) -> __m256 {
        // SAFETY: the caller keeps `i + 8` within the row (`2i + 16` bytes),
        // and the CPU has AVX2 and F16C (the callers' target features).
        unsafe {
            let p = w.as_ptr().add(2 * i).cast::<__m128i>();
            let h = _mm_loadu_si128(p);
            match t {
                QType::BF16 => {
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
                }
                _ => _mm256_cvtph_ps(h),
            }
        }
    }

    /// `Σ w[i] · x[i]`: four accumulators of eight lanes, then the tail.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot(t: QType, w: &[u8], x: &[f32]) -> f32 {
        let k = x.len();
        assert!(w.len() >= 2 * k);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load below reads values `i..i + 8` with `i + 8 <= k`,
        // inside both `x` and `w` (asserted above).
        unsafe {
            while i + 32 <= k {
                for (a, acc) in acc.iter_mut().enumerate() {
                    let j = i + 8 * a;
                    *acc =
                        _mm256_fmadd_ps(load8(t, w, j), _mm256_loadu_ps(x.as_ptr().add(j)), *acc);
                }
                i += 32;
            }
            while i + 8 <= k {
                acc[0] =
                    _mm256_fmadd_ps(load8(t, w, i), _mm256_loadu_ps(x.as_ptr().add(i)), acc[0]);
                i += 8;
            }
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds eight f32.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
        let mut total: f32 = lanes.iter().sum();
        for (j, &xv) in x.iter().enumerate().skip(i) {
            total += super::widen(t, w, j) * xv;
        }
        total
    }

    /// `x` rounded to f16 (nearest-even, as ggml's `GGML_FP32_TO_FP16`) and
    /// widened back, eight at a time.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn round_f16(x: &[f32], out: &mut [f32]) {
        let k = x.len().min(out.len());
        let mut i = 0;
        // SAFETY: values `i..i + 8` with `i + 8 <= k`, inside `x` and `out`.
        unsafe {
            while i + 8 <= k {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(
                    x.as_ptr().add(i),
                ));
                _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
                i += 8;
            }
        }
        for j in i..k {
            out[j] = half::f16::from_f32(x[j]).to_f32();
        }
    }

    /// F16 values widened to f32, eight at a time.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn widen_f16(w: &[u8], out: &mut [f32]) {
        let k = out.len();
        assert!(w.len() >= 2 * k);
        let mut i = 0;
        // SAFETY: values `i..i + 8` with `i + 8 <= k`, inside `w` and `out`.
        unsafe {
            while i + 8 <= k {
                let h = _mm_loadu_si128(w.as_ptr().add(2 * i).cast::<__m128i>());
                _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
                i += 8;
            }
        }
        for (j, o) in out.iter_mut().enumerate().skip(i) {
            *o = super::widen(QType::F16, w, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(t: QType, values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| match t {
                QType::BF16 => half::bf16::from_f32(v).to_le_bytes(),
                _ => half::f16::from_f32(v).to_le_bytes(),
            })
            .collect()
    }

    /// Every ISA's dot product against the f64 sum of the same (rounded)
    /// operands, over lengths with and without a tail.
    #[test]
    fn dots_match_the_sum_of_the_rounded_operands() {
        let mut state = 7u32;
        let mut rnd = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        for t in [QType::F16, QType::BF16] {
            for k in [1, 7, 8, 31, 32, 33, 100, 1024] {
                let wv: Vec<f32> = (0..k).map(|_| rnd()).collect();
                let w = weights(t, &wv);
                let x: Vec<f32> = (0..k).map(|_| rnd() * 4.0).collect();
                let want: f64 = (0..k)
                    .map(|i| f64::from(widen(t, &w, i)) * f64::from(x[i]))
                    .sum();
                for isa in Isa::all_available() {
                    let got = dot(isa, t, &w, &x);
                    assert!(
                        (f64::from(got) - want).abs() < 1e-4 * (k as f64).sqrt(),
                        "{t:?} {isa:?} k {k}: {got} vs {want}"
                    );
                }
                let mut wide = vec![f32::NAN; k];
                widen_row(t, &w, &mut wide);
                for (i, &v) in wide.iter().enumerate() {
                    assert_eq!(v, widen(t, &w, i), "{t:?} k {k} [{i}]");
                }
            }
        }
    }

    #[test]
    fn activations_are_rounded_to_the_weights_type() {
        let x = [1.0 + 1.0 / 4096.0, 1.0 + 1.0 / 512.0, 1.0e-8];
        let mut out = Vec::new();
        round_acts(QType::F16, &x, &mut out);
        // f16 keeps 10 fraction bits: 1 + 2⁻¹² rounds to 1, 1 + 2⁻⁹ stays;
        // 1e-8 is below its smallest value.
        assert_eq!(out, [1.0, 1.0 + 1.0 / 512.0, 0.0]);
        round_acts(QType::BF16, &x, &mut out);
        // bf16 keeps 7: both round to 1; its range keeps 1e-8.
        assert_eq!(out[..2], [1.0, 1.0]);
        assert!(out[2] > 0.0);
        // The vector path (eight at a time) rounds as the scalar one.
        let x: Vec<f32> = (0..37).map(|i| 1.0 + i as f32 / 3000.0).collect();
        round_acts(QType::F16, &x, &mut out);
        let want: Vec<f32> = x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(out, want);
    }
}
