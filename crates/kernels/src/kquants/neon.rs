//! AArch64 kernels for the K-quants: a 32-value sub-block is two 128-bit
//! vectors and two `sdot`s.
//!
//! Q4_K / Q5_K: the 6-bit scales and mins are unpacked once per super-block;
//! each sub-block's quants (nibbles, plus the fifth bit tested out of `qh`) are
//! below 32, so valid signed bytes; the mins are subtracted as `dmin · Σ m · s`.
//! Q6_K: the quants minus 32 are signed; the first 16 values of a sub-block
//! have one scale, the last 16 another, and those are exactly the two
//! `sdot`s. IQ4_XS: each sub-block's indices looked up in the table with
//! `tbl`. Every sub-block's sums are weighted by its integer scale and summed
//! in `i32` over the super-block, whose activations share one scale (see
//! [`crate::quantize_acts_k`]): one conversion and one multiply by `d · d_a`
//! per super-block.

use crate::isa::check_operands;
use crate::neon::*;
use crate::reference::{iq4xs_scale, scale_min_k4};
use crate::{ActBlock, QType, RowsDot};

/// Q4_K (`qh` null) or Q5_K: one super-block.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn block_k45(b: *const u8, qh: *const u8, qs: *const u8, acts: &[ActBlock]) -> f32 {
    // SAFETY (caller, for every read below): `b` is a whole block, `qh` (when
    // not null) and `qs` point into it.
    let (d, dmin) = unsafe { (f16(b), f16(b.add(2))) };
    let scales = unsafe { std::slice::from_raw_parts(b.add(4), 12) };
    let high = if qh.is_null() {
        None
    } else {
        Some(unsafe { (load(qh), load(qh.add(16))) })
    };
    let mask = vdupq_n_u8(0x0F);
    let mut acc = vdupq_n_s32(0);
    let mut mins = 0.0f32;
    for c in 0..4 {
        let (q0, q1) = unsafe { (load(qs.add(c * 32)), load(qs.add(c * 32 + 16))) };
        let halves = [
            (vandq_u8(q0, mask), vandq_u8(q1, mask)),
            (vshrq_n_u8::<4>(q0), vshrq_n_u8::<4>(q1)),
        ];
        for (h, (mut lo, mut hi)) in halves.into_iter().enumerate() {
            let j = 2 * c + h;
            if let Some((h0, h1)) = high {
                let bit = vdupq_n_u8(1 << j);
                let fifth = vdupq_n_u8(0x10);
                lo = vorrq_u8(lo, vandq_u8(vtstq_u8(h0, bit), fifth));
                hi = vorrq_u8(hi, vandq_u8(vtstq_u8(h1, bit), fifth));
            }
            let a = &acts[j];
            let (sc, m) = scale_min_k4(j, scales);
            let sums = dot32(signed(lo), signed(hi), &a.qs);
            acc = vmlaq_n_s32(acc, sums, i32::from(sc));
            mins += f32::from(m) * a.s;
        }
    }
    d * acts[0].d * vaddvq_s32(acc) as f32 - dmin * mins
}

/// Q6_K: one super-block.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn block_q6k(b: *const u8, acts: &[ActBlock]) -> f32 {
    // SAFETY (caller, for every read below): `b` is a whole block.
    let d = unsafe { f16(b.add(208)) };
    let mask = vdupq_n_u8(0x0F);
    let three = vdupq_n_u8(3);
    let mut acc = vdupq_n_s32(0);
    for n in 0..2 {
        let load2 = |at: usize| unsafe { (load(b.add(at)), load(b.add(at + 16))) };
        let (ql0, ql1, qh) = (load2(n * 64), load2(n * 64 + 32), load2(128 + n * 32));
        let lows = [
            (vandq_u8(ql0.0, mask), vandq_u8(ql0.1, mask)),
            (vandq_u8(ql1.0, mask), vandq_u8(ql1.1, mask)),
            (vshrq_n_u8::<4>(ql0.0), vshrq_n_u8::<4>(ql0.1)),
            (vshrq_n_u8::<4>(ql1.0), vshrq_n_u8::<4>(ql1.1)),
        ];
        for (t, (lo, hi)) in lows.into_iter().enumerate() {
            let shift = vdupq_n_s8(-2 * t as i8);
            let quants = |low: uint8x16_t, qh: uint8x16_t| {
                let high = vandq_u8(vshlq_u8(qh, shift), three);
                vsubq_s8(signed(vorrq_u8(low, vshlq_n_u8::<4>(high))), vdupq_n_s8(32))
            };
            let a = &acts[n * 4 + t];
            // SAFETY: the two scales of sub-block `t` are inside the block.
            let (s0, s1) = unsafe {
                let sc = b.add(192 + n * 8 + 2 * t).cast::<i8>();
                (i32::from(sc.read()), i32::from(sc.add(1).read()))
            };
            // SAFETY: an ActBlock's `qs` are 32 bytes.
            let (a0, a1) = unsafe { (vld1q_s8(a.qs.as_ptr()), vld1q_s8(a.qs.as_ptr().add(16))) };
            let zero = vdupq_n_s32(0);
            acc = vmlaq_n_s32(acc, sdot(zero, quants(lo, qh.0), a0), s0);
            acc = vmlaq_n_s32(acc, sdot(zero, quants(hi, qh.1), a1), s1);
        }
    }
    d * acts[0].d * vaddvq_s32(acc) as f32
}

/// IQ4_XS: one super-block.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn block_iq4xs(b: *const u8, acts: &[ActBlock]) -> f32 {
    // SAFETY (caller, for every read below): `b` is a whole block.
    let d = unsafe { f16(b) };
    let head = unsafe { std::slice::from_raw_parts(b, 8) };
    let mut acc = vdupq_n_s32(0);
    for (j, a) in acts.iter().enumerate().take(8) {
        let (lo, hi) = unsafe { iq4_values(b.add(8 + 16 * j)) };
        let sums = dot32(lo, hi, &a.qs);
        acc = vmlaq_n_s32(acc, sums, i32::from(iq4xs_scale(head, j)));
    }
    d * acts[0].d * vaddvq_s32(acc) as f32
}

/// The rows' super-blocks, in a function compiled with the dot-product
/// extension so the block kernels are inlined into the loop.
#[target_feature(enable = "neon,dotprod")]
unsafe fn rows(t: QType, k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]) {
    let nb = k / 256;
    let bytes = t.block_bytes();
    for (r, y) in out.iter_mut().enumerate() {
        let mut sum = 0.0f32;
        for i in 0..nb {
            let a = &acts[i * 8..i * 8 + 8];
            // SAFETY (caller): `w` holds `out.len()` rows of `nb` blocks.
            sum += unsafe {
                let b = w.as_ptr().add((r * nb + i) * bytes);
                match t {
                    QType::Q4K => block_k45(b, std::ptr::null(), b.add(16), a),
                    QType::Q5K => block_k45(b, b.add(16), b.add(48), a),
                    QType::IQ4XS => block_iq4xs(b, a),
                    _ => block_q6k(b, a),
                }
            };
        }
        *y = sum;
    }
}

fn checked(t: QType, k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]) {
    check_operands(t, k, w, out.len(), acts, 1, out);
    // SAFETY: the lengths were checked above; `rows_dot_fn` hands this kernel
    // out only when `Isa::available()` says the CPU has the dot-product
    // extension.
    unsafe { rows(t, k, w, acts, out) }
}

pub(crate) fn rows_dot(t: QType) -> Option<RowsDot> {
    Some(match t {
        QType::Q4K => |k, w, a, out| checked(QType::Q4K, k, w, a, out),
        QType::Q5K => |k, w, a, out| checked(QType::Q5K, k, w, a, out),
        QType::Q6K => |k, w, a, out| checked(QType::Q6K, k, w, a, out),
        QType::IQ4XS => |k, w, a, out| checked(QType::IQ4XS, k, w, a, out),
        _ => return None,
    })
}
