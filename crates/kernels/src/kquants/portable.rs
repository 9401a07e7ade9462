//! Plain Rust kernels for the K-quants and IQ4_XS: integer dot products per 32
//! (Q6_K: per 16) values, weighted by the sub-block's integer scale and summed
//! over the super-block, then scaled once by `d` and the activations' shared
//! scale (see [`crate::quantize_acts_k`]).

use crate::format::f16_at;
use crate::portable::{iq4_dot, rows};
use crate::reference::{iq4xs_scale, scale_min_k4};
use crate::{ActBlock, QType, RowsDot};

pub(super) fn rows_dot(t: QType) -> RowsDot {
    match t {
        QType::Q4K => |k, w, a, out| rows(QType::Q4K, k, w, a, out, block_q4k),
        QType::Q5K => |k, w, a, out| rows(QType::Q5K, k, w, a, out, block_q5k),
        QType::Q6K => |k, w, a, out| rows(QType::Q6K, k, w, a, out, block_q6k),
        QType::IQ4XS => |k, w, a, out| rows(QType::IQ4XS, k, w, a, out, block_iq4xs),
        _ => unreachable!("not a K-quant: {t:?}"),
    }
}

/// Q4_K and Q5_K (`qh` for the fifth bit).
#[inline(always)]
fn block_k45(b: &[u8], acts: &[ActBlock], qh: Option<&[u8]>, qs: &[u8]) -> f32 {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    let (mut acc, mut mins) = (0i32, 0.0f32);
    for (j, a) in acts.iter().enumerate() {
        let (sc, m) = scale_min_k4(j, scales);
        let chunk = &qs[(j / 2) * 32..(j / 2) * 32 + 32];
        let shift = if j % 2 == 0 { 0 } else { 4 };
        let mut sum = 0i32;
        for l in 0..32 {
            let high = qh.map_or(0, |qh| ((qh[l] >> j) & 1) << 4);
            let q = ((chunk[l] >> shift) & 0xF) | high;
            sum += i32::from(q) * i32::from(a.qs[l]);
        }
        acc += i32::from(sc) * sum;
        mins += f32::from(m) * a.s;
    }
    d * acts[0].d * acc as f32 - dmin * mins
}

fn block_q4k(b: &[u8], acts: &[ActBlock]) -> f32 {
    block_k45(b, acts, None, &b[16..144])
}

fn block_q5k(b: &[u8], acts: &[ActBlock]) -> f32 {
    block_k45(b, acts, Some(&b[16..48]), &b[48..176])
}

fn block_q6k(b: &[u8], acts: &[ActBlock]) -> f32 {
    let d = f16_at(b, 208);
    let mut acc = 0i32;
    for n in 0..2 {
        let ql = &b[n * 64..n * 64 + 64];
        let qh = &b[128 + n * 32..128 + n * 32 + 32];
        let sc = &b[192 + n * 8..192 + n * 8 + 8];
        for t in 0..4 {
            let a = &acts[n * 4 + t];
            let (lo_off, shift) = match t {
                0 => (0, 0),
                1 => (32, 0),
                2 => (0, 4),
                _ => (32, 4),
            };
            let mut sums = [0i32; 2];
            for l in 0..32 {
                let low = (ql[l + lo_off] >> shift) & 0xF;
                let high = (qh[l] >> (2 * t)) & 3;
                let q = i32::from(low | (high << 4)) - 32;
                sums[l / 16] += q * i32::from(a.qs[l]);
            }
            let s0 = i32::from(sc[2 * t] as i8);
            let s1 = i32::from(sc[2 * t + 1] as i8);
            acc += s0 * sums[0] + s1 * sums[1];
        }
    }
    d * acts[0].d * acc as f32
}

fn block_iq4xs(b: &[u8], acts: &[ActBlock]) -> f32 {
    let d = f16_at(b, 0);
    let mut acc = 0i32;
    for (j, a) in acts.iter().enumerate() {
        let sum = iq4_dot(&b[8 + j * 16..8 + j * 16 + 16], &a.qs);
        acc += i32::from(iq4xs_scale(b, j)) * sum;
    }
    d * acts[0].d * acc as f32
}
