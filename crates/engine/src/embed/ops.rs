//! The encoder's element-wise work in one parallel, vectorisable pass each.
//!
//! candle runs `gelu_erf` one value at a time through libm's `erff` on one
//! thread, and its softmax through libm's `expf`: for all-MiniLM-L6-v2 on
//! chunks of 256 tokens those took a large share of the time next to the
//! matrix products (see `cargo xtask bench-docs`). Here both are plain
//! arithmetic the compiler vectorises, split over rayon's threads:
//!
//! - [`BiasGelu`]: a linear layer's bias, then `x · (1 + erf(x/√2)) / 2`, with
//!   `1 + erf` from Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7),
//!   written so that negative inputs need no cancellation;
//! - [`masked_softmax`]: the attention probabilities, softmax over the keys
//!   of each row after adding the padding mask's bias;
//! - [`SplitHeads`]: the fused query/key/value projection's bias, and its
//!   rows laid out head by head for the attention products;
//! - [`AddNorm`]: a projection's bias, the residual and the LayerNorm after it.
//!
//! Each of candle's element-wise ops is a round trip through its thread
//! pool, whose waiting took about a tenth of the time on a busy machine;
//! these replace eight such ops per layer with three.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows per rayon task for the row-wise ops (rows are a few hundred values).
const ROWS: usize = 32;

/// `gelu(x + bias)` with the exact error function (BERT's "gelu"); `bias`
/// has the length of `x`'s rows.
pub(crate) struct BiasGelu {
    pub(crate) bias: Vec<f32>,
}

impl BiasGelu {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(self)
    }
}

/// `LayerNorm(x + bias + residual)` over rows of `bias.len()` values.
pub(crate) struct AddNorm {
    pub(crate) bias: Vec<f32>,
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
    pub(crate) eps: f32,
}

impl AddNorm {
    pub(crate) fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        x.contiguous()?
            .apply_op2_no_bwd(&residual.contiguous()?, self)
    }
}

/// The query/key/value projection `(batch · len, 3 · heads · head_dim)` plus
/// its bias, laid out as `(3, batch, heads, len, head_dim)`: `.get(0)`,
/// `.get(1)`, `.get(2)` are then contiguous queries, keys and values.
pub(crate) struct SplitHeads {
    pub(crate) bias: Vec<f32>,
    pub(crate) heads: usize,
    pub(crate) head_dim: usize,
}

impl SplitHeads {
    /// `x` holds sequences of `len` tokens.
    pub(crate) fn forward(&self, x: &Tensor, len: usize) -> Result<Tensor> {
        x.contiguous()?
            .apply_op1_no_bwd(&SplitOp { split: self, len })
    }
}

struct SplitOp<'a> {
    split: &'a SplitHeads,
    len: usize,
}

/// `softmax(scores + bias)` over the last dimension; `scores` is `(batch,
/// heads, queries, keys)` and `bias` `(batch, keys)` (0 for real tokens, a
/// large negative number for padding).
pub(crate) fn masked_softmax(scores: &Tensor, bias: &Tensor) -> Result<Tensor> {
    scores
        .contiguous()?
        .apply_op2_no_bwd(&bias.contiguous()?, &MaskedSoftmax)
}

fn contiguous_f32<'a>(op: &str, storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&data[start..end]),
        _ => candle_core::bail!("{op} takes contiguous f32 tensors"),
    }
}

impl CustomOp1 for BiasGelu {
    fn name(&self) -> &'static str {
        "hearth-bias-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(self.name(), storage, layout)?;
        let n = self.bias.len();
        if n == 0 || layout.shape().dims().last() != Some(&n) {
            candle_core::bail!("hearth-bias-gelu: bias of {n} for {:?}", layout.shape());
        }
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n))
            .with_min_len(ROWS)
            .for_each(|(out, x)| {
                for ((o, &x), &b) in out.iter_mut().zip(x).zip(&self.bias) {
                    *o = gelu(x + b);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

impl CustomOp2 for AddNorm {
    fn name(&self) -> &'static str {
        "hearth-add-norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        residual: &CpuStorage,
        residual_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x_data = contiguous_f32(self.name(), x, x_layout)?;
        let r = contiguous_f32(self.name(), residual, residual_layout)?;
        let n = self.bias.len();
        if n == 0
            || x_layout.shape() != residual_layout.shape()
            || x_layout.shape().dims().last() != Some(&n)
        {
            candle_core::bail!(
                "hearth-add-norm: {:?} + {:?} with a bias of {n}",
                x_layout.shape(),
                residual_layout.shape()
            );
        }
        let mut out = vec![0f32; x_data.len()];
        let inv_n = 1.0 / n as f32;
        out.par_chunks_mut(n)
            .zip(x_data.par_chunks(n).zip(r.par_chunks(n)))
            .with_min_len(ROWS)
            .for_each(|(out, (x, r))| {
                let mut sum = 0f32;
                for (((o, &x), &r), &b) in out.iter_mut().zip(x).zip(r).zip(&self.bias) {
                    *o = x + b + r;
                    sum += *o;
                }
                let mean = sum * inv_n;
                let var = out.iter().map(|o| (o - mean) * (o - mean)).sum::<f32>() * inv_n;
                let inv = 1.0 / (var + self.eps).sqrt();
                for ((o, &g), &b) in out.iter_mut().zip(&self.gamma).zip(&self.beta) {
                    *o = (*o - mean) * inv * g + b;
                }
            });
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }
}

impl CustomOp1 for SplitOp<'_> {
    fn name(&self) -> &'static str {
        "hearth-split-heads"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(self.name(), storage, layout)?;
        let (rows, width) = layout.shape().dims2()?;
        let (heads, hd, len) = (self.split.heads, self.split.head_dim, self.len);
        let hidden = heads * hd;
        if width != 3 * hidden
            || self.split.bias.len() != width
            || len == 0
            || !rows.is_multiple_of(len)
        {
            candle_core::bail!(
                "hearth-split-heads: {:?} for {heads} heads of {hd} over {len} tokens",
                layout.shape()
            );
        }
        let batch = rows / len;
        let mut out = vec![0f32; x.len()];
        // One output block of (len, head_dim) per (part, sequence, head).
        out.par_chunks_mut(len * hd)
            .enumerate()
            .for_each(|(block, out)| {
                let part = block / (batch * heads);
                let seq = block / heads % batch;
                let head = block % heads;
                let col = part * hidden + head * hd;
                let bias = &self.split.bias[col..col + hd];
                for (t, out) in out.chunks_exact_mut(hd).enumerate() {
                    let src = &x[(seq * len + t) * width + col..][..hd];
                    for ((o, &s), &b) in out.iter_mut().zip(src).zip(bias) {
                        *o = s + b;
                    }
                }
            });
        Ok((
            CpuStorage::F32(out),
            Shape::from_dims(&[3, batch, heads, len, hd]),
        ))
    }
}

struct MaskedSoftmax;

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "hearth-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        scores: &CpuStorage,
        scores_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = contiguous_f32(self.name(), scores, scores_layout)?;
        let b = contiguous_f32(self.name(), bias, bias_layout)?;
        let (batch, heads, queries, keys) = scores_layout.shape().dims4()?;
        if bias_layout.shape().dims() != [batch, keys] {
            candle_core::bail!(
                "hearth-masked-softmax: bias {:?} for scores {:?}",
                bias_layout.shape(),
                scores_layout.shape()
            );
        }
        let mut out = vec![0f32; s.len()];
        let per_sequence = heads * queries * keys;
        out.par_chunks_mut(keys)
            .zip(s.par_chunks(keys))
            .enumerate()
            .for_each(|(row, (out, s))| {
                let bias = &b[(row * keys / per_sequence) * keys..][..keys];
                let mut max = f32::NEG_INFINITY;
                for ((o, &s), &b) in out.iter_mut().zip(s).zip(bias) {
                    *o = s + b;
                    max = max.max(*o);
                }
                let mut sum = 0f32;
                for o in out.iter_mut() {
                    *o = exp(*o - max);
                    sum += *o;
                }
                let inv = 1.0 / sum;
                out.iter_mut().for_each(|o| *o *= inv);
            });
        Ok((CpuStorage::F32(out), scores_layout.shape().clone()))
    }
}

/// `x · (1 + erf(x/√2)) / 2`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    // A&S 7.1.26: for z ≥ 0, 1 - erf(z) = t·(a1 + t·(a2 + …)) · e^(-z²),
    // t = 1 / (1 + p·z). So 1 + erf(z) is 2 minus that for z ≥ 0 and, as erf
    // is odd, exactly that for z < 0.
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let tail = poly * exp(-(a * a));
    let one_plus_erf = if z >= 0.0 { 2.0 - tail } else { tail };
    0.5 * x * one_plus_erf
}

/// `e^x` for `x ≤ 0` (what softmax and the erf tail need): the kernels'
/// vectorisable `exp`, with 0 below -87 (e^-87 ≈ 1.6e-38) where it clamps.
#[inline(always)]
fn exp(x: f32) -> f32 {
    if x < -87.0 {
        0.0
    } else {
        hearth_kernels::exp(x.min(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Module};

    fn erf64(x: f64) -> f64 {
        // Below 3 the Maclaurin series (its terms stay under e^9, so f64 keeps
        // ~1e-12); above, erfc by its continued fraction, which converges
        // quickly there: erfc(z) = e^(-z²)/√π / (z + (1/2)/(z + 1/(z + …))).
        let z = x.abs();
        let erf = if z < 3.0 {
            let mut term = z;
            let mut sum = z;
            for n in 1..100 {
                term *= -z * z / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = z;
            for n in (1..200).rev() {
                f = z + (n as f64 / 2.0) / f;
            }
            1.0 - (-z * z).exp() / (std::f64::consts::PI.sqrt() * f)
        };
        erf.copysign(x)
    }

    #[test]
    fn gelu_matches_the_exact_erf_form() {
        let mut worst = 0f64;
        let mut x = -12.0f32;
        while x < 12.0 {
            let xf = f64::from(x);
            let want = 0.5 * xf * (1.0 + erf64(xf / std::f64::consts::SQRT_2));
            worst = worst.max((f64::from(gelu(x)) - want).abs());
            x += 0.001_9;
        }
        assert!(worst < 1e-6, "{worst}");
        assert_eq!(gelu(0.0), 0.0);
    }

    #[test]
    fn the_ops_match_candles_own() {
        let dev = Device::Cpu;
        let x = (Tensor::arange(0f32, 4.0 * 2.0 * 3.0 * 5.0, &dev).unwrap() * 0.37)
            .unwrap()
            .sin()
            .unwrap()
            .affine(4.0, 0.0)
            .unwrap()
            .reshape((4, 2, 3, 5))
            .unwrap();
        let close = |a: &Tensor, b: &Tensor, tol: f32| {
            let d = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < tol, "{d}");
        };
        let bias = Tensor::new(&[0.5f32, -1.0, 0.0, 2.0, 0.25], &dev).unwrap();
        let gelu = BiasGelu {
            bias: bias.to_vec1().unwrap(),
        };
        close(
            &gelu.forward(&x).unwrap(),
            &x.broadcast_add(&bias).unwrap().gelu_erf().unwrap(),
            1e-6,
        );

        let residual = x.cos().unwrap();
        let (gamma, beta) = (
            Tensor::new(&[1.0f32, 2.0, 0.5, -1.0, 1.5], &dev).unwrap(),
            Tensor::new(&[0.1f32, 0.0, -0.2, 0.3, 0.0], &dev).unwrap(),
        );
        let norm = AddNorm {
            bias: bias.to_vec1().unwrap(),
            gamma: gamma.to_vec1().unwrap(),
            beta: beta.to_vec1().unwrap(),
            eps: 1e-12,
        };
        let want = candle_nn::LayerNorm::new(gamma, beta, 1e-12)
            .forward(&(x.broadcast_add(&bias).unwrap() + &residual).unwrap())
            .unwrap();
        close(&norm.forward(&x, &residual).unwrap(), &want, 1e-5);

        // 2 sequences of 3 tokens, 2 heads of 2: (6, 12) rows.
        let qkv = Tensor::arange(0f32, 72.0, &dev)
            .unwrap()
            .reshape((6, 12))
            .unwrap();
        let qkv_bias: Vec<f32> = (0..12).map(|i| i as f32 * 100.0).collect();
        let split = SplitHeads {
            bias: qkv_bias.clone(),
            heads: 2,
            head_dim: 2,
        }
        .forward(&qkv, 3)
        .unwrap();
        let with_bias = qkv
            .broadcast_add(&Tensor::new(qkv_bias.as_slice(), &dev).unwrap())
            .unwrap();
        for part in 0..3 {
            let want = with_bias
                .narrow(1, part * 4, 4)
                .unwrap()
                .reshape((2, 3, 2, 2))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap();
            let got = split.get(part).unwrap();
            assert!(got.is_contiguous());
            close(&got, &want, 1e-6);
        }

        // Padding: the last two keys of the second sequence.
        let mask = Tensor::new(
            &[
                [1f32, 1.0, 1.0, 1.0, 1.0],
                [1.0, 1.0, 1.0, 0.0, 0.0],
                [1.0, 1.0, 1.0, 1.0, 0.0],
                [1.0, 0.0, 0.0, 0.0, 0.0],
            ],
            &dev,
        )
        .unwrap();
        let bias = ((mask.ones_like().unwrap() - &mask).unwrap() * -1e4).unwrap();
        let want = candle_nn::ops::softmax_last_dim(
            &x.broadcast_add(&bias.reshape((4, 1, 1, 5)).unwrap())
                .unwrap(),
        )
        .unwrap();
        let got = masked_softmax(&x, &bias).unwrap();
        close(&got, &want, 1e-6);
        close(
            &got.sum(D::Minus1).unwrap(),
            &Tensor::ones((4, 2, 3), candle_core::DType::F32, &dev).unwrap(),
            1e-6,
        );
    }
}
