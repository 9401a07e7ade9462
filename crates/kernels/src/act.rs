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

/// The values `blocks` stand for, `d · qs`, into `out` (replacing its
/// contents): the activations a quantised product meets, as floats.
pub fn dequantize_acts(blocks: &[ActBlock], out: &mut Vec<f32>) {
    out.clear();
    out.reserve(blocks.len() * 32);
    for b in blocks {
        out.extend(b.qs.iter().map(|&q| b.d * f32::from(q)));
    }
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
    match crate::Isa::active() {
        // SAFETY: `Isa::active` only returns an ISA this CPU has.
        #[cfg(target_arch = "x86_64")]
        crate::Isa::Avx2 | crate::Isa::Avx512 => unsafe { quantize_avx2(x, out) },
        _ => quantize_body(x, out),
    }
}

/// The same loop compiled for AVX2 (a decoded token quantises its
/// activations once per product, on one thread while the others wait).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn quantize_avx2(x: &[f32], out: &mut Vec<ActBlock>) {
    quantize_body(x, out);
}

#[inline(always)]
fn quantize_body(x: &[f32], out: &mut Vec<ActBlock>) {
    // A plain loop, so `quantize_block` is inlined into the caller, under its
    // features (through `map`, it landed in a generic `fold` compiled without
    // them).
    out.reserve(x.len() / 32);
    for block in x.chunks_exact(32) {
        out.push(quantize_block(block));
    }
}

#[inline(always)]
fn quantize_block(x: &[f32]) -> ActBlock {
    // The largest magnitude in 8 lanes, so the loop vectorises.
    let mut lanes = [0.0f32; 8];
    for c in x.chunks_exact(8) {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = m.max(v.abs());
        }
    }
    let amax = lanes.iter().fold(0.0f32, |m, &v| m.max(v));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut qs = [0i8; 32];
    for (q, v) in qs.iter_mut().zip(x) {
        // |v · id| <= 127 by construction; `as` saturates anyway.
        *q = round_half_away(v * id) as i8;
    }
    let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
    let f16 = |v: f32| half::f16::from_f32(v).to_f32();
    ActBlock {
        d: f16(d),
        s: f16(f16(sum as f32) * f16(d)),
        qs,
    }
}

/// `x.round()` (halves away from zero, as ggml's `roundf`) in operations that
/// vectorise; exact for the |x| <= 127 it is used on (and NaN stays NaN).
#[inline(always)]
fn round_half_away(x: f32) -> f32 {
    let t = x.trunc();
    if (x - t).abs() >= 0.5 {
        t + 1.0f32.copysign(x)
    } else {
        t
    }
}

/// Quantises `x` (length a multiple of 256) for the K-quants, as ggml's
/// `block_q8_K`: one scale per 256 values, `d = -max / 127` with `max` the
/// value of largest magnitude (so `d` may be negative), `qs = round(x / d)`.
/// The 8 blocks of a super-block share that `d`; `s = d · Σqs` per block.
pub fn quantize_acts_k(x: &[f32], out: &mut Vec<ActBlock>) {
    out.clear();
    match crate::Isa::active() {
        // SAFETY: `Isa::active` only returns an ISA this CPU has.
        #[cfg(target_arch = "x86_64")]
        crate::Isa::Avx2 | crate::Isa::Avx512 => unsafe { quantize_k_avx2(x, out) },
        _ => quantize_k_body(x, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn quantize_k_avx2(x: &[f32], out: &mut Vec<ActBlock>) {
    quantize_k_body(x, out);
}

#[inline(always)]
fn quantize_k_body(x: &[f32], out: &mut Vec<ActBlock>) {
    out.reserve(x.len() / 32);
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
        for x in chunk.chunks_exact(32) {
            let mut qs = [0i8; 32];
            for (q, v) in qs.iter_mut().zip(x) {
                *q = round_half_away(iscale * v).clamp(-128.0, 127.0) as i8;
            }
            let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
            out.push(ActBlock {
                d,
                s: d * sum as f32,
                qs,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_roundf() {
        for i in -130_000..=130_000 {
            let x = i as f32 / 1000.0;
            for x in [x, x + 0.0005, f32::from_bits(x.to_bits() + 1)] {
                assert_eq!(round_half_away(x).to_bits(), x.round().to_bits(), "{x}");
            }
        }
        assert!(round_half_away(f32::NAN).is_nan());
    }

    #[test]
    fn the_vectorised_loop_quantises_as_the_plain_one() {
        let mut seed = 3u32;
        let mut x: Vec<f32> = (0..32 * 50)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 8) as f32 / (1 << 24) as f32 - 0.5) * 8.0
            })
            .collect();
        x[40] = f32::NAN;
        x[64..96].fill(0.0);
        x[100] = 127.0 / 2.0; // halves after scaling
        let mut got = Vec::new();
        quantize_acts(&x, &mut got);
        let mut want = Vec::new();
        quantize_body(&x, &mut want);
        let mut got_k = Vec::new();
        quantize_acts_k(&x[..256 * 6], &mut got_k);
        let mut want_k = Vec::new();
        quantize_k_body(&x[..256 * 6], &mut want_k);
        assert_eq!(got_k, want_k);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (g.d.to_bits(), g.s.to_bits(), g.qs),
                (w.d.to_bits(), w.s.to_bits(), w.qs)
            );
        }
    }
}
