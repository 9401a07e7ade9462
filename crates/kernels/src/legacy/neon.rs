//! AArch64 kernels for the 32-value formats: a block is two 128-bit vectors.
//!
//! Weights are unpacked to 32 signed bytes (nibbles split with a mask and a
//! shift, the fifth bit of Q5 spread from its `u32` with a table lookup and a
//! bit test, the format's offset subtracted; Q4_1/Q5_1's unsigned quants are
//! below 32 and so already valid signed bytes; IQ4_NL's nibbles looked up in
//! its table with `tbl`) and meet the 32 activation bytes in two `sdot`s. The
//! four `i32` sums are scaled by `d_w · d_a` with one fused multiply-add per
//! block; Q4_1/Q5_1 add `m · s`.

use crate::isa::check_operands;
use crate::neon::*;
use crate::{ActBlock, QType, RowsDot};

/// The 32 bits of a Q5 block's `qh` at `p` as 32 bytes of `0x10` or `0`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn fifth_bits(p: *const u8) -> (uint8x16_t, uint8x16_t) {
    // SAFETY (caller): `p` points at 4 readable bytes.
    let qh = unsafe { p.cast::<u32>().read_unaligned() }.to_le();
    let bytes = vreinterpretq_u8_u32(vdupq_n_u32(qh));
    // Byte j takes byte j / 8 of qh, then keeps bit j % 8.
    let pick = |lo: u64, hi: u64| vcombine_u8(vcreate_u8(lo), vcreate_u8(hi));
    let bit = pick(0x8040_2010_0804_0201, 0x8040_2010_0804_0201);
    let spread = |index: uint8x16_t| {
        let set = vtstq_u8(vqtbl1q_u8(bytes, index), bit);
        vandq_u8(set, vdupq_n_u8(0x10))
    };
    (
        spread(pick(0, 0x0101_0101_0101_0101)),
        spread(pick(0x0202_0202_0202_0202, 0x0303_0303_0303_0303)),
    )
}

/// One weight row of `nb` blocks of `bytes` bytes at `w` against one
/// activation row: `unpack` gives a block's signed quants, `d` and `m`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn row(
    w: *const u8,
    acts: &[ActBlock],
    bytes: usize,
    unpack: impl Fn(*const u8) -> (int8x16_t, int8x16_t, f32, f32),
) -> f32 {
    let mut acc = vdupq_n_f32(0.0);
    let mut offset = 0.0f32;
    for (i, a) in acts.iter().enumerate() {
        // SAFETY (caller): the row holds `acts.len()` blocks.
        let (lo, hi, d, m) = unpack(unsafe { w.add(i * bytes) });
        let sums = dot32(lo, hi, &a.qs);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(sums), d * a.d);
        offset += m * a.s;
    }
    vaddvq_f32(acc) + offset
}

/// `row` with the unpacking of type `t`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn row_of(t: QType, p: *const u8, acts: &[ActBlock]) -> f32 {
    let minus = |v: uint8x16_t, offset: u8| vsubq_s8(signed(v), vdupq_n_s8(offset as i8));
    // SAFETY (caller, all blocks below): `b` points at a whole block of `t`
    // inside the row.
    unsafe {
        match t {
            QType::Q4_0 => row(p, acts, 18, |b| {
                let (lo, hi) = nibbles(b.add(2));
                (minus(lo, 8), minus(hi, 8), f16(b), 0.0)
            }),
            QType::Q4_1 => row(p, acts, 20, |b| {
                let (lo, hi) = nibbles(b.add(4));
                (signed(lo), signed(hi), f16(b), f16(b.add(2)))
            }),
            QType::Q5_0 => row(p, acts, 22, |b| {
                let (lo, hi) = nibbles(b.add(6));
                let (h0, h1) = fifth_bits(b.add(2));
                (
                    minus(vorrq_u8(lo, h0), 16),
                    minus(vorrq_u8(hi, h1), 16),
                    f16(b),
                    0.0,
                )
            }),
            QType::Q5_1 => row(p, acts, 24, |b| {
                let (lo, hi) = nibbles(b.add(8));
                let (h0, h1) = fifth_bits(b.add(4));
                (
                    signed(vorrq_u8(lo, h0)),
                    signed(vorrq_u8(hi, h1)),
                    f16(b),
                    f16(b.add(2)),
                )
            }),
            QType::Q8_0 => row(p, acts, 34, |b| {
                (signed(load(b.add(2))), signed(load(b.add(18))), f16(b), 0.0)
            }),
            QType::IQ4NL => row(p, acts, 18, |b| {
                let (lo, hi) = iq4_values(b.add(2));
                (lo, hi, f16(b), 0.0)
            }),
            _ => 0.0,
        }
    }
}

fn checked(t: QType, k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]) {
    check_operands(t, k, w, out.len(), acts, 1, out);
    let nb = k / 32;
    let row_bytes = t.row_bytes(k);
    for (r, y) in out.iter_mut().enumerate() {
        // SAFETY: the lengths were checked above, so row `r` is whole;
        // `rows_dot_fn` hands this kernel out only when `Isa::available()`
        // says the CPU has the dot-product extension.
        *y = unsafe { row_of(t, w.as_ptr().add(r * row_bytes), &acts[..nb]) };
    }
}

pub(crate) fn rows_dot(t: QType) -> Option<RowsDot> {
    Some(match t {
        QType::Q4_0 => |k, w, a, out| checked(QType::Q4_0, k, w, a, out),
        QType::Q4_1 => |k, w, a, out| checked(QType::Q4_1, k, w, a, out),
        QType::Q5_0 => |k, w, a, out| checked(QType::Q5_0, k, w, a, out),
        QType::Q5_1 => |k, w, a, out| checked(QType::Q5_1, k, w, a, out),
        QType::Q8_0 => |k, w, a, out| checked(QType::Q8_0, k, w, a, out),
        QType::IQ4NL => |k, w, a, out| checked(QType::IQ4NL, k, w, a, out),
        _ => return None,
    })
}
