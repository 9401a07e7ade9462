//! Several generations at once (issue 18, item 4: `hearth serve --parallel`):
//! their decode steps run as one batched forward, and each answer is the
//! one it gives alone.

use std::sync::Arc;

use hearth_engine::{
    Completion, Engine, EngineError, EngineOptions, GenerateRequest, OutputFormat, Prompt,
    SamplingParams, StopReason,
};
use hearth_testkit::models;
use tokio_util::sync::CancellationToken;

fn greedy(text: &str, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Text(text.to_owned()),
        sampling: SamplingParams::greedy(),
        max_tokens: Some(max_tokens),
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    }
}

/// Four requests of different prompts and lengths, so the batch shrinks as
/// they end. Raw text sharing nothing but BOS, so no request starts from
/// another's cached prefix: a prefix computed apart rounds a little
/// differently from a whole prompt, and greedy answers may part on a near
/// tie (as a follow-up turn may, with or without batching).
fn requests() -> Vec<GenerateRequest> {
    vec![
        greedy("The capital of France is", 20),
        greedy("Once upon a time, by the sea,", 32),
        greedy("Three colours I like:", 12),
        greedy("A KV cache, in a transformer, is", 40),
    ]
}

fn engine(parallel: usize) -> Arc<Engine> {
    let options = EngineOptions {
        parallel,
        ..EngineOptions::default()
    };
    Arc::new(Engine::load(models::smollm2(), options).unwrap())
}

/// Each request on an engine that runs one generation at a time, as Hearth
/// always did.
fn alone(requests: &[GenerateRequest]) -> Vec<Completion> {
    let engine = engine(1);
    requests
        .iter()
        .map(|r| {
            let c = engine
                .generate_blocking(r.clone(), CancellationToken::new(), |_| {})
                .unwrap();
            assert_eq!(c.stats.prompt_tokens_reused, 0);
            c
        })
        .collect()
}

/// The requests at once on `engine`, each on a thread of its own; `cancels`
/// says after how many pieces of text a request cancels itself.
fn at_once(
    engine: &Arc<Engine>,
    requests: &[GenerateRequest],
    cancels: &[Option<usize>],
) -> Vec<Completion> {
    let start = Arc::new(std::sync::Barrier::new(requests.len()));
    let threads: Vec<_> = requests
        .iter()
        .zip(cancels)
        .map(|(request, &cancel_after)| {
            let (engine, request) = (Arc::clone(engine), request.clone());
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let cancel = CancellationToken::new();
                start.wait();
                let mut pieces = 0;
                engine.generate_blocking(request, cancel.clone(), |_| {
                    pieces += 1;
                    if Some(pieces) == cancel_after {
                        cancel.cancel();
                    }
                })
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect()
}

#[test]
fn four_concurrent_greedy_requests_answer_as_each_alone() {
    let requests = requests();
    let alone = alone(&requests);
    let engine = engine(4);
    let together = at_once(&engine, &requests, &[None; 4]);
    for (i, (one, all)) in alone.iter().zip(&together).enumerate() {
        assert!(one.stats.completion_tokens > 0);
        assert_eq!(all.stats.prompt_tokens_reused, 0, "request {i}");
        assert_eq!(all.tokens, one.tokens, "request {i}");
        assert_eq!(all.text, one.text, "request {i}");
        assert_eq!(all.stop_reason, one.stop_reason, "request {i}");
        assert_eq!(one.stats.max_batch, 1, "request {i} alone");
        assert!(all.stats.max_batch <= 4, "request {i}");
    }
    // The four ran together: their decode steps shared forwards.
    let batches: Vec<usize> = together.iter().map(|c| c.stats.max_batch).collect();
    assert!(batches.iter().any(|&b| b > 1), "never batched: {batches:?}");
    // Each conversation kept its slot: the same prompts again are reused.
    let again = at_once(&engine, &requests, &[None; 4]);
    for (i, (one, all)) in alone.iter().zip(&again).enumerate() {
        assert_eq!(
            all.stats.prompt_tokens_reused, all.stats.prompt_tokens,
            "request {i}"
        );
        assert_eq!(all.tokens, one.tokens, "request {i}");
    }
}

#[test]
fn a_request_cancelled_mid_way_does_not_change_the_others() {
    let requests = requests();
    let alone = alone(&requests);
    let engine = engine(4);
    let cancels = [None, Some(3), None, None];
    let together = at_once(&engine, &requests, &cancels);
    assert_eq!(together[1].stop_reason, StopReason::Cancelled);
    assert!(together[1].tokens.len() < alone[1].tokens.len());
    for i in [0, 2, 3] {
        assert_eq!(together[i].tokens, alone[i].tokens, "request {i}");
    }
}

#[test]
fn more_requests_than_parallel_wait_their_turn() {
    let requests = requests();
    let alone = alone(&requests);
    let engine = engine(2);
    let together = at_once(&engine, &requests, &[None; 4]);
    for (i, (one, all)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(all.tokens, one.tokens, "request {i}");
    }
}

#[test]
fn parallel_is_refused_out_of_range_and_with_a_draft() {
    for parallel in [0, hearth_engine::MAX_PARALLEL + 1] {
        let options = EngineOptions {
            parallel,
            ..EngineOptions::default()
        };
        let err = Engine::load(models::smollm2(), options).unwrap_err();
        assert!(
            matches!(err.without_file(), EngineError::InvalidRequest(_)),
            "{err}"
        );
    }
    let options = EngineOptions {
        parallel: 2,
        draft: Some(models::smollm2()),
        ..EngineOptions::default()
    };
    let err = Engine::load(models::smollm2(), options).unwrap_err();
    assert!(err.to_string().contains("parallel"), "{err}");
}
