//! Log-probabilities of generated tokens: the exact log-softmax of the logits
//! over the whole vocabulary, so two engines can be compared token by token.

use hearth_backend::{TokenLogprob, TopLogprob};

use crate::vocab::Vocab;

/// The distribution at one position: what is needed to report the token
/// chosen there and the most likely alternatives.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    /// `log(sum(exp(logits)))`.
    log_norm: f64,
    /// The most likely tokens with their logits, most likely first.
    top: Vec<(u32, f32)>,
    /// All logits, copied before the sampler changes them: the chosen token
    /// is looked up here once it is known.
    logits: Vec<f32>,
}

impl Position {
    /// The distribution of `logits`, keeping the `top` most likely tokens.
    pub(crate) fn new(logits: &[f32], top: usize) -> Self {
        let mut ids: Vec<u32> = (0..u32::try_from(logits.len()).unwrap_or(u32::MAX)).collect();
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
        if top > 0 && top < ids.len() {
            ids.select_nth_unstable_by(top - 1, by_logit);
        }
        ids.truncate(top);
        // Most likely first; equal logits by id, so the order is stable.
        ids.sort_by(|a, b| by_logit(a, b).then(a.cmp(b)));
        Self {
            log_norm: log_sum_exp(logits),
            top: ids.iter().map(|&i| (i, logits[i as usize])).collect(),
            logits: logits.to_vec(),
        }
    }

    fn logprob(&self, logit: f32) -> f32 {
        (f64::from(logit) - self.log_norm) as f32
    }

    /// The report for `token`, chosen at this position.
    pub(crate) fn of(&self, token: u32, vocab: &dyn Vocab) -> TokenLogprob {
        let piece = |id: u32| {
            let bytes = vocab.bytes(id).to_vec();
            (String::from_utf8_lossy(&bytes).into_owned(), bytes)
        };
        let (text, bytes) = piece(token);
        let logit = self
            .logits
            .get(token as usize)
            .copied()
            .unwrap_or(f32::NEG_INFINITY);
        TokenLogprob {
            token: text,
            bytes,
            logprob: self.logprob(logit),
            top: self
                .top
                .iter()
                .map(|&(id, logit)| {
                    let (token, bytes) = piece(id);
                    TopLogprob {
                        token,
                        bytes,
                        logprob: self.logprob(logit),
                    }
                })
                .collect(),
        }
    }
}

/// `log(sum(exp(x)))`, shifted by the maximum so it cannot overflow.
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let max = f64::from(max);
    let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_exact_on_small_rows_and_does_not_overflow() {
        let row = [0.0f32, 0.0, 0.0, 0.0];
        assert!((log_sum_exp(&row) - 4f64.ln()).abs() < 1e-12);
        let big = [1000.0f32, 1000.0];
        assert!((log_sum_exp(&big) - (1000.0 + 2f64.ln())).abs() < 1e-9);
    }

    struct Letters;

    impl Vocab for Letters {
        fn bytes(&self, id: u32) -> &[u8] {
            const L: &[u8] = b"abcdef";
            L.get(id as usize).map_or(&[], std::slice::from_ref)
        }

        fn is_stop(&self, _: u32) -> bool {
            false
        }
    }

    #[test]
    fn logprobs_are_the_log_softmax_and_the_top_is_ordered() {
        let logits = [1.0f32, 3.0, 2.0, 3.0, -1.0, 0.0];
        let norm: f64 = logits.iter().map(|&x| f64::from(x).exp()).sum::<f64>().ln();
        let position = Position::new(&logits, 3);
        let report = position.of(2, &Letters);
        assert_eq!(report.token, "c");
        assert_eq!(report.bytes, b"c");
        assert!((f64::from(report.logprob) - (2.0 - norm)).abs() < 1e-6);
        let top: Vec<&str> = report.top.iter().map(|t| t.token.as_str()).collect();
        assert_eq!(top, ["b", "d", "c"], "most likely first, ties by id");
        let total: f64 = logits.iter().map(|&x| (f64::from(x) - norm).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_alternatives_when_none_are_asked_and_all_when_more_than_the_vocabulary() {
        let logits = [0.5f32, 0.25];
        assert!(Position::new(&logits, 0).of(1, &Letters).top.is_empty());
        assert_eq!(Position::new(&logits, 20).of(1, &Letters).top.len(), 2);
    }
}
