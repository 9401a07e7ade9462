//! Activations quantised for the integer inner loops.

/// 32 activations as `i8` with one f32 scale: `x[i] ≈ d · qs[i]`. `s` is
/// `d · Σ qs`, what the formats with an offset (`Q4_1`, `Q5_1`, the K-quants'
/// mins) need. One format for every weight type: a K-quant's 256 values are 8
/// consecutive `ActBlock`s.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct ActBlock {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

impl ActBlock {
    pub const ZERO: ActBlock = ActBlock {
        d: 0.0,
        s: 0.0,
        qs: [0; 32],
    };
}

/// Quantises `x` (length a multiple of 32) into `out`, replacing its contents:
/// per block, `d = max|x| / 127`, `qs = round(x / d)`.
pub fn quantize_acts(x: &[f32], out: &mut Vec<ActBlock>) {
    out.clear();
    out.extend(x.chunks_exact(32).map(quantize_block));
}

fn quantize_block(x: &[f32]) -> ActBlock {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; 32];
    let mut sum = 0i32;
    for (q, v) in qs.iter_mut().zip(x) {
        // |v · id| <= 127 by construction; `as` saturates anyway.
        *q = (v * id).round() as i8;
        sum += i32::from(*q);
    }
    ActBlock {
        d,
        s: d * sum as f32,
        qs,
    }
}
