//! Plain Rust kernels for the 32-value formats: an integer dot product per
//! block, scaled once. Written so the compiler can vectorise the inner loops
//! with whatever the build's baseline allows.

use crate::format::f16_at;
use crate::portable::{iq4_dot, rows};
use crate::{ActBlock, QType, RowsDot};

pub(super) fn rows_dot(t: QType) -> RowsDot {
    match t {
        QType::Q4_0 => |k, w, a, out| rows(QType::Q4_0, k, w, a, out, block_q4_0),
        QType::Q4_1 => |k, w, a, out| rows(QType::Q4_1, k, w, a, out, block_q4_1),
        QType::Q5_0 => |k, w, a, out| rows(QType::Q5_0, k, w, a, out, block_q5_0),
        QType::Q5_1 => |k, w, a, out| rows(QType::Q5_1, k, w, a, out, block_q5_1),
        QType::Q8_0 => |k, w, a, out| rows(QType::Q8_0, k, w, a, out, block_q8_0),
        QType::IQ4NL => |k, w, a, out| rows(QType::IQ4NL, k, w, a, out, block_iq4nl),
        _ => unreachable!("not a 32-value format: {t:?}"),
    }
}

#[inline(always)]
fn nibbles_dot(qs: &[u8], a: &[i8; 32], bias: i32) -> i32 {
    let mut sum = 0i32;
    for j in 0..16 {
        sum += (i32::from(qs[j] & 0xF) - bias) * i32::from(a[j]);
        sum += (i32::from(qs[j] >> 4) - bias) * i32::from(a[j + 16]);
    }
    sum
}

fn block_q4_0(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    f16_at(b, 0) * a.d * nibbles_dot(&b[2..18], &a.qs, 8) as f32
}

fn block_q4_1(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    f16_at(b, 0) * a.d * nibbles_dot(&b[4..20], &a.qs, 0) as f32 + f16_at(b, 2) * a.s
}

#[inline(always)]
fn five_bit_dot(qh: &[u8], qs: &[u8], a: &[i8; 32], bias: i32) -> i32 {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let mut sum = 0i32;
    for j in 0..16 {
        let lo = i32::from(qs[j] & 0xF) | ((((qh >> j) & 1) as i32) << 4);
        let hi = i32::from(qs[j] >> 4) | ((((qh >> (j + 16)) & 1) as i32) << 4);
        sum += (lo - bias) * i32::from(a[j]);
        sum += (hi - bias) * i32::from(a[j + 16]);
    }
    sum
}

fn block_q5_0(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    f16_at(b, 0) * a.d * five_bit_dot(&b[2..6], &b[6..22], &a.qs, 16) as f32
}

fn block_q5_1(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    f16_at(b, 0) * a.d * five_bit_dot(&b[4..8], &b[8..24], &a.qs, 0) as f32 + f16_at(b, 2) * a.s
}

fn block_q8_0(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    let mut sum = 0i32;
    for j in 0..32 {
        sum += i32::from(b[2 + j] as i8) * i32::from(a.qs[j]);
    }
    f16_at(b, 0) * a.d * sum as f32
}

fn block_iq4nl(b: &[u8], a: &[ActBlock]) -> f32 {
    let a = &a[0];
    f16_at(b, 0) * a.d * iq4_dot(&b[2..18], &a.qs) as f32
}
