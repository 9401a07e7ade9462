//! x86-64 building blocks shared by the kernel families: byte products into
//! `i32` sums (AVX2 `vpmaddubsw` + `vpmaddwd`, or one AVX-512 VNNI
//! `vpdpbusd`; weighted per lane, `vpmaddwd` or VNNI `vpdpwssd`), f16 scales
//! through F16C, nibbles unpacked and looked up in the IQ4 table, and
//! horizontal sums.

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

/// `acc` plus the byte products of unsigned `w` and signed `a`, each pair
/// of `i16` sums weighted by the `i16` lane of `scales` over it (AVX2): the
/// K-quants' sub-block scales applied in integers, so a super-block whose
/// activations share one scale converts to float once.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn scaled_dot_avx2(acc: __m256i, w: __m256i, a: __m256i, scales: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), scales))
}

/// The same, the weighting and the sum in one VNNI `vpdpwssd`.
#[inline]
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
pub(crate) fn scaled_dot_vnni(acc: __m256i, w: __m256i, a: __m256i, scales: __m256i) -> __m256i {
    _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(w, a), scales)
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

/// 16 packed nibbles at `p` as 32 bytes: low nibbles first, then high.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY (caller): `p` points at 16 readable bytes.
    let q = unsafe { _mm_loadu_si128(p.cast()) };
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(q, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    _mm256_set_m128i(hi, lo)
}

/// 16 packed IQ4 indices at `p` as their 32 signed table values, in
/// [`nibbles`]' order: one byte shuffle (`vpshufb`) looks all 32 up, the
/// 16-entry table sitting in each 128-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn iq4_values(p: *const u8) -> __m256i {
    // SAFETY: the table is 16 readable bytes.
    let table = unsafe { _mm_loadu_si128(crate::format::IQ4_VALUES.as_ptr().cast()) };
    // SAFETY (caller): `p` points at 16 readable bytes.
    _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(table), unsafe { nibbles(p) })
}
