//! Speculative decoding with a draft model (issue 18 item 5), on the real
//! test model: a draft changes how fast tokens come, never which.

use std::path::PathBuf;

use hearth_backend::Message;
use hearth_engine::{
    Completion, Engine, EngineError, EngineOptions, GenerateRequest, OutputFormat, Prompt,
    SamplingParams, StopReason,
};
use hearth_testkit::models;
use tokio_util::sync::CancellationToken;

fn with_draft(draft: PathBuf, tokens: usize) -> Engine {
    let options = EngineOptions {
        draft: Some(draft),
        draft_tokens: tokens,
        ..EngineOptions::default()
    };
    Engine::load(models::smollm2(), options).unwrap()
}

fn greedy(prompt: Prompt, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt,
        sampling: SamplingParams::greedy(),
        max_tokens: Some(max_tokens),
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    }
}

fn run(engine: &Engine, request: GenerateRequest) -> Completion {
    let mut streamed = String::new();
    let c = engine
        .generate_blocking(request, CancellationToken::new(), |p| streamed.push_str(p))
        .unwrap();
    assert_eq!(streamed, c.text);
    c
}

fn prompts() -> Vec<Prompt> {
    vec![
        Prompt::Chat(vec![Message::user(
            "Write a long story about a dragon who learns to bake bread.",
        )]),
        Prompt::Text("The history of the Roman Empire began".into()),
    ]
}

/// Plain decoding and decoding with `draft` give the same tokens, bit for bit
/// (a step's check attends its few queries as that many generated tokens, so
/// no near tie rounds the other way); returns the acceptance over the prompts.
fn same_tokens(draft: PathBuf, tokens: usize) -> (usize, usize) {
    let plain = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let drafted = with_draft(draft, tokens);
    let (mut proposed, mut accepted) = (0, 0);
    for prompt in prompts() {
        let want = run(&plain, greedy(prompt.clone(), 96));
        assert!(want.tokens.len() >= 64, "{:?}", want.text);
        assert_eq!(want.stats.draft_tokens, 0);
        let got = run(&drafted, greedy(prompt, 96));
        assert_eq!(got.tokens, want.tokens);
        assert_eq!(got.stop_reason, want.stop_reason);
        proposed += got.stats.draft_tokens;
        accepted += got.stats.draft_accepted;
    }
    assert!(proposed > 0);
    (proposed, accepted)
}

#[test]
fn the_model_as_its_own_draft_gives_the_same_tokens_and_accepts_them_all() {
    let (proposed, accepted) = same_tokens(models::smollm2(), 5);
    // The draft fills its own cache in other chunks than the target (the
    // prompt with the next token), and a long prompt's products may round a
    // last bit apart between chunkings: at a near tie the draft then guesses
    // the other token, which the check refuses (the tokens stay the same).
    assert!(accepted * 100 >= proposed * 90, "{accepted}/{proposed}");
}

#[test]
fn a_draft_that_disagrees_still_gives_the_same_tokens() {
    // Random weights with SmolLM2's tokenizer (`cargo xtask fetch-test-models`).
    let draft = models::architecture("qwen3-0.6b");
    let (proposed, accepted) = same_tokens(draft, 4);
    assert!(accepted * 2 < proposed, "{accepted}/{proposed}");
}

#[test]
fn limits_inside_an_accepted_draft_end_where_plain_decoding_ends() {
    let plain = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let drafted = with_draft(models::smollm2(), 6);
    let prompt = prompts().remove(0);
    let full = run(&plain, greedy(prompt.clone(), 40));
    for max in [1, 2, 5, 6, 7, 11, 13, 20] {
        let want = run(&plain, greedy(prompt.clone(), max));
        let got = run(&drafted, greedy(prompt.clone(), max));
        assert_eq!(got.tokens, want.tokens, "max_tokens {max}");
        assert_eq!(got.stop_reason, StopReason::MaxTokens);
    }
    // Stop strings taken from the answer itself, so they land mid-draft.
    let words: Vec<&str> = full.text.split_whitespace().collect();
    for stop in [words[3], words[8], words[15]] {
        let mut request = greedy(prompt.clone(), 40);
        request.stop = vec![stop.to_owned()];
        let want = run(&plain, request.clone());
        let got = run(&drafted, request);
        assert_eq!(want.stop_reason, StopReason::StopString, "{stop:?}");
        assert_eq!(got.stop_reason, StopReason::StopString, "{stop:?}");
        assert_eq!(got.text, want.text, "{stop:?}");
        assert_eq!(got.tokens, want.tokens, "{stop:?}");
    }
    // And a follow-up turn on the kept caches still agrees.
    let mut request = greedy(prompt, 30);
    request.max_tokens = Some(30);
    assert_eq!(
        run(&drafted, request.clone()).tokens,
        run(&plain, request).tokens
    );
}

#[test]
fn a_draft_with_another_vocabulary_is_refused_at_load() {
    let options = EngineOptions {
        draft: Some(models::gemma3()),
        ..EngineOptions::default()
    };
    let err = Engine::load(models::smollm2(), options).unwrap_err();
    assert!(
        matches!(err.without_file(), EngineError::DraftVocabulary(_)),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("gemma-3-270m"), "{message}");
    assert!(message.contains("vocabulary"), "{message}");
}
