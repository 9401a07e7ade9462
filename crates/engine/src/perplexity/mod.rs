//! The perplexity of a text, scored the way llama.cpp's `llama-perplexity`
//! scores it, so the two engines can be compared on the same file and text:
//!
//! - the whole text is tokenized once (BOS first when the model wants one);
//! - it is cut into non-overlapping windows of `context` tokens (a partial
//!   last window is dropped), each run from an empty cache;
//! - the first token of each window is replaced by BOS when the model adds one;
//! - only the second half of each window is scored: the logits at positions
//!   `context/2 .. context-1` against the tokens that follow them, so every
//!   scored token has at least half a window before it.
//!
//! The negative log-likelihood is summed in f64 over an exact log-softmax of
//! the full vocabulary.
//!
//! Given llama.cpp's own log-probabilities for the same file and text
//! ([`LlamaLogits`]), the same run also compares the two engines position by
//! position ([`Agreement`]).

mod reference;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::generate::PREFILL_CHUNK;
use crate::logprobs::log_sum_exp;
use crate::models::Model;

pub use reference::{Agreement, CONFIDENT_MARGIN, LlamaLogits};

/// How to score a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerplexityOptions {
    /// Window length in tokens (llama.cpp's `--ctx-size`).
    pub context: usize,
    /// Score at most this many windows (llama.cpp's `--chunks`).
    pub max_chunks: Option<usize>,
}

/// The result of [`crate::Engine::perplexity`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Perplexity {
    /// `exp` of the mean negative log-likelihood of the scored tokens.
    pub ppl: f64,
    /// Its standard error, computed as llama.cpp prints it after `+/-`.
    pub ppl_stderr: f64,
    /// Tokens in the whole text.
    pub tokens: usize,
    /// Windows scored.
    pub chunks: usize,
    /// Window length.
    pub context: usize,
    /// Tokens scored (`chunks * (context - 1 - context / 2)`).
    pub scored: usize,
    /// How the scores compare with llama.cpp's, when its were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versus_llama: Option<Agreement>,
}

/// Progress of a scoring run, as llama.cpp prints it (`[1]12.34,[2]…`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkScored {
    /// 1-based number of the window just scored.
    pub chunk: usize,
    /// Of how many.
    pub of: usize,
    /// The running estimate over the windows so far.
    pub ppl: f64,
}

/// Running sums of the negative log-likelihood.
#[derive(Debug, Default)]
struct Nll {
    sum: f64,
    sum_sq: f64,
    count: usize,
}

impl Nll {
    fn add(&mut self, nll: f64) {
        self.sum += nll;
        self.sum_sq += nll * nll;
        self.count += 1;
    }

    fn ppl(&self) -> f64 {
        (self.sum / self.count.max(1) as f64).exp()
    }

    /// The standard error of the perplexity (the delta method on the mean).
    fn stderr(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = self.sum_sq / n - mean * mean;
        if var > 0.0 {
            (var / (n - 1.0)).sqrt() * mean.exp()
        } else {
            0.0
        }
    }
}

/// Scores `tokens` (the whole text, already tokenized) on `model`, in a
/// cache of its own (dropped at the end). `bos` is the model's BOS when it adds one. With `reference`,
/// whose tokens `tokens` must be, each scored position is also compared with
/// llama.cpp's.
pub(crate) fn score(
    model: &dyn Model,
    tokens: &[u32],
    bos: Option<u32>,
    options: PerplexityOptions,
    mut reference: Option<&mut LlamaLogits>,
    cancel: &CancellationToken,
    on_chunk: &mut dyn FnMut(ChunkScored),
) -> Result<Perplexity, EngineError> {
    let context = options.context;
    if let Some(file) = reference.as_deref().filter(|f| f.context() != context) {
        return Err(EngineError::InvalidRequest(format!(
            "llama.cpp scored windows of {} tokens, not {context}",
            file.context()
        )));
    }
    let mut agreement = Agreement::default();
    let mut theirs = Vec::new();
    if context < 4 {
        return Err(EngineError::InvalidRequest(format!(
            "a perplexity window of {context} tokens is too short (at least 4)"
        )));
    }
    let available = tokens.len() / context;
    if available == 0 {
        return Err(EngineError::InvalidRequest(format!(
            "the text is {} tokens, shorter than one window of {context}",
            tokens.len()
        )));
    }
    let chunks = options.max_chunks.map_or(available, |k| k.min(available));
    if chunks == 0 {
        return Err(EngineError::InvalidRequest(
            "at least one chunk must be scored".into(),
        ));
    }
    let first = context / 2;
    let mut cache = model.new_cache();
    let mut nll = Nll::default();
    let result = (|| {
        for chunk in 0..chunks {
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let window = &tokens[chunk * context..(chunk + 1) * context];
            let mut input = window.to_vec();
            if let Some(bos) = bos {
                input[0] = bos;
            }
            cache.truncate(0);
            let mut pos = 0;
            for batch in input.chunks(PREFILL_CHUNK) {
                let end = pos + batch.len();
                // Rows wanted from this batch: positions first..context-1.
                let from = pos.max(first);
                let to = end.min(context - 1);
                if from < to {
                    let logits = model.forward_tail(&mut cache, batch, pos, end - from)?;
                    for p in from..to {
                        let row: Vec<f32> = logits
                            .get(p - from)?
                            .to_dtype(candle_core::DType::F32)?
                            .to_vec1()?;
                        let next = window[p + 1];
                        nll.add(-log_softmax_at(&row, next)?);
                        if let Some(file) = reference.as_deref_mut() {
                            if row.len() != file.vocab() {
                                return Err(EngineError::InvalidRequest(format!(
                                    "llama.cpp's logits are over {} tokens, this model's over {}",
                                    file.vocab(),
                                    row.len()
                                )));
                            }
                            let reference = file.next_row(&mut theirs)?;
                            agreement.add(&row, &reference);
                        }
                    }
                } else {
                    model.forward_tail(&mut cache, batch, pos, 1)?;
                }
                pos = end;
            }
            on_chunk(ChunkScored {
                chunk: chunk + 1,
                of: chunks,
                ppl: nll.ppl(),
            });
        }
        Ok(())
    })();
    result?;
    Ok(Perplexity {
        ppl: nll.ppl(),
        ppl_stderr: nll.stderr(),
        tokens: tokens.len(),
        chunks,
        context,
        scored: nll.count,
        versus_llama: reference.map(|_| agreement),
    })
}

/// `log softmax(row)[token]`, in f64 over the whole row.
pub(crate) fn log_softmax_at(row: &[f32], token: u32) -> Result<f64, EngineError> {
    let Some(&picked) = row.get(token as usize) else {
        return Err(EngineError::InvalidRequest(format!(
            "token id {token} is outside the logits of {} entries",
            row.len()
        )));
    };
    Ok(f64::from(picked) - log_sum_exp(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_follows_the_spread_of_the_nll() {
        let mut same = Nll::default();
        for _ in 0..10 {
            same.add(2.0);
        }
        assert!((same.ppl() - 2f64.exp()).abs() < 1e-12);
        assert_eq!(same.stderr(), 0.0);
        let mut spread = Nll::default();
        for x in [1.0, 3.0, 1.0, 3.0] {
            spread.add(x);
        }
        // mean 2, variance 1, n 4: sqrt(1/3) * e^2.
        assert!((spread.stderr() - (1.0f64 / 3.0).sqrt() * 2f64.exp()).abs() < 1e-9);
    }
}
