//! Generation logic against a scripted fake model: no weights, exact counts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{Device, Tensor};

use super::*;
use crate::models::SeqCache;

const VOCAB: usize = 300;
const STOP: u32 = 256;

/// Predicts, after token `t`, the token `next[t]` (one-hot logits); `t` itself when
/// unscripted. Checks the cache contract on every call and records the token
/// written at each position (a cache's truncation shows at the next forward).
struct Fake {
    next: HashMap<u32, u32>,
    written: Mutex<Vec<u32>>,
    forwarded: AtomicUsize,
}

impl Fake {
    /// A model that, after any token of `chain`, says the following one.
    fn chain(chain: &[u32]) -> Self {
        let next = chain.windows(2).map(|w| (w[0], w[1])).collect();
        Self {
            next,
            written: Mutex::new(Vec::new()),
            forwarded: AtomicUsize::new(0),
        }
    }

    /// The tokens at the positions `kv` holds.
    fn held(&self, kv: &SeqCache) -> Vec<u32> {
        self.written.lock().unwrap()[..kv.len()].to_vec()
    }

    fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Model for Fake {
    fn new_cache(&self) -> SeqCache {
        SeqCache::default()
    }

    fn full_cache_bytes(&self) -> usize {
        0
    }

    fn forward_tail(
        &self,
        cache: &mut SeqCache,
        tokens: &[u32],
        pos: usize,
        rows: usize,
    ) -> Result<Tensor, EngineError> {
        assert_eq!(
            pos,
            cache.len(),
            "forward at {pos} with {} cached",
            cache.len()
        );
        assert!(!tokens.is_empty());
        cache.len = pos + tokens.len();
        let mut written = self.written.lock().unwrap();
        written.truncate(pos);
        written.extend_from_slice(tokens);
        self.forwarded.fetch_add(tokens.len(), Ordering::Relaxed);
        let mut logits = vec![0f32; rows * VOCAB];
        for (row, &token) in tokens[tokens.len() - rows..].iter().enumerate() {
            let next = self.next.get(&token).copied().unwrap_or(token);
            logits[row * VOCAB + next as usize] = 10.0;
        }
        Ok(Tensor::from_vec(logits, (rows, VOCAB), &Device::Cpu)?)
    }
}

/// A fresh slot, as the engine's worker gives a new conversation.
fn fresh() -> Cached {
    Cached::new(SeqCache::default())
}

/// Tokens 0..=255 are their byte; 256 ends the turn.
struct Bytes([u8; 256]);

impl Bytes {
    fn new() -> Self {
        Self(std::array::from_fn(|i| i as u8))
    }
}

impl Vocab for Bytes {
    fn bytes(&self, id: u32) -> &[u8] {
        self.0.get(id as usize).map_or(&[], std::slice::from_ref)
    }

    fn is_stop(&self, id: u32) -> bool {
        id == STOP
    }
}

fn ids(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

fn request() -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Text(String::new()),
        sampling: SamplingParams::greedy(),
        max_tokens: None,
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    }
}

struct Outcome {
    completion: Result<Completion, EngineError>,
    pieces: Vec<String>,
}

fn generate(
    model: &Fake,
    cached: &mut Cached,
    prompt: &[u32],
    req: &GenerateRequest,
    ctx: usize,
) -> Outcome {
    generate_with(
        model,
        cached,
        prompt,
        req,
        ctx,
        &CancellationToken::new(),
        |_| {},
    )
}

fn generate_with(
    model: &Fake,
    cached: &mut Cached,
    prompt: &[u32],
    req: &GenerateRequest,
    ctx: usize,
    cancel: &CancellationToken,
    mut hook: impl FnMut(usize),
) -> Outcome {
    let vocab = Bytes::new();
    let mut pieces = Vec::new();
    let mut run = Run {
        model,
        cached,
        tokenizer: &vocab,
        context_length: ctx,
        draft: None,
    };
    let completion = run.generate(prompt, req, cancel, &mut |t: &str| {
        pieces.push(t.to_owned());
        hook(pieces.len());
    });
    Outcome { completion, pieces }
}

#[test]
fn emoji_split_over_tokens_streams_whole_and_matches_text() {
    // "Hi" then 🦀 as four byte tokens, then "!" and the end of the turn.
    let mut chain = ids("Hi");
    chain.extend("🦀!".bytes().map(u32::from));
    chain.push(STOP);
    let model = Fake::chain(&chain);
    let out = generate(&model, &mut fresh(), &ids("Hi"), &request(), 64);
    let c = out.completion.unwrap();
    assert_eq!(c.text, "🦀!");
    assert_eq!(c.stop_reason, StopReason::Eos);
    assert_eq!(c.stats.completion_tokens, 5);
    assert_eq!(out.pieces.concat(), c.text);
    assert!(
        out.pieces.iter().all(|p| !p.contains('\u{fffd}')),
        "{:?}",
        out.pieces
    );
    let decoded: Vec<u8> = c.tokens.iter().map(|&t| t as u8).collect();
    assert_eq!(String::from_utf8(decoded).unwrap(), c.text);
}

#[test]
fn max_tokens_stops_exactly() {
    let model = Fake::chain(&ids("abcdefgh"));
    let req = GenerateRequest {
        max_tokens: Some(3),
        ..request()
    };
    let c = generate(&model, &mut fresh(), &ids("a"), &req, 64)
        .completion
        .unwrap();
    assert_eq!(c.text, "bcd");
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
}

#[test]
fn stop_string_spanning_tokens_is_not_emitted() {
    // Every byte distinct, so the fake model's chain is unambiguous.
    let model = Fake::chain(&ids(">Hi\nUs: ok"));
    let req = GenerateRequest {
        stop: vec!["\nUs:".into()],
        ..request()
    };
    let out = generate(&model, &mut fresh(), &ids(">"), &req, 64);
    let c = out.completion.unwrap();
    assert_eq!(c.text, "Hi");
    assert_eq!(out.pieces.concat(), "Hi");
    assert_eq!(c.stop_reason, StopReason::StopString);
}

#[test]
fn context_full_ends_generation() {
    let model = Fake::chain(&[]); // repeats the last token forever
    let mut cached = fresh();
    let c = generate(&model, &mut cached, &ids("aaaa"), &request(), 8)
        .completion
        .unwrap();
    assert_eq!(c.stop_reason, StopReason::ContextFull);
    // Four cache slots are left after the prompt; the fifth token is sampled from
    // the logits of the last slot and is not fed back.
    assert_eq!(c.text, "aaaaa");
    assert_eq!(cached.kv.len(), 8);
    assert_eq!(model.held(&cached.kv).len(), 8);
}

#[test]
fn prompt_too_long_fails_before_any_compute() {
    let model = Fake::chain(&[]);
    let out = generate(&model, &mut fresh(), &ids("12345678"), &request(), 8);
    assert!(matches!(
        out.completion,
        Err(EngineError::PromptTooLong {
            prompt_tokens: 8,
            context_length: 8
        })
    ));
    assert_eq!(model.forwarded(), 0);
}

#[test]
fn cancel_takes_effect_within_one_token_and_keeps_text() {
    let model = Fake::chain(&[]); // endless "x"
    let cancel = CancellationToken::new();
    let out = generate_with(
        &model,
        &mut fresh(),
        &ids("x"),
        &request(),
        4096,
        &cancel,
        |n| {
            if n == 5 {
                cancel.cancel();
            }
        },
    );
    let c = out.completion.unwrap();
    assert_eq!(c.stop_reason, StopReason::Cancelled);
    assert_eq!(c.text, "xxxxx");
    assert_eq!(c.stats.completion_tokens, 5);
}

#[test]
fn cancelled_before_start_does_no_compute() {
    let model = Fake::chain(&[]);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let out = generate_with(
        &model,
        &mut fresh(),
        &ids("x"),
        &request(),
        64,
        &cancel,
        |_| {},
    );
    assert_eq!(out.completion.unwrap().stop_reason, StopReason::Cancelled);
    assert_eq!(model.forwarded(), 0);
}

#[test]
fn follow_up_reuses_the_cached_prefix() {
    let mut chain = ids("Q?A.");
    chain.push(STOP);
    let model = Fake::chain(&chain);
    let mut cached = fresh();
    let first = generate(&model, &mut cached, &ids("Q?"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(first.text, "A.");
    assert_eq!(first.stats.prompt_tokens_reused, 0);
    // The cache holds the prompt and the answer tokens that were fed back.
    assert_eq!(cached.tokens, ids("Q?A."));
    assert_eq!(model.held(&cached.kv), cached.tokens);

    // The next turn: the whole conversation so far, plus a new question.
    let forwarded_before = model.forwarded();
    let second = generate(&model, &mut cached, &ids("Q?A.Q?"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(second.stats.prompt_tokens_reused, 4);
    assert_eq!(second.stats.prompt_tokens_new, 2);
    // Two new prompt tokens, then each generated token is fed back (not the end token).
    assert_eq!(
        model.forwarded() - forwarded_before,
        2 + second.tokens.len()
    );
    assert_eq!(second.text, first.text);

    // A prompt that diverges early keeps only the common part.
    let third = generate(&model, &mut cached, &ids("Qx"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(third.stats.prompt_tokens_reused, 1);
}

#[test]
fn identical_prompt_reprocesses_its_last_token() {
    let mut chain = ids("ab");
    chain.push(STOP);
    let model = Fake::chain(&chain);
    let mut cached = fresh();
    generate(&model, &mut cached, &ids("a"), &request(), 64)
        .completion
        .unwrap();
    let again = generate(&model, &mut cached, &ids("ab"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(again.stats.prompt_tokens_reused, 1);
    assert_eq!(again.stats.prompt_tokens_new, 1);
}

#[test]
fn the_same_prompt_again_starts_from_its_kept_logits() {
    let mut chain = ids("abc");
    chain.push(STOP);
    let model = Fake::chain(&chain);
    let mut cached = fresh();
    let first = generate(&model, &mut cached, &ids("ab"), &request(), 64)
        .completion
        .unwrap();
    let forwarded = model.forwarded();
    let again = generate(&model, &mut cached, &ids("ab"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(again.text, first.text);
    assert_eq!(again.stats.prompt_tokens_reused, 2);
    assert_eq!(again.stats.prompt_tokens_new, 0);
    // Only the answer's tokens were computed again ("c" before the stop).
    assert_eq!(model.forwarded() - forwarded, 1);
    assert_eq!(model.held(&cached.kv), cached.tokens);
    // A shorter prompt cannot use them: its last token is processed.
    let shorter = generate(&model, &mut cached, &ids("a"), &request(), 64)
        .completion
        .unwrap();
    assert_eq!(shorter.stats.prompt_tokens_new, 1);
}

#[test]
fn bad_requests_are_refused() {
    let model = Fake::chain(&[]);
    let empty = generate(&model, &mut fresh(), &[], &request(), 64);
    assert!(matches!(
        empty.completion,
        Err(EngineError::InvalidRequest(_))
    ));
    let zero = GenerateRequest {
        max_tokens: Some(0),
        ..request()
    };
    let out = generate(&model, &mut fresh(), &ids("a"), &zero, 64);
    assert!(matches!(
        out.completion,
        Err(EngineError::InvalidRequest(_))
    ));
    assert_eq!(model.forwarded(), 0);
}

/// A fake draft model and what its cache holds.
struct FakeDraft {
    model: Fake,
    cache: SeqCache,
    cached: Vec<u32>,
    tokens: usize,
}

impl FakeDraft {
    fn chain(chain: &[u32], tokens: usize) -> Self {
        Self {
            model: Fake::chain(chain),
            cache: SeqCache::default(),
            cached: Vec::new(),
            tokens,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn generate_drafted(
    model: &Fake,
    cached: &mut Cached,
    draft: &mut FakeDraft,
    prompt: &[u32],
    req: &GenerateRequest,
    ctx: usize,
    cancel: &CancellationToken,
    mut hook: impl FnMut(usize),
) -> Outcome {
    let vocab = Bytes::new();
    let mut pieces = Vec::new();
    let mut run = Run {
        model,
        cached,
        tokenizer: &vocab,
        context_length: ctx,
        draft: Some(Drafter {
            model: &draft.model,
            cache: &mut draft.cache,
            cached: &mut draft.cached,
            tokens: draft.tokens,
        }),
    };
    let completion = run.generate(prompt, req, cancel, &mut |t: &str| {
        pieces.push(t.to_owned());
        hook(pieces.len());
    });
    Outcome { completion, pieces }
}

/// Plain decoding and decoding with `draft`, from fresh caches: the same
/// answer, both caches holding what they say they hold.
fn same_as_plain(
    target: &[u32],
    draft: &mut FakeDraft,
    prompt: &[u32],
    req: &GenerateRequest,
    ctx: usize,
) -> Completion {
    let plain_model = Fake::chain(target);
    let mut plain_cached = fresh();
    let plain = generate(&plain_model, &mut plain_cached, prompt, req, ctx);
    let model = Fake::chain(target);
    let mut cached = fresh();
    let out = generate_drafted(
        &model,
        &mut cached,
        draft,
        prompt,
        req,
        ctx,
        &CancellationToken::new(),
        |_| {},
    );
    let (plain, drafted) = (plain.completion.unwrap(), out.completion.unwrap());
    assert_eq!(drafted.text, plain.text);
    assert_eq!(out.pieces.concat(), plain.text);
    assert_eq!(drafted.tokens, plain.tokens);
    assert_eq!(drafted.stop_reason, plain.stop_reason);
    // The target's cache as plain decoding leaves it, the draft's as it says.
    assert_eq!(cached.tokens, plain_cached.tokens);
    assert_eq!(model.held(&cached.kv), cached.tokens);
    assert_eq!(draft.model.held(&draft.cache), draft.cached);
    assert!(cached.tokens.starts_with(&draft.cached) || draft.cached.is_empty());
    drafted
}

fn alphabet() -> Vec<u32> {
    let mut chain = ids("abcdefghijklmnopqrstuvwxyz");
    chain.push(STOP);
    chain
}

#[test]
fn a_draft_that_agrees_emits_the_same_answer_in_fewer_target_passes() {
    let mut draft = FakeDraft::chain(&alphabet(), 4);
    let model = Fake::chain(&alphabet());
    let c = generate_drafted(
        &model,
        &mut fresh(),
        &mut draft,
        &ids("a"),
        &request(),
        64,
        &CancellationToken::new(),
        |_| {},
    )
    .completion
    .unwrap();
    assert_eq!(c.text, "bcdefghijklmnopqrstuvwxyz");
    assert_eq!(c.stop_reason, StopReason::Eos);
    // Every step drafts 4 and keeps them all until the draft reaches the end.
    assert_eq!(c.stats.draft_accepted, c.stats.draft_tokens);
    assert!(c.stats.draft_tokens >= 20, "{:?}", c.stats);
    let again = same_as_plain(
        &alphabet(),
        &mut FakeDraft::chain(&alphabet(), 4),
        &ids("a"),
        &request(),
        64,
    );
    assert_eq!(again.stats.draft_accepted, again.stats.draft_tokens);
}

#[test]
fn a_draft_that_disagrees_changes_nothing_but_its_acceptance() {
    // The draft guesses wrong after "e", "k" and "q" (and then repeats itself).
    let mut wrong = ids("abcdeXfghijkYlmnopqZrstuvwxyz");
    wrong.push(STOP);
    for k in 1..=6 {
        let mut draft = FakeDraft::chain(&wrong, k);
        let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &request(), 64);
        assert!(
            c.stats.draft_accepted < c.stats.draft_tokens,
            "k {k}: {:?}",
            c.stats
        );
        assert!(c.stats.draft_accepted > 0, "k {k}: {:?}", c.stats);
    }
    // One that is always wrong.
    let mut draft = FakeDraft::chain(&[], 3);
    let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &request(), 64);
    assert_eq!(c.stats.draft_accepted, 0);
}

#[test]
fn limits_inside_an_accepted_draft_end_where_plain_decoding_ends() {
    for k in [1, 2, 3, 5, 8] {
        for max in 1..=27 {
            let req = GenerateRequest {
                max_tokens: Some(max),
                ..request()
            };
            let mut draft = FakeDraft::chain(&alphabet(), k);
            let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &req, 64);
            assert_eq!(c.tokens.len(), max.min(25), "k {k} max {max}");
        }
        for stop in ["c", "fg", "hij", "xyz", "mnopqrs"] {
            let req = GenerateRequest {
                stop: vec![stop.into()],
                ..request()
            };
            let mut draft = FakeDraft::chain(&alphabet(), k);
            let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &req, 64);
            assert_eq!(c.stop_reason, StopReason::StopString, "k {k} stop {stop}");
        }
        for ctx in 2..=12 {
            let mut draft = FakeDraft::chain(&alphabet(), k);
            let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &request(), ctx);
            assert_eq!(c.stop_reason, StopReason::ContextFull, "k {k} ctx {ctx}");
        }
    }
}

#[test]
fn a_follow_up_turn_keeps_the_drafts_cache_prefix() {
    let model = Fake::chain(&alphabet());
    let mut cached = fresh();
    let mut draft = FakeDraft::chain(&alphabet(), 3);
    let cancel = CancellationToken::new();
    let req = GenerateRequest {
        max_tokens: Some(6),
        ..request()
    };
    let first = generate_drafted(
        &model,
        &mut cached,
        &mut draft,
        &ids("a"),
        &req,
        64,
        &cancel,
        |_| {},
    );
    assert_eq!(first.completion.unwrap().text, "bcdefg");
    assert_eq!(draft.model.held(&draft.cache), draft.cached);
    let forwarded = draft.model.forwarded();
    let kept = draft.cached.len();
    assert!(kept >= 5, "{:?}", draft.cached);
    let second = generate_drafted(
        &model,
        &mut cached,
        &mut draft,
        &ids("abcdefgh"),
        &req,
        64,
        &cancel,
        |_| {},
    );
    assert_eq!(second.completion.unwrap().text, "ijklmn");
    assert_eq!(draft.model.held(&draft.cache), draft.cached);
    assert_eq!(model.held(&cached.kv), cached.tokens);
    // Only the draft's missing prompt tokens and its guesses were computed.
    assert!(
        draft.model.forwarded() - forwarded <= 8 - kept + 6 * 3,
        "{}",
        draft.model.forwarded()
    );
}

#[test]
fn cancel_lands_within_one_token_inside_a_draft() {
    let model = Fake::chain(&[]); // endless "x"
    let mut draft = FakeDraft::chain(&[], 8);
    let cancel = CancellationToken::new();
    let mut cached = fresh();
    let out = generate_drafted(
        &model,
        &mut cached,
        &mut draft,
        &ids("x"),
        &request(),
        4096,
        &cancel,
        |n| {
            if n == 5 {
                cancel.cancel();
            }
        },
    );
    let c = out.completion.unwrap();
    assert_eq!(c.stop_reason, StopReason::Cancelled);
    assert_eq!(c.text, "xxxxx");
    assert_eq!(cached.kv.len(), 1 + 5);
    assert_eq!(draft.model.held(&draft.cache), draft.cached);
}

#[test]
fn seeded_sampling_draws_the_same_tokens_with_a_draft() {
    // Sampled at temperature 1, the fake's one-hot logits still leave
    // every token some chance: now and then a draw leaves the chain.
    let req = GenerateRequest {
        sampling: SamplingParams {
            temperature: 1.5,
            seed: Some(7),
            ..SamplingParams::default()
        },
        max_tokens: Some(200),
        ..request()
    };
    let mut wrong = ids("abcdeXfghijkYlmnopqZrstuvwxyz");
    wrong.push(STOP);
    let mut draft = FakeDraft::chain(&wrong, 4);
    let c = same_as_plain(&alphabet(), &mut draft, &ids("a"), &req, 4096);
    assert!(c.stats.draft_tokens > 0);
}

#[test]
fn constrained_or_logprob_requests_decode_without_the_draft() {
    let model = Fake::chain(&alphabet());
    let mut draft = FakeDraft::chain(&alphabet(), 4);
    let req = GenerateRequest {
        logprobs: Some(2),
        ..request()
    };
    let c = generate_drafted(
        &model,
        &mut fresh(),
        &mut draft,
        &ids("a"),
        &req,
        64,
        &CancellationToken::new(),
        |_| {},
    )
    .completion
    .unwrap();
    assert_eq!(c.text, "bcdefghijklmnopqrstuvwxyz");
    assert_eq!(c.stats.draft_tokens, 0);
    assert_eq!(draft.model.forwarded(), 0);
}
