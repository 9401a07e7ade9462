//! Speculative decoding: a small draft model guesses the next few tokens,
//! and the model (the target) checks them all in one forward pass.
//!
//! Each step (the loop in `generate.rs`): the target's logits give the next
//! token `t0`, drawn by the sampler as in plain decoding. The draft, greedy
//! on its own logits, proposes `d1..dk` after `t0`. The target runs once over
//! `[t0, d1, .., dk]` and gets its logits after each of them. Going along the
//! rows, the sampler draws the target's own choice for each position, with
//! the same history and the same random stream as plain decoding; `d_i` is
//! kept while it equals that choice. At the first difference the target's
//! choice is the next token and the rest of the draft is dropped from both
//! caches. When all `k` are kept, the last row predicts the token after
//! them, so a step emits between 1 and `k + 1` tokens for one target pass.
//!
//! This is "sample, then compare", not the rejection sampling of Leviathan
//! et al. (2023), which accepts a drafted token with probability
//! `min(1, p/q)` and resamples from `max(0, p - q)` otherwise. Every token
//! emitted here is the sampler's draw from the target's distribution at its
//! position (the draft only decides how many of those positions one forward
//! pass computes), so the output is distributed exactly as without a draft,
//! and with the same seed it is the same text, token for token, up to the
//! rounding of a batched forward versus single-token ones. The price is a
//! lower acceptance at high temperature (a guess is kept only when the draw
//! lands on it, where rejection sampling keeps it with probability
//! `min(1, p/q)`); with greedy decoding the two are the same.
//!
//! The draft keeps its own KV cache, with the tokens in it in
//! [`Draft::cached`]; before each proposal it is brought in step with the
//! target's (its common prefix kept, the rest forwarded), so a new prompt, a
//! follow-up turn or a rejected draft needs no other bookkeeping.

use candle_core::Tensor;

use crate::error::EngineError;
use crate::generate::PREFILL_CHUNK;
use crate::models::{Model, SeqCache};
use crate::tokenizer::Tokenizer;
use crate::vocab::Vocab;

/// Tokens drafted per step when the options do not say.
pub const DEFAULT_DRAFT_TOKENS: usize = 4;

/// The most tokens a step may draft.
pub const MAX_DRAFT_TOKENS: usize = 16;

// A step's check (the drafted tokens and the last accepted one) must take
// the attention that gives a generated token's numbers bit for bit, or a
// near tie could part the drafted answer from plain decoding's.
const _: () = assert!(MAX_DRAFT_TOKENS < hearth_kernels::DECODE_EXACT_ROWS);

/// A draft model owned by the engine's worker, beside the target.
pub(crate) struct Draft {
    pub(crate) model: Box<dyn Model>,
    /// The draft's one cache: whichever conversation runs, it is brought in
    /// step with that conversation's tokens before each proposal.
    pub(crate) cache: SeqCache,
    /// The tokens whose keys and values are in the draft's cache, in order.
    pub(crate) cached: Vec<u32>,
    /// Tokens proposed per step.
    pub(crate) tokens: usize,
}

impl Draft {
    /// The draft as one generation borrows it.
    pub(crate) fn drafter(&mut self) -> Drafter<'_> {
        Drafter {
            model: self.model.as_ref(),
            cache: &mut self.cache,
            cached: &mut self.cached,
            tokens: self.tokens,
        }
    }
}

/// A draft model and its cache, borrowed for one generation.
pub(crate) struct Drafter<'a> {
    pub(crate) model: &'a dyn Model,
    pub(crate) cache: &'a mut SeqCache,
    pub(crate) cached: &'a mut Vec<u32>,
    /// Tokens proposed per step (at most).
    pub(crate) tokens: usize,
}

impl Drafter<'_> {
    /// Up to `limit` (and at most [`Drafter::tokens`]) tokens the draft
    /// expects after `context` (the target's cached tokens) and `next`,
    /// greedily; fewer after a token that ends the turn.
    pub(crate) fn propose(
        &mut self,
        context: &[u32],
        next: u32,
        limit: usize,
        vocab: &dyn Vocab,
    ) -> Result<Vec<u32>, EngineError> {
        let k = self.tokens.min(limit);
        if k == 0 {
            return Ok(Vec::new());
        }
        // Keep what the draft's cache shares with the target's, and always
        // compute `next` (its logits are the first guess).
        let common = self
            .cached
            .iter()
            .zip(context)
            .take_while(|(a, b)| a == b)
            .count();
        self.truncate(common);
        let mut feed = context[common..].to_vec();
        feed.push(next);
        let mut pos = common;
        let mut logits = None;
        for chunk in feed.chunks(PREFILL_CHUNK) {
            logits = Some(self.model.forward(self.cache, chunk, pos)?);
            pos += chunk.len();
            self.cached.extend_from_slice(chunk);
        }
        let mut proposal = Vec::with_capacity(k);
        while let Some(current) = logits.take() {
            let guess = argmax(&current)?;
            proposal.push(guess);
            if proposal.len() == k || vocab.is_stop(guess) {
                break;
            }
            logits = Some(self.model.forward(self.cache, &[guess], pos)?);
            pos += 1;
            self.cached.push(guess);
        }
        Ok(proposal)
    }

    /// Keeps only the first `len` cached positions (all when there are fewer).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.cached.len() {
            self.cache.truncate(len);
            self.cached.truncate(len);
        }
    }
}

fn argmax(logits: &Tensor) -> Result<u32, EngineError> {
    Ok(logits.argmax(0)?.to_scalar::<u32>()?)
}

/// Whether `draft` can draft for `target`: the same number of tokens, the
/// same BOS, EOS and end-of-turn ids, and for every id the same text and the
/// same bytes. A mismatch says where, for [`EngineError::DraftVocabulary`].
pub(crate) fn check_vocabularies(target: &Tokenizer, draft: &Tokenizer) -> Result<(), EngineError> {
    let fail = |what: String| Err(EngineError::DraftVocabulary(what));
    if target.vocab_size() != draft.vocab_size() {
        return fail(format!(
            "its vocabulary has {} tokens, the model's {}",
            draft.vocab_size(),
            target.vocab_size()
        ));
    }
    if target.bos_id() != draft.bos_id()
        || target.eos_id() != draft.eos_id()
        || target.stop_ids() != draft.stop_ids()
    {
        return fail(format!(
            "its special tokens differ (BOS {:?}, EOS {:?}, end of turn {:?}; the model's \
             BOS {:?}, EOS {:?}, end of turn {:?})",
            draft.bos_id(),
            draft.eos_id(),
            draft.stop_ids(),
            target.bos_id(),
            target.eos_id(),
            target.stop_ids()
        ));
    }
    let n = u32::try_from(target.vocab_size()).unwrap_or(u32::MAX);
    let differs = |id: u32| {
        target.token_text(id) != draft.token_text(id)
            || target.token_bytes(id) != draft.token_bytes(id)
    };
    if let Some(id) = (0..n).find(|&id| differs(id)) {
        return fail(format!(
            "token {id} is {:?} in the draft and {:?} in the model",
            draft.token_text(id).unwrap_or_default(),
            target.token_text(id).unwrap_or_default()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use candle_core::Device;

    use crate::gguf::GgufFile;
    use crate::models::{self, LoadOptions};

    /// What one verification pass costs: the target's forward over `k + 1`
    /// tokens against one single-token forward, on SmolLM2 after a 256-token
    /// prompt, and the speed-up that implies at acceptances 0.6 and 0.8 for a
    /// draft costing nothing and 1/8 of the target (a 1B beside an 8B).
    #[test]
    #[ignore = "a measurement: RAYON_NUM_THREADS=1 cargo test -p hearth-engine --release --lib \
                forward_tail_cost -- --ignored --nocapture"]
    #[allow(clippy::print_stdout)]
    fn forward_tail_cost() {
        let gguf = GgufFile::open(hearth_testkit::models::smollm2()).unwrap();
        let (model, _) = models::load(&gguf, &Device::Cpu, &LoadOptions::default()).unwrap();
        let mut cache = model.new_cache();
        let prompt: Vec<u32> = (0..256u32).map(|i| 1 + i * 7919 % 49151).collect();
        model.forward(&mut cache, &prompt, 0).unwrap();
        let pos = prompt.len();
        let mut time = |n: usize| {
            let tokens: Vec<u32> = (0..n as u32).map(|i| 100 + i).collect();
            let mut runs: Vec<f64> = (0..15)
                .map(|_| {
                    let t = Instant::now();
                    model.forward_tail(&mut cache, &tokens, pos, n).unwrap();
                    let secs = t.elapsed().as_secs_f64();
                    cache.truncate(pos);
                    secs
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[runs.len() / 2]
        };
        let one = time(1);
        println!("one token: {:.2} ms", one * 1e3);
        println!(
            "k  pass(k+1)  ratio   speed-up a=0.6 (free, 1/8 draft)   a=0.8 (free, 1/8 draft)"
        );
        for k in 1..=8 {
            let pass = time(k + 1);
            let row: Vec<String> = [0.6f64, 0.8]
                .iter()
                .map(|&a| {
                    // Expected tokens per step: 1 + a + .. + a^k.
                    let tokens = (1.0 - a.powi(k as i32 + 1)) / (1.0 - a);
                    let free = tokens * one / pass;
                    let eighth = tokens * one / (pass + k as f64 * one / 8.0);
                    format!("{free:.2}x, {eighth:.2}x")
                })
                .collect();
            println!(
                "{k}  {:7.2} ms  {:5.2}   {:>24}   {:>24}",
                pass * 1e3,
                pass / one,
                row[0],
                row[1]
            );
        }
    }
}
