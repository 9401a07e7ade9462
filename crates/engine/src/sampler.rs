//! Choosing the next token from the logits.
//!
//! The chain follows llama.cpp's default order: repeat penalty, top-k, top-p,
//! min-p, temperature, then a draw from the remaining distribution. Temperature
//! 0 short-circuits to argmax, which is deterministic (ties go to the lowest id).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// How to pick tokens. Plain data: it travels in requests and is stored with chats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature; `<= 0` is greedy.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probabilities add up to `top_p` (1 = off).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = off).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recently seen tokens (1 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: usize,
    /// Seed for the draw; `None` picks one at random (reported in the stats).
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Always the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EngineError> {
        let bad = |what: &str| Err(EngineError::InvalidRequest(what.to_owned()));
        if !self.temperature.is_finite() {
            return bad("temperature must be a finite number");
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top_p must be between 0 and 1");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be between 0 and 1");
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad("repeat_penalty must be a positive number");
        }
        Ok(())
    }
}

/// A seeded sampler for one generation.
pub(crate) struct Sampler {
    params: SamplingParams,
    seed: u64,
    rng: StdRng,
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub(crate) fn new(params: SamplingParams) -> Result<Self, EngineError> {
        params.validate()?;
        let seed = params.seed.unwrap_or_else(rand::random);
        Ok(Self {
            params,
            seed,
            rng: StdRng::seed_from_u64(seed),
            candidates: Vec::new(),
        })
    }

    /// The seed in use (the given one, or the one picked at random).
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Picks the next token. `logits` is modified (penalties); `history` is every
    /// token so far, prompt included.
    pub(crate) fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repeat_penalty != 1.0 && p.repeat_last_n > 0 {
            let recent = &history[history.len().saturating_sub(p.repeat_last_n)..];
            let mut seen = recent.to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 {
                        *l / p.repeat_penalty
                    } else {
                        *l * p.repeat_penalty
                    };
                }
            }
        }
        if p.temperature <= 0.0 {
            return argmax(logits);
        }

        // Top-k: partition instead of sorting the whole vocabulary.
        let c = &mut self.candidates;
        c.clear();
        c.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.is_nan())
                .map(|(i, &l)| (i as u32, l)),
        );
        if c.is_empty() {
            return 0;
        }
        let by_logit_desc =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < c.len() {
            c.select_nth_unstable_by(p.top_k - 1, by_logit_desc);
            c.truncate(p.top_k);
        }
        c.sort_unstable_by(by_logit_desc);

        // Probabilities at temperature 1 for the truncation steps, as llama.cpp does.
        let probs = softmax(c.iter().map(|&(_, l)| l));
        if p.top_p < 1.0 {
            let mut total = 0.0;
            let keep = probs
                .iter()
                .position(|&q| {
                    total += q;
                    total >= p.top_p
                })
                .map_or(c.len(), |i| i + 1);
            c.truncate(keep.max(1));
        }
        if p.min_p > 0.0 {
            let floor = probs[0] * p.min_p;
            let keep = probs
                .iter()
                .take(c.len())
                .take_while(|&&q| q >= floor)
                .count();
            c.truncate(keep.max(1));
        }

        let weights = softmax(c.iter().map(|&(_, l)| l / p.temperature));
        let mut draw: f32 = self.rng.random();
        for (&(id, _), w) in c.iter().zip(&weights) {
            draw -= w;
            if draw <= 0.0 {
                return id;
            }
        }
        c[c.len() - 1].0
    }
}

/// Index of the largest logit (the lowest index among equals); NaN never wins.
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_l = f32::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if l > best_l {
            best = i;
            best_l = l;
        }
    }
    best as u32
}

fn softmax(logits: impl Iterator<Item = f32> + Clone) -> Vec<f32> {
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
        let mut p = SamplingParams {
            seed: Some(7),
            ..SamplingParams::default()
        };
        f(&mut p);
        p
    }

    #[test]
    fn greedy_is_argmax_with_lowest_id_on_ties() {
        let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
        assert_eq!(s.sample(&mut [0.1, 3.0, 3.0, -1.0], &[]), 1);
        assert_eq!(s.sample(&mut [f32::NAN, 0.5, 0.2], &[]), 1);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_seeds_differ() {
        let logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 / 20.0).collect();
        let run = |seed| {
            let mut s = Sampler::new(params(|p| {
                p.seed = Some(seed);
                p.top_k = 0;
                p.top_p = 1.0;
                p.min_p = 0.0;
                p.temperature = 1.5;
            }))
            .unwrap();
            (0..50)
                .map(|_| s.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn top_k_one_is_greedy() {
        let mut s = Sampler::new(params(|p| p.top_k = 1)).unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [1.0, 2.0, 1.9, 0.0], &[]), 1);
        }
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        // One dominant token (p ~ 0.94): top_p 0.5 keeps it alone.
        let mut s = Sampler::new(params(|p| {
            p.top_k = 0;
            p.top_p = 0.5;
            p.min_p = 0.0;
        }))
        .unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [5.0, 2.0, 1.0, 0.0], &[]), 0);
        }
        // min_p 0.5: token 1 (p ratio e^-0.1) survives, tokens 2-3 do not.
        let mut s = Sampler::new(params(|p| {
            p.top_k = 0;
            p.top_p = 1.0;
            p.min_p = 0.5;
        }))
        .unwrap();
        let mut seen = [0; 4];
        for _ in 0..200 {
            seen[s.sample(&mut [5.0, 4.9, 1.0, 0.0], &[]) as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
    }

    #[test]
    fn repeat_penalty_discourages_recent_tokens() {
        let mut s = Sampler::new(params(|p| {
            p.temperature = 0.0;
            p.repeat_penalty = 2.0;
        }))
        .unwrap();
        // Token 0 leads, but it was just used: 3.0 / 2 < 2.0.
        assert_eq!(s.sample(&mut [3.0, 2.0, -1.0], &[0]), 1);
        // Negative logits are pushed further down, not up.
        assert_eq!(s.sample(&mut [-1.0, -1.5], &[1]), 0);
    }

    #[test]
    fn invalid_params_are_refused() {
        for bad in [
            params(|p| p.temperature = f32::NAN),
            params(|p| p.top_p = 1.5),
            params(|p| p.min_p = -0.1),
            params(|p| p.repeat_penalty = 0.0),
        ] {
            assert!(matches!(
                Sampler::new(bad),
                Err(EngineError::InvalidRequest(_))
            ));
        }
    }
}
