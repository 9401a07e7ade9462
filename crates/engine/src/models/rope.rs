//! Rotary position embeddings: the cos/sin tables the layers turn queries and
//! keys with, and the rope scalings a file declares under
//! `{arch}.rope.scaling.*` (linear, YaRN; LongRoPE and llama 3 keep their
//! per-frequency divisors in tensors, which the family files read).
//!
//! Learned from llama.cpp: how it reads the keys (`llama-model.cpp`,
//! `load_hparams`), sets YaRN up (`llama-context.cpp`: `yarn_ext_factor`,
//! `yarn_attn_factor`) and turns each pair of dimensions (`rope_yarn` in
//! `ggml-cpu/ops.cpp`, `ggml_rope_yarn_corr_dims` in `ggml.c`); written for
//! Hearth.

use candle_core::{D, Device, Result, Tensor};

use crate::error::EngineError;
use crate::gguf::GgufFile;

/// YaRN's ramp runs from the pair of dimensions that turns this many times
/// over the original context (and faster: kept as trained)...
const YARN_BETA_FAST: f32 = 32.0;
/// ...to the one that turns this many times (and slower: interpolated).
/// llama.cpp's defaults (`llama_hparams::yarn_beta_fast/slow`), which it
/// uses for every architecture Hearth runs.
const YARN_BETA_SLOW: f32 = 1.0;

/// How a file stretches its rope beyond the context it was first trained for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RopeScaling {
    None,
    /// Every frequency divided by `factor` (positions squeezed).
    Linear {
        factor: f64,
    },
    /// YaRN: high frequencies kept, low ones divided by the factor, a ramp
    /// between them, and cos and sin scaled up ([`Yarn`]).
    Yarn(Yarn),
}

/// YaRN (Peng et al. 2023) as llama.cpp applies it: at every position, not
/// only past the original context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Yarn {
    /// `rope.scaling.factor`.
    pub(crate) factor: f64,
    /// The context the ramp is measured against
    /// (`rope.scaling.original_context_length`, else `context_length`).
    pub(crate) orig_ctx: usize,
}

/// The `rope.scaling.type` values llama.cpp knows (`LLAMA_ROPE_SCALING_TYPES`).
const SCALING_TYPES: &str = "none, linear, yarn, longrope";

impl RopeScaling {
    /// Reads `{arch}.rope.scaling.type` and `.factor` as llama.cpp does: no
    /// type means linear (with no factor, nothing), `none` ignores the
    /// factor, `longrope` takes it as a linear one (its own divisors are
    /// tensors), and any other type is refused: llama.cpp stops at it too.
    pub(crate) fn read(gguf: &GgufFile, orig_ctx: usize) -> std::result::Result<Self, EngineError> {
        let type_key = gguf.arch_key("rope.scaling.type")?;
        let kind = gguf.optional(&type_key, GgufFile::get_str)?;
        let factor_key = gguf.arch_key("rope.scaling.factor")?;
        let factor = match gguf.optional(&factor_key, GgufFile::get_f64)? {
            Some(f) => Some(f),
            // The key's name in files from before rope.scaling.* (2023).
            None => gguf.optional(&gguf.arch_key("rope.scale_linear")?, GgufFile::get_f64)?,
        }
        // llama.cpp reads 0 as no scaling.
        .filter(|&f| f != 0.0);
        let bad = |reason: String| EngineError::InvalidGguf {
            path: gguf.path().to_path_buf(),
            reason,
        };
        if let Some(f) = factor.filter(|f| !(f.is_finite() && *f > 0.0)) {
            return Err(bad(format!("{factor_key} is {f}")));
        }
        let scaling = match kind {
            Some("none") => Self::None,
            None | Some("linear" | "longrope") => {
                factor.map_or(Self::None, |factor| Self::Linear { factor })
            }
            Some("yarn") => Self::Yarn(Yarn {
                factor: factor.unwrap_or(1.0),
                orig_ctx,
            }),
            Some(other) => {
                return Err(bad(format!(
                    "{type_key} is \"{other}\", a rope scaling Hearth cannot run (it runs \
                     {SCALING_TYPES})"
                )));
            }
        };
        if let Self::Yarn(yarn) = scaling {
            warn_unapplied_yarn_keys(gguf, &yarn)?;
        }
        Ok(scaling)
    }
}

/// llama.cpp reads `rope.scaling.yarn_*` only for other architectures (grok,
/// mistral3, deepseek2), so it runs the ones Hearth runs with the defaults
/// whatever the file says, and so does Hearth, to give the same answers. Says
/// so when a file asks for something else.
fn warn_unapplied_yarn_keys(gguf: &GgufFile, yarn: &Yarn) -> std::result::Result<(), EngineError> {
    let applied = [
        ("rope.scaling.yarn_beta_fast", f64::from(YARN_BETA_FAST)),
        ("rope.scaling.yarn_beta_slow", f64::from(YARN_BETA_SLOW)),
        ("rope.scaling.yarn_ext_factor", 1.0),
        ("rope.scaling.yarn_attn_factor", f64::from(yarn.mscale())),
        ("rope.scaling.yarn_log_multiplier", 0.0),
    ];
    for (suffix, used) in applied {
        let key = gguf.arch_key(suffix)?;
        if let Some(value) = gguf.optional(&key, GgufFile::get_f64)?
            && (value - used).abs() > 1e-3 * used.abs().max(1.0)
        {
            tracing::warn!(
                "{key} is {value}; Hearth uses {used}, as llama.cpp does for this architecture"
            );
        }
    }
    Ok(())
}

impl Yarn {
    /// The first and last pair of dimensions of the ramp, in llama.cpp's f32
    /// arithmetic (a pair on the edge falls on the same side): the pair that
    /// turns `beta` times over the original context is
    /// `dim · ln(orig_ctx / (2π · beta)) / (2 · ln base)`, rounded outwards,
    /// and both are kept inside the rotated dimensions.
    fn ramp_ends(&self, dim: usize, base: f64) -> (f32, f32) {
        let dim = dim as f32;
        let pair_turning = |beta: f32| {
            dim * (self.orig_ctx as f32 / (beta * 2.0 * std::f32::consts::PI)).ln()
                / (2.0 * (base as f32).ln())
        };
        let first = pair_turning(YARN_BETA_FAST).floor().max(0.0);
        let last = pair_turning(YARN_BETA_SLOW).ceil().min(dim - 1.0);
        (first, last)
    }

    /// How much of pair `i`'s own (extrapolated) frequency it keeps: 1 up
    /// to the ramp's first pair, 0 from its last, linear between.
    fn keep(ends: (f32, f32), i: usize) -> f32 {
        let (first, last) = ends;
        let y = (i as f32 - first) / (last - first).max(0.001);
        1.0 - y.clamp(0.0, 1.0)
    }

    /// The attention magnitude scale cos and sin are multiplied by:
    /// `1 + 0.1 · ln(factor)` (1 for a factor up to 1). llama.cpp folds the
    /// same value into `yarn_attn_factor` and then cancels it there, so only
    /// this and `rope.scaling.attn_factor` remain.
    pub(crate) fn mscale(&self) -> f32 {
        let factor = self.factor as f32;
        if factor <= 1.0 {
            1.0
        } else {
            1.0 + 0.1 * factor.ln()
        }
    }
}

/// Which pairs of a head's dimensions one rotation mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RopeLayout {
    /// `(2i, 2i+1)`: llama-family GGUF, whose converter permutes the q/k rows
    /// back to Meta's interleaved order (llama.cpp's `LLAMA_ROPE_TYPE_NORM`).
    Interleaved,
    /// `(i, i + d/2)`: the Hugging Face layout, kept as-is by the converter for
    /// qwen2/qwen3/phi3/gemma3 (`LLAMA_ROPE_TYPE_NEOX`).
    Halves,
}

/// How to build one rotary table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RopeSpec {
    pub(crate) dim: usize,
    pub(crate) base: f64,
    pub(crate) scaling: RopeScaling,
    /// Per-frequency divisors (llama 3's `rope_freqs.weight`, Phi-3's
    /// `rope_factors_long/short.weight`).
    pub(crate) freq_factors: Option<Vec<f32>>,
    /// cos and sin are multiplied by it (`rope.scaling.attn_factor`, else
    /// 1), and by YaRN's own scale on top.
    pub(crate) attn_factor: f64,
    pub(crate) layout: RopeLayout,
}

impl RopeSpec {
    /// The angle each pair of rotated dimensions turns by per position, in
    /// f32 like llama.cpp's rope.
    fn frequencies(&self) -> Vec<f32> {
        let (factor, ramp) = match self.scaling {
            RopeScaling::None => (1.0, None),
            RopeScaling::Linear { factor } => (factor as f32, None),
            RopeScaling::Yarn(yarn) => (
                yarn.factor as f32,
                Some(yarn.ramp_ends(self.dim, self.base)),
            ),
        };
        (0..self.dim / 2)
            .map(|i| {
                let f = 1.0 / (self.base as f32).powf((2 * i) as f32 / self.dim as f32);
                let divisor = self
                    .freq_factors
                    .as_ref()
                    .and_then(|ff| ff.get(i))
                    .map_or(1.0, |&x| x);
                let own = f / divisor;
                let squeezed = own / factor;
                match ramp {
                    None => squeezed,
                    Some(ends) => {
                        let keep = Yarn::keep(ends, i);
                        squeezed * (1.0 - keep) + own * keep
                    }
                }
            })
            .collect()
    }

    /// What cos and sin are multiplied by.
    fn magnitude(&self) -> f32 {
        let yarn = match self.scaling {
            RopeScaling::Yarn(yarn) => yarn.mscale(),
            RopeScaling::None | RopeScaling::Linear { .. } => 1.0,
        };
        self.attn_factor as f32 * yarn
    }
}

/// cos/sin tables `[context, dim/2]`, built once per distinct [`RopeSpec`] and
/// shared by the layers (a `Tensor` clone is a reference count).
#[derive(Debug, Clone)]
pub(crate) struct Rotary {
    cos: Tensor,
    sin: Tensor,
    dim: usize,
    layout: RopeLayout,
}

impl Rotary {
    fn new(spec: &RopeSpec, context: usize, device: &Device) -> Result<Self> {
        let half = spec.dim / 2;
        let freqs = spec.frequencies();
        let mscale = spec.magnitude();
        let mut cos = Vec::with_capacity(context * half);
        let mut sin = Vec::with_capacity(context * half);
        for p in 0..context {
            for f in &freqs {
                let angle = p as f32 * f;
                cos.push(angle.cos() * mscale);
                sin.push(angle.sin() * mscale);
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (context, half), device)?,
            sin: Tensor::from_vec(sin, (context, half), device)?,
            dim: spec.dim,
            layout: spec.layout,
        })
    }

    /// Rotates contiguous `[1, heads, t, head_dim]` for positions `pos..pos + t`.
    pub(crate) fn apply(&self, x: &Tensor, pos: usize) -> Result<Tensor> {
        let (_, _, t, head_dim) = x.dims4()?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let rope = |x: &Tensor| match self.layout {
            RopeLayout::Interleaved => candle_nn::rotary_emb::rope_i(x, &cos, &sin),
            RopeLayout::Halves => candle_nn::rotary_emb::rope(x, &cos, &sin),
        };
        if self.dim == head_dim {
            return rope(x);
        }
        // Partial rotary: only the first `dim` dimensions of each head turn.
        // Both halves contiguous, so the result is too (candle concatenates
        // views through transposes): the one-token attention kernel reads it
        // as a plain buffer.
        let turned = rope(&x.narrow(D::Minus1, 0, self.dim)?.contiguous()?)?;
        let rest = x
            .narrow(D::Minus1, self.dim, head_dim - self.dim)?
            .contiguous()?;
        Tensor::cat(&[&turned, &rest], D::Minus1)
    }
}

/// Builds rotary tables, reusing one per distinct spec.
#[derive(Debug)]
pub(crate) struct RotaryTables {
    context: usize,
    built: Vec<(RopeSpec, Rotary)>,
}

impl RotaryTables {
    pub(crate) fn new(context: usize) -> Self {
        Self {
            context,
            built: Vec::new(),
        }
    }

    pub(crate) fn get(&mut self, spec: RopeSpec, device: &Device) -> Result<Rotary> {
        if let Some((_, r)) = self.built.iter().find(|(s, _)| *s == spec) {
            return Ok(r.clone());
        }
        let r = Rotary::new(&spec, self.context, device)?;
        self.built.push((spec, r.clone()));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(dim: usize) -> RopeSpec {
        RopeSpec {
            dim,
            base: 10000.0,
            scaling: RopeScaling::None,
            freq_factors: None,
            attn_factor: 1.0,
            layout: RopeLayout::Halves,
        }
    }

    #[test]
    fn partial_rotary_turns_the_first_dims_and_gives_a_contiguous_tensor() {
        let rotary = Rotary::new(&plain(4), 16, &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 2.0 * 6.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 2, 1, 6))
            .unwrap();
        let y = rotary.apply(&x, 3).unwrap();
        assert!(
            y.is_contiguous(),
            "the one-token attention reads it as a buffer"
        );
        let (x, y) = (
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for head in 0..2 {
            let at = head * 6;
            assert_eq!(
                y[at + 4..at + 6],
                x[at + 4..at + 6],
                "the rest is untouched"
            );
            assert_ne!(y[at..at + 4], x[at..at + 4], "the rotary part turned");
        }
    }

    #[test]
    fn the_attention_factor_scales_the_rotated_vectors_and_turns_them_the_same() {
        let spec = |attn_factor| RopeSpec {
            freq_factors: Some(vec![1.0, 2.0, 4.0, 8.0]),
            attn_factor,
            ..plain(8)
        };
        let x = Tensor::arange(1f32, 17.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 8))
            .unwrap();
        let turn = |attn_factor| {
            Rotary::new(&spec(attn_factor), 64, &Device::Cpu)
                .unwrap()
                .apply(&x, 40)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (plain, scaled) = (turn(1.0), turn(1.19));
        for (p, s) in plain.iter().zip(&scaled) {
            assert!(
                (s - 1.19 * p).abs() <= 1e-5 * p.abs().max(1.0),
                "{s} vs {p}"
            );
        }
    }

    /// Qwen2.5's rotary (64 dimensions, base 1e6) with YaRN, factor 4, over
    /// an original context of `orig_ctx`.
    fn yarn(orig_ctx: usize) -> RopeSpec {
        RopeSpec {
            base: 1e6,
            scaling: RopeScaling::Yarn(Yarn {
                factor: 4.0,
                orig_ctx,
            }),
            ..plain(64)
        }
    }

    /// YaRN written from the paper's wavelengths, in f64: the pair `i`
    /// turns `orig_ctx / (2π · base^(2i/dim))` times over the original
    /// context; pairs turning at least 32 times keep their frequency, pairs
    /// turning at most once are divided by the factor, and the ramp between
    /// runs over whole pairs, from the last one that turns 32 times to the
    /// first that turns at most once.
    fn yarn_by_wavelengths(dim: usize, base: f64, orig_ctx: usize, factor: f64) -> Vec<f64> {
        let turns = |i: usize| {
            let wavelength = 2.0 * std::f64::consts::PI * base.powf(2.0 * i as f64 / dim as f64);
            orig_ctx as f64 / wavelength
        };
        let half = dim / 2;
        let first = (0..half)
            .take_while(|&i| turns(i) >= 32.0)
            .last()
            .unwrap_or(0);
        let last = (0..dim).find(|&i| turns(i) <= 1.0).unwrap_or(dim - 1);
        (0..half)
            .map(|i| {
                let own = base.powf(-2.0 * i as f64 / dim as f64);
                let keep = if i <= first {
                    1.0
                } else if i >= last {
                    0.0
                } else {
                    1.0 - (i - first) as f64 / (last - first) as f64
                };
                own * keep + own / factor * (1.0 - keep)
            })
            .collect()
    }

    #[test]
    fn yarn_frequencies_keep_the_fast_pairs_divide_the_slow_ones_and_ramp_between() {
        for orig_ctx in [1024, 4096, 32768] {
            let spec = yarn(orig_ctx);
            let ours = spec.frequencies();
            let want = yarn_by_wavelengths(64, 1e6, orig_ctx, 4.0);
            assert_eq!(ours.len(), want.len());
            for (i, (o, w)) in ours.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(*o) / w - 1.0).abs() < 1e-5,
                    "original context {orig_ctx}, pair {i}: {o} vs {w}"
                );
            }
        }
        // By hand for 1024: the pair turning 32 times is
        // 64 · ln(1024 / 64π) / (2 · ln 1e6) = 3.77, the one turning once 11.80.
        let RopeScaling::Yarn(y) = yarn(1024).scaling else {
            unreachable!()
        };
        assert_eq!(y.ramp_ends(64, 1e6), (3.0, 12.0));
        let f = yarn(1024).frequencies();
        let own = |i: i32| 1e6f64.powf(-2.0 * f64::from(i) / 64.0);
        let near = |ours: f32, want: f64| (f64::from(ours) / want - 1.0).abs() < 1e-6;
        assert!(near(f[3], own(3)), "kept");
        assert!(near(f[12], own(12) / 4.0), "divided");
        let keep = 1.0 - (7.0 - 3.0) / 9.0;
        assert!(
            near(f[7], own(7) * keep + own(7) / 4.0 * (1.0 - keep)),
            "between"
        );
    }

    #[test]
    fn yarn_scales_cos_and_sin_by_its_magnitude_times_the_attention_factor() {
        // 1 + 0.1 · ln 4.
        assert!((yarn(1024).magnitude() - 1.138_629_4).abs() < 1e-6);
        let with_attn = RopeSpec {
            attn_factor: 1.5,
            ..yarn(1024)
        };
        assert!((with_attn.magnitude() - 1.5 * 1.138_629_4).abs() < 1e-5);
        // No stretch, nothing changes: the frequencies are the plain ones
        // and the magnitude is 1.
        let unit = RopeSpec {
            scaling: RopeScaling::Yarn(Yarn {
                factor: 1.0,
                orig_ctx: 1024,
            }),
            ..yarn(1024)
        };
        let none = RopeSpec {
            scaling: RopeScaling::None,
            ..yarn(1024)
        };
        for (u, n) in unit.frequencies().iter().zip(none.frequencies()) {
            assert!((u / n - 1.0).abs() < 1e-6);
        }
        assert_eq!(unit.magnitude(), 1.0);
        // The table: cos(p · f) · mscale at position p.
        let rotary = Rotary::new(&yarn(1024), 100, &Device::Cpu).unwrap();
        let cos = rotary.cos.to_vec2::<f32>().unwrap();
        let f = yarn(1024).frequencies();
        for (p, i) in [(0, 0), (99, 0), (99, 7), (50, 31)] {
            let want = (p as f32 * f[i]).cos() * 1.138_629_4;
            assert!((cos[p][i] - want).abs() < 1e-5, "{p} {i}");
        }
    }

    #[test]
    fn linear_scaling_divides_every_frequency() {
        let linear = RopeSpec {
            scaling: RopeScaling::Linear { factor: 8.0 },
            ..plain(16)
        };
        for (l, p) in linear.frequencies().iter().zip(plain(16).frequencies()) {
            assert!((l * 8.0 / p - 1.0).abs() < 1e-6);
        }
        assert_eq!(linear.magnitude(), 1.0);
    }
}
