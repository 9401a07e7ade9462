//! AArch64 building blocks shared by the kernel families: the dot-product
//! extension's `sdot` (16 byte products into four `i32` sums), f16 scales,
//! nibbles unpacked and looked up in the IQ4 table, and horizontal sums.
//!
//! `vdotq_s32` is still unstable in Rust's `std::arch`, so `sdot` is one line
//! of inline assembly; everything else is the stable NEON intrinsics.

pub(crate) use std::arch::aarch64::*;

/// `acc[i] += Σ_{j<4} a[4i + j] · b[4i + j]`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` only reads and writes the three vector registers; the
    // caller's target features include `dotprod`.
    unsafe {
        std::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// 32 signed weights (`lo`: values 0..16, `hi`: 16..32) times an activation
/// block's 32 bytes, as four `i32` sums.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) fn dot32(lo: int8x16_t, hi: int8x16_t, a: &[i8; 32]) -> int32x4_t {
    // SAFETY: `a` is 32 readable bytes.
    let (a0, a1) = unsafe { (vld1q_s8(a.as_ptr()), vld1q_s8(a.as_ptr().add(16))) };
    sdot(sdot(vdupq_n_s32(0), lo, a0), hi, a1)
}

/// 16 bytes at `p`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn load(p: *const u8) -> uint8x16_t {
    // SAFETY (caller): `p` points at 16 readable bytes.
    unsafe { vld1q_u8(p) }
}

/// An f16 at `p` as f32.
#[inline(always)]
pub(crate) unsafe fn f16(p: *const u8) -> f32 {
    // SAFETY (caller): `p` points at two readable bytes.
    let bits = unsafe { p.cast::<u16>().read_unaligned() };
    half::f16::from_bits(u16::from_le(bits)).to_f32()
}

/// Unsigned bytes as signed (the values fit: all are below 128).
#[inline(always)]
pub(crate) fn signed(v: uint8x16_t) -> int8x16_t {
    // SAFETY: a bit cast between vector types of the same size.
    unsafe { vreinterpretq_s8_u8(v) }
}

/// 16 packed nibbles at `p` as 32 bytes: low nibbles (values 0..16), then high.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn nibbles(p: *const u8) -> (uint8x16_t, uint8x16_t) {
    // SAFETY (caller): `p` points at 16 readable bytes.
    let q = unsafe { load(p) };
    (vandq_u8(q, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(q))
}

/// 16 packed IQ4 indices at `p` as their 32 signed table values, in
/// [`nibbles`]' order, each half one table lookup (`tbl`).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn iq4_values(p: *const u8) -> (int8x16_t, int8x16_t) {
    // SAFETY: the table is 16 readable bytes.
    let table = unsafe { vld1q_s8(crate::format::IQ4_VALUES.as_ptr()) };
    // SAFETY (caller): `p` points at 16 readable bytes.
    let (lo, hi) = unsafe { nibbles(p) };
    (vqtbl1q_s8(table, lo), vqtbl1q_s8(table, hi))
}
