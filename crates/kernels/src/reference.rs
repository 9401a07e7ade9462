//! Straightforward scalar code: the definition every fast kernel is tested
//! against, and the row decoder the engine uses for embedding lookups.

use crate::format::{IQ4_VALUES, f16_at};
use crate::{ActBlock, QType};

/// Decodes one row of `out.len()` values of type `t` from `w`.
///
/// # Panics
/// If `out.len()` is not a multiple of the block size or `w` is shorter than
/// [`QType::row_bytes`] for it.
pub fn dequantize_row(t: QType, w: &[u8], out: &mut [f32]) {
    let (be, bb) = (t.block_elems(), t.block_bytes());
    assert!(out.len().is_multiple_of(be) && w.len() >= t.row_bytes(out.len()));
    if t.is_float() {
        return crate::float::widen_row(t, w, out);
    }
    for (y, b) in out.chunks_exact_mut(be).zip(w.chunks_exact(bb)) {
        dequantize_block(t, b, y);
    }
}

fn dequantize_block(t: QType, b: &[u8], y: &mut [f32]) {
    match t {
        QType::F16 | QType::BF16 => {
            for (i, y) in y.iter_mut().enumerate() {
                *y = crate::float::widen(t, b, i);
            }
        }
        QType::Q4_0 => {
            let d = f16_at(b, 0);
            for j in 0..16 {
                let q = b[2 + j];
                y[j] = (f32::from(q & 0xF) - 8.0) * d;
                y[j + 16] = (f32::from(q >> 4) - 8.0) * d;
            }
        }
        QType::Q4_1 => {
            let (d, m) = (f16_at(b, 0), f16_at(b, 2));
            for j in 0..16 {
                let q = b[4 + j];
                y[j] = f32::from(q & 0xF) * d + m;
                y[j + 16] = f32::from(q >> 4) * d + m;
            }
        }
        QType::Q5_0 | QType::Q5_1 => {
            let (d, m, at) = if t == QType::Q5_0 {
                (f16_at(b, 0), 0.0, 2)
            } else {
                (f16_at(b, 0), f16_at(b, 2), 4)
            };
            let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            let offset = if t == QType::Q5_0 { 16.0 } else { 0.0 };
            for j in 0..16 {
                let q = b[at + 4 + j];
                let h0 = ((qh >> j) & 1) as u8;
                let h1 = ((qh >> (j + 16)) & 1) as u8;
                y[j] = (f32::from((q & 0xF) | (h0 << 4)) - offset) * d + m;
                y[j + 16] = (f32::from((q >> 4) | (h1 << 4)) - offset) * d + m;
            }
        }
        QType::Q8_0 => {
            let d = f16_at(b, 0);
            for j in 0..32 {
                y[j] = f32::from(b[2 + j] as i8) * d;
            }
        }
        QType::Q4K | QType::Q5K => {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let scales = &b[4..16];
            let (qh, qs) = if t == QType::Q4K {
                (None, &b[16..144])
            } else {
                (Some(&b[16..48]), &b[48..176])
            };
            for j in 0..8 {
                let (sc, m) = scale_min_k4(j, scales);
                let (d1, m1) = (d * f32::from(sc), dmin * f32::from(m));
                let chunk = &qs[(j / 2) * 32..(j / 2) * 32 + 32];
                for l in 0..32 {
                    let nib = if j % 2 == 0 {
                        chunk[l] & 0xF
                    } else {
                        chunk[l] >> 4
                    };
                    let high = qh.map_or(0, |qh| ((qh[l] >> j) & 1) << 4);
                    y[j * 32 + l] = d1 * f32::from(nib | high) - m1;
                }
            }
        }
        QType::Q6K => {
            let d = f16_at(b, 208);
            for n in 0..2 {
                let ql = &b[n * 64..n * 64 + 64];
                let qh = &b[128 + n * 32..128 + n * 32 + 32];
                let sc = &b[192 + n * 8..192 + n * 8 + 8];
                for l in 0..32 {
                    let is = l / 16;
                    let q = [
                        (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                        (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                        (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                        (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
                    ];
                    for (t, q) in q.into_iter().enumerate() {
                        let s = f32::from(sc[is + 2 * t] as i8);
                        y[n * 128 + t * 32 + l] = d * s * (f32::from(q) - 32.0);
                    }
                }
            }
        }
        QType::IQ4NL => iq4_values(f16_at(b, 0), &b[2..18], y),
        QType::IQ4XS => {
            let d = f16_at(b, 0);
            for j in 0..8 {
                let dl = d * f32::from(iq4xs_scale(b, j));
                iq4_values(
                    dl,
                    &b[8 + j * 16..8 + j * 16 + 16],
                    &mut y[j * 32..j * 32 + 32],
                );
            }
        }
    }
}

/// 32 values of IQ4_NL's layout: 16 bytes of table indices scaled by `d`.
fn iq4_values(d: f32, qs: &[u8], y: &mut [f32]) {
    for j in 0..16 {
        y[j] = d * f32::from(IQ4_VALUES[usize::from(qs[j] & 0xF)]);
        y[j + 16] = d * f32::from(IQ4_VALUES[usize::from(qs[j] >> 4)]);
    }
}

/// The signed scale (`ls - 32`, -32..=31) of sub-block `j` (0..8) of the
/// IQ4_XS block `b`: its low 4 bits are nibble `j % 2` of `scales_l[j / 2]`,
/// its high 2 bits bits `2j..2j + 2` of `scales_h`.
#[inline(always)]
pub(crate) fn iq4xs_scale(b: &[u8], j: usize) -> i8 {
    let high = u16::from_le_bytes([b[2], b[3]]);
    let low = (b[4 + j / 2] >> (4 * (j % 2))) & 0xF;
    let ls = low | ((((high >> (2 * j)) & 3) as u8) << 4);
    ls as i8 - 32
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K block.
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Decodes activation blocks back to f32.
pub fn dequantize_acts(acts: &[ActBlock]) -> Vec<f32> {
    acts.iter()
        .flat_map(|a| a.qs.iter().map(move |&q| a.d * f32::from(q)))
        .collect()
}

/// The reference product of one row with quantised activations: decode both to
/// f32 and sum in f64. Fast kernels must match it to a tight tolerance.
pub fn dot(t: QType, k: usize, w: &[u8], acts: &[ActBlock]) -> f32 {
    let mut row = vec![0.0f32; k];
    dequantize_row(t, w, &mut row);
    let x = dequantize_acts(acts);
    row.iter()
        .zip(&x)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum::<f64>() as f32
}
