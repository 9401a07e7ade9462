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
    // Scoring ran in a cache of its own: the chat's KV slot was kept.
    assert_eq!(
        after.stats.prompt_tokens_reused, after.stats.prompt_tokens,
        "the chat's cache was kept"
    );
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

/// Writes a file in the layout of llama.cpp's `--kl-divergence-base`, whose
/// every row is sure of one token: `pick(window, position)` (0 nats), every
/// other entry at the 16-nat floor.
fn write_reference(
    path: &std::path::Path,
    context: usize,
    vocab: usize,
    tokens: &[u32],
    pick: impl Fn(&[u32], usize) -> u32,
) {
    let chunks = tokens.len() / context;
    let mut out = b"_logits_".to_vec();
    for word in [context as u32, vocab as u32, chunks as u32] {
        out.extend(word.to_le_bytes());
    }
    for t in &tokens[..chunks * context] {
        out.extend(t.to_le_bytes());
    }
    let padded = 2 * vocab.div_ceil(2);
    for window in tokens[..chunks * context].chunks(context) {
        for p in context / 2..context - 1 {
            out.extend((16.0f32 / 65535.0).to_le_bytes());
            out.extend((-16.0f32).to_le_bytes());
            let sure = pick(window, p) as usize;
            out.extend(
                (0..padded).flat_map(|i| u16::from(i == sure).wrapping_mul(65535).to_le_bytes()),
            );
        }
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn scores_against_llama_cpp_logits_use_its_tokens_and_compare_each_position() {
    let engine = engine(128);
    let vocab = engine.info().vocab_size;
    let dir = tempfile::tempdir().unwrap();
    let text = repetitive();
    let tokens = engine.tokenize(&text, true, false).unwrap();
    let plain = engine
        .perplexity(
            &text,
            options(64, Some(3)),
            CancellationToken::new(),
            |_| {},
        )
        .unwrap();
    let against = |pick: &dyn Fn(&[u32], usize) -> u32| {
        let path = dir.path().join("base.kl");
        write_reference(&path, 64, vocab, &tokens, pick);
        let file = hearth_engine::LlamaLogits::open(&path).unwrap();
        assert_eq!((file.context(), file.vocab()), (64, vocab));
        engine
            .perplexity_against(file, Some(3), CancellationToken::new(), |_| {})
            .unwrap()
    };

    // A reference sure of the token that really follows: on text this
    // predictable, Hearth's top token is mostly the same (81 of 93). A row
    // read for the wrong position would name another token of the sentence.
    let right = against(&|window, p| window[p + 1]);
    assert_eq!(right.ppl, plain.ppl, "the same tokens, windows and scores");
    let versus = right.versus_llama.clone().unwrap();
    assert_eq!(versus.positions, plain.scored);
    assert_eq!(versus.confident, versus.positions);
    assert!(
        versus.confident_same_top1 * 4 >= versus.confident * 3,
        "{versus:?}"
    );
    let (mean, max) = (versus.kld_mean.unwrap(), versus.kld_max.unwrap());
    assert!(mean >= 0.0 && max < 16.5, "{versus:?}");

    // Sure of the token after next: almost never Hearth's pick, and far off.
    let wrong = against(&|window, p| window[(p + 2).min(window.len() - 1)]);
    let off = wrong.versus_llama.unwrap();
    assert!(off.confident_same_top1 * 10 <= off.confident, "{off:?}");
    assert!(off.kld_mean.unwrap() > mean + 1.0, "{off:?} vs {versus:?}");
}

#[test]
fn llama_cpp_logits_that_do_not_fit_are_refused_by_name() {
    let engine = engine(128);
    let dir = tempfile::tempdir().unwrap();
    let tokens = engine.tokenize(&repetitive(), true, false).unwrap();
    let path = dir.path().join("base.kl");
    let open_err = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        hearth_engine::LlamaLogits::open(&path)
            .unwrap_err()
            .to_string()
    };
    assert!(open_err(b"not a logits file at all").contains("_logits_"));
    write_reference(&path, 64, 49152, &tokens, |w, p| w[p + 1]);
    let whole = std::fs::read(&path).unwrap();
    assert!(open_err(&whole[..whole.len() - 1]).contains("bytes"));
    let mut foreign = whole.clone();
    foreign[20..24].copy_from_slice(&60000i32.to_le_bytes());
    assert!(open_err(&foreign).contains("outside the vocabulary"));

    // Another vocabulary: refused at the first row, not scored as garbage.
    write_reference(&path, 64, 32000, &[1; 256], |_, _| 2);
    let file = hearth_engine::LlamaLogits::open(&path).unwrap();
    let err = engine
        .perplexity_against(file, None, CancellationToken::new(), |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("over 32000 tokens"), "{err}");
}
