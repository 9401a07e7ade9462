//! x86-64 building blocks shared by the kernel families: byte products into
//! `i32` sums (AVX2 `vpmaddubsw` + `vpmaddwd`, or one AVX-512 VNNI
//! `vpdpbusd`), f16 scales through F16C, and horizontal sums.

pub(crate) use std::arch::x86_64::*;

/// `|w| · sign(a, w)` as eight `i32` sums (AVX2).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn dot_i8_avx2(w: __m256i, a: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))
}

/// The same with one VNNI instruction.
#[inline]
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
pub(crate) fn dot_i8_vnni(w: __m256i, a: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(
        _mm256_setzero_si256(),
        _mm256_sign_epi8(w, w),
        _mm256_sign_epi8(a, w),
    )
}

/// Unsigned weights (0..=31) times signed activations: no sign trick needed.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn dot_u8_avx2(w: __m256i, a: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1))
}

#[inline]
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
pub(crate) fn dot_u8_vnni(w: __m256i, a: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a)
}

/// An f16 at `p` as f32.
#[inline]
#[target_feature(enable = "f16c")]
pub(crate) unsafe fn f16(p: *const u8) -> f32 {
    // SAFETY (caller): `p` points at two readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// Sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}
