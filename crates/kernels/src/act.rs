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

/// Activations quantised the way the weight type `t` wants them (what
/// [`crate::matmul`] does): [`quantize_acts`] for the 32-value formats,
/// [`quantize_acts_k`] for the K-quants.
pub fn quantize_acts_for(t: crate::QType, x: &[f32], out: &mut Vec<ActBlock>) {
    if t.block_elems() == 256 {
        quantize_acts_k(x, out);
    } else {
        quantize_acts(x, out);
    }
}

/// Quantises `x` (length a multiple of 32) into `out`, replacing its contents:
/// per block, `d = max|x| / 127`, `qs = round(x / d)`; `d` and `s` are then
/// rounded to f16 as ggml's `block_q8_0` / `block_q8_1` store them (`s` as
/// `f16(Σqs) · f16(d)`, candle's formula), so products match candle's to the
/// order of the sums and a model's greedy tokens do not change.
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
    let f16 = |v: f32| half::f16::from_f32(v).to_f32();
    ActBlock {
        d: f16(d),
        s: f16(f16(sum as f32) * f16(d)),
        qs,
    }
}

/// Quantises `x` (length a multiple of 256) for the K-quants, as ggml's
/// `block_q8_K`: one scale per 256 values, `d = -max / 127` with `max` the
/// value of largest magnitude (so `d` may be negative), `qs = round(x / d)`.
/// The 8 blocks of a super-block share that `d`; `s = d · Σqs` per block.
pub fn quantize_acts_k(x: &[f32], out: &mut Vec<ActBlock>) {
    out.clear();
    for chunk in x.chunks_exact(256) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in chunk {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            out.extend(std::iter::repeat_n(ActBlock::ZERO, 8));
            continue;
        }
        let iscale = -127.0 / max;
        let d = 1.0 / iscale;
        out.extend(chunk.chunks_exact(32).map(|x| {
            let mut qs = [0i8; 32];
            let mut sum = 0i32;
            for (q, v) in qs.iter_mut().zip(x) {
                *q = (iscale * v).round().clamp(-128.0, 127.0) as i8;
                sum += i32::from(*q);
            }
            ActBlock {
                d,
                s: d * sum as f32,
                qs,
            }
        }));
    }
}
