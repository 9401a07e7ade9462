//! `Engine::perplexity` on the real SmolLM2: windows counted as llama.cpp counts
//! them, scores that follow what the model can predict, clear refusals.

use hearth_engine::{Engine, EngineError, EngineOptions, GenerateRequest, PerplexityOptions};
use hearth_testkit::models;
use tokio_util::sync::CancellationToken;

fn engine(context: usize) -> Engine {
    let options = EngineOptions {
        context_length: Some(context),
        ..EngineOptions::default()
    };
    Engine::load(models::smollm2(), options).unwrap()
}

fn options(context: usize, max_chunks: Option<usize>) -> PerplexityOptions {
    PerplexityOptions {
        context,
        max_chunks,
    }
}

/// The same sentence again and again: after the first copy every token is
/// predictable from the window's first half.
fn repetitive() -> String {
    "The quick brown fox jumps over the lazy dog near the river bank. ".repeat(40)
}

/// Words in an order no model can predict (a fixed pseudo-random walk).
fn scrambled() -> String {
    let words = [
        "apple", "orbit", "granite", "whisper", "lantern", "seven", "copper", "meadow", "violin",
        "tunnel", "sapphire", "eleven", "harbor", "pencil", "glacier", "mosaic", "thunder",
        "velvet", "compass", "juniper",
    ];
    let mut state = 12345u64;
    (0..600)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            words[(state >> 33) as usize % words.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn windows_and_scored_tokens_are_counted_as_llama_cpp_counts_them() {
    let engine = engine(128);
    let text = repetitive();
    let tokens = engine.tokenize(&text, true, false).unwrap().len();
    let mut progress = Vec::new();
    let score = engine
        .perplexity(&text, options(64, None), CancellationToken::new(), |p| {
            progress.push(p)
        })
        .unwrap();
    assert_eq!(score.tokens, tokens);
    assert_eq!(
        score.chunks,
        tokens / 64,
        "a partial last window is dropped"
    );
    assert_eq!(score.scored, score.chunks * (64 - 1 - 32));
    assert_eq!(progress.len(), score.chunks);
    assert_eq!(progress.last().map(|p| p.ppl), Some(score.ppl));
    assert!(
        progress
            .iter()
            .enumerate()
            .all(|(i, p)| p.chunk == i + 1 && p.of == score.chunks)
    );

    let limited = engine
        .perplexity(
            &text,
            options(64, Some(2)),
            CancellationToken::new(),
            |_| {},
        )
        .unwrap();
    assert_eq!(limited.chunks, 2);
    assert_eq!(limited.scored, 2 * 31);
}

#[test]
fn predictable_text_scores_low_and_scrambled_words_score_high() {
    let engine = engine(128);
    let score = |text: &str| {
        engine
            .perplexity(
                text,
                options(128, Some(3)),
                CancellationToken::new(),
                |_| {},
            )
            .unwrap()
    };
    let easy = score(&repetitive());
    let hard = score(&scrambled());
    // Scored from the second half of each window, the repeated sentence is
    // nearly certain; a token scored against the wrong position would not be.
    assert!(easy.ppl > 1.0 && easy.ppl < 1.5, "{easy:?}");
    assert!(hard.ppl > 5.0, "{hard:?}");
    assert!(easy.ppl_stderr >= 0.0 && hard.ppl_stderr > 0.0);
    // The same file, text and window give the same number.
    assert_eq!(score(&repetitive()).ppl, easy.ppl);
}

#[test]
fn scoring_leaves_the_engine_ready_to_chat() {
    let engine = engine(256);
    let request = || {
        let mut r = GenerateRequest::chat(vec![hearth_backend::Message::user(
            "What is the capital of France?",
        )]);
        r.sampling = hearth_engine::SamplingParams::greedy();
        r.max_tokens = Some(12);
        r
    };
    let before = engine
        .generate_blocking(request(), CancellationToken::new(), |_| {})
        .unwrap();
    engine
        .perplexity(
            &repetitive(),
            options(64, Some(2)),
            CancellationToken::new(),
            |_| {},
        )
        .unwrap();
    let after = engine
        .generate_blocking(request(), CancellationToken::new(), |_| {})
        .unwrap();
    assert_eq!(after.text, before.text);
    assert_eq!(after.stats.prompt_tokens_reused, 0, "the cache was emptied");
}

#[test]
fn bad_windows_are_refused_with_the_reason() {
    let engine = engine(128);
    let err = |text: &str, o: PerplexityOptions| {
        engine
            .perplexity(text, o, CancellationToken::new(), |_| {})
            .unwrap_err()
            .to_string()
    };
    assert!(err("short text", options(64, None)).contains("shorter than one window"));
    assert!(err(&repetitive(), options(256, None)).contains("does not fit the context of 128"));
    assert!(err(&repetitive(), options(2, None)).contains("too short"));
    assert!(err(&repetitive(), options(64, Some(0))).contains("at least one chunk"));

    let cancel = CancellationToken::new();
    cancel.cancel();
    let cancelled = engine.perplexity(&repetitive(), options(64, None), cancel, |_| {});
    assert!(
        matches!(cancelled, Err(EngineError::Cancelled)),
        "{cancelled:?}"
    );
}
