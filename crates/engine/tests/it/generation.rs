//! Generation on the real test models, through the public `Engine`.

use std::sync::OnceLock;

use hearth_backend::Message;
use hearth_engine::{
    Completion, Engine, EngineError, EngineOptions, GenerateRequest, GenerationEvent, OutputFormat,
    Prompt, SamplingParams, StopReason,
};
use hearth_testkit::models;
use tokio_util::sync::CancellationToken;

/// One shared SmolLM2 engine: loading is cheap, but the tests run in parallel and
/// each engine is a thread of its own. Tests that depend on cache state load their own.
fn smollm() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(models::smollm2(), EngineOptions::default()).unwrap())
}

fn france() -> Vec<Message> {
    vec![
        Message::system("You are a helpful assistant."),
        Message::user("What is the capital of France?"),
    ]
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

/// Runs a request, returning the streamed pieces and the completion.
fn stream(engine: &Engine, request: GenerateRequest) -> (Vec<String>, Completion) {
    let mut pieces = Vec::new();
    let completion = engine
        .generate_blocking(request, CancellationToken::new(), |p| {
            pieces.push(p.to_owned())
        })
        .unwrap();
    (pieces, completion)
}

#[test]
fn smollm2_knows_the_capital_of_france_and_is_deterministic() {
    // An engine of its own: on the shared one another test may have left
    // this prompt in a KV slot, and nothing would be prefilled.
    let engine = &Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let (pieces, first) = stream(engine, greedy(Prompt::Chat(france()), 48));
    assert!(first.text.contains("Paris"), "{:?}", first.text);
    assert_eq!(first.stop_reason, StopReason::Eos);
    assert_eq!(pieces.concat(), first.text);
    assert_eq!(engine.tokenizer().decode(&first.tokens), first.text);
    let s = &first.stats;
    assert!(s.prompt_tokens > 20 && s.completion_tokens > 0, "{s:?}");
    assert!(s.prefill_tok_s > 0.0 && s.decode_tok_s > 0.0, "{s:?}");
    assert_eq!(s.device, "cpu");
    assert!(
        !s.load_time.is_zero() && s.time_to_first_token <= s.total_time,
        "{s:?}"
    );

    let (_, second) = stream(engine, greedy(Prompt::Chat(france()), 48));
    assert_eq!(second.text, first.text);
    assert_eq!(second.tokens, first.tokens);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let engine = smollm();
    let request = |seed| GenerateRequest {
        prompt: Prompt::Chat(vec![Message::user("Tell me a short story about a cat.")]),
        sampling: SamplingParams {
            temperature: 1.0,
            seed: Some(seed),
            ..SamplingParams::default()
        },
        max_tokens: Some(24),
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    };
    let (_, a) = stream(engine, request(42));
    let (_, b) = stream(engine, request(42));
    assert_eq!(a.tokens, b.tokens);
    assert_eq!(a.stats.seed, 42);
}

#[test]
fn multibyte_characters_stream_whole() {
    // SmolLM2's byte-level vocabulary spells most CJK characters over several tokens.
    let engine = smollm();
    let (pieces, c) = stream(
        engine,
        greedy(
            Prompt::Text("日本の首都は東京です。中国の首都は".into()),
            24,
        ),
    );
    assert_eq!(pieces.concat(), c.text);
    // Only a character cut off by max_tokens comes out as U+FFFD, as the last
    // piece (the stream flushes what it holds when generation stops).
    let (last, whole) = pieces.split_last().expect("some pieces");
    assert!(whole.iter().all(|p| !p.contains('\u{fffd}')), "{pieces:?}");
    if last.contains('\u{fffd}') {
        assert_eq!(c.stop_reason, StopReason::MaxTokens, "{pieces:?}");
        let tail = c.tokens.last().expect("a token");
        assert!(std::str::from_utf8(engine.tokenizer().token_bytes(*tail)).is_err());
    }
    let multi = c
        .tokens
        .iter()
        .filter(|&&t| std::str::from_utf8(engine.tokenizer().token_bytes(t)).is_err());
    assert!(
        multi.count() > 0,
        "expected tokens holding partial characters: {:?}",
        c.text
    );
    assert_eq!(engine.tokenizer().decode(&c.tokens), c.text);
}

#[test]
fn stop_strings_and_max_tokens() {
    let engine = smollm();
    let mut request = greedy(Prompt::Chat(france()), 48);
    request.stop = vec!["Paris".into()];
    let (pieces, c) = stream(engine, request);
    assert_eq!(c.stop_reason, StopReason::StopString);
    assert!(
        !c.text.contains("Paris") && !pieces.concat().contains("Paris"),
        "{:?}",
        c.text
    );
    assert!(c.text.contains("capital"), "{:?}", c.text);

    let (_, c) = stream(engine, greedy(Prompt::Chat(france()), 3));
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
    assert_eq!(c.tokens.len(), 3);
}

#[test]
fn cancel_mid_generation_returns_promptly_with_the_text_so_far() {
    let engine = smollm();
    let cancel = CancellationToken::new();
    let request = greedy(
        Prompt::Text("Count from one to one thousand: one, two, three,".into()),
        2000,
    );
    let mut pieces = 0;
    let mut completion = None;
    for event in engine.generate(request, cancel.clone()) {
        match event {
            GenerationEvent::Token(_) => {
                pieces += 1;
                if pieces == 3 {
                    cancel.cancel();
                }
            }
            GenerationEvent::Done(result) => completion = Some(result.unwrap()),
        }
    }
    let c = completion.unwrap();
    assert_eq!(c.stop_reason, StopReason::Cancelled);
    // The worker checks the token before every step: at most one more piece.
    assert!(
        (3..=4).contains(&c.tokens.len()),
        "{} tokens",
        c.tokens.len()
    );
}

#[test]
fn prompt_longer_than_the_context_is_refused_before_compute() {
    let engine = Engine::load(
        models::smollm2(),
        EngineOptions {
            context_length: Some(64),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let long = "word ".repeat(200);
    let err = engine
        .generate_blocking(
            greedy(Prompt::Text(long), 8),
            CancellationToken::new(),
            |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::PromptTooLong {
                context_length: 64,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("context window is 64"), "{err}");
}

#[test]
fn follow_up_turn_reuses_the_prefix_and_matches_a_fresh_run() {
    let engine = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let first_prompt = Prompt::Chat(france());
    let first_ids = engine.prompt_tokens(&first_prompt).unwrap();
    let (_, first) = stream(&engine, greedy(first_prompt, 48));
    assert_eq!(first.stop_reason, StopReason::Eos);

    let mut turn2 = france();
    turn2.push(Message::assistant(first.text.clone()));
    turn2.push(Message::user("And of Germany?"));
    let second_ids = engine.prompt_tokens(&Prompt::Chat(turn2.clone())).unwrap();
    // What the cache held: the first prompt and every answer token fed back.
    let cached: Vec<u32> = first_ids.iter().chain(&first.tokens).copied().collect();
    let expected = cached
        .iter()
        .zip(&second_ids)
        .take_while(|(a, b)| a == b)
        .count();
    assert!(
        expected > first_ids.len(),
        "the template should keep the first turn as a prefix"
    );

    let (_, second) = stream(&engine, greedy(Prompt::Chat(turn2.clone()), 32));
    assert_eq!(second.stats.prompt_tokens_reused, expected);
    assert_eq!(second.stats.prompt_tokens_new, second_ids.len() - expected);

    let fresh = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let (_, again) = stream(&fresh, greedy(Prompt::Chat(turn2), 32));
    assert_eq!(again.stats.prompt_tokens_reused, 0);
    assert_eq!(again.tokens, second.tokens);
}

#[test]
fn gemma3_uses_its_known_template_with_one_bos() {
    let engine = Engine::load(models::gemma3(), EngineOptions::default()).unwrap();
    let prompt = Prompt::Chat(vec![Message::user("What is the capital of France?")]);
    let ids = engine.prompt_tokens(&prompt).unwrap();
    let expected = engine
        .tokenize(
            "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
            false,
            true,
        )
        .unwrap();
    assert_eq!(ids, expected);
    assert_eq!(ids.iter().filter(|&&t| t == 2).count(), 1, "{ids:?}");
    assert_eq!(ids[0], 2);

    let (pieces, c) = stream(&engine, greedy(prompt, 16));
    assert!(c.stats.completion_tokens > 0);
    assert_eq!(pieces.concat(), c.text);
    assert!(matches!(
        c.stop_reason,
        StopReason::Eos | StopReason::MaxTokens
    ));
    assert_eq!(engine.info().architecture, "gemma3");
}

#[test]
fn bad_files_fail_to_load_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let load = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        Engine::load(&path, EngineOptions::default())
            .unwrap_err()
            .to_string()
    };

    let model = std::fs::read(models::smollm2()).unwrap();
    let err = load("truncated.gguf", &model[..model.len() / 2]);
    assert!(err.contains("truncated"), "{err}");

    let err = load("text.gguf", b"hello, I am not a model");
    assert!(err.contains("not a GGUF file"), "{err}");

    // A valid GGUF header whose architecture Hearth does not run.
    let mut mamba = model.clone();
    let at = mamba.windows(5).position(|w| w == b"llama").unwrap();
    mamba[at..at + 5].copy_from_slice(b"mamba");
    let err = load("mamba.gguf", &mamba);
    assert!(err.contains("unsupported architecture \"mamba\""), "{err}");
    assert!(err.contains("llama, qwen2, qwen3, gemma3, phi3"), "{err}");

    let err = Engine::load(dir.path().join("missing.gguf"), EngineOptions::default()).unwrap_err();
    assert!(err.to_string().contains("missing.gguf"), "{err}");
}

/// JSON mode: both models answer with one JSON object that parses, greedy and
/// sampled, and the answer ends when the object closes.
#[test]
fn json_mode_answers_with_one_json_object() {
    let gemma = Engine::load(models::gemma3(), EngineOptions::default()).unwrap();
    let ask = vec![Message::user(
        "Describe a cat as JSON with the fields name, age and colour.",
    )];
    for (engine, name) in [(smollm(), "smollm2"), (&gemma, "gemma3")] {
        for sampling in [
            SamplingParams::greedy(),
            SamplingParams {
                seed: Some(3),
                ..SamplingParams::default()
            },
        ] {
            let request = GenerateRequest {
                sampling,
                format: OutputFormat::JsonObject,
                ..greedy(Prompt::Chat(ask.clone()), 256)
            };
            let (_, answer) = stream(engine, request);
            assert_eq!(
                answer.stop_reason,
                StopReason::Eos,
                "{name}: {:?}",
                answer.text
            );
            let value: serde_json::Value = serde_json::from_str(&answer.text)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {:?}", answer.text));
            assert!(value.is_object(), "{name}: {value}");
        }
    }
}

#[test]
fn logprobs_are_reported_per_token_from_the_full_distribution() {
    let engine = smollm();
    let request = GenerateRequest {
        logprobs: Some(5),
        ..greedy(Prompt::Chat(france()), 16)
    };
    let (_, answer) = stream(engine, request);
    let logprobs = answer.logprobs.expect("asked for");
    assert_eq!(logprobs.len(), answer.tokens.len());
    let bytes: Vec<u8> = logprobs.iter().flat_map(|t| t.bytes.clone()).collect();
    assert_eq!(String::from_utf8(bytes).unwrap(), answer.text);
    for t in &logprobs {
        assert_eq!(t.top.len(), 5);
        // Greedy picks the most likely token: the first alternative.
        assert_eq!(t.top[0].token, t.token);
        assert_eq!(t.top[0].logprob, t.logprob);
        assert!(t.top.windows(2).all(|w| w[0].logprob >= w[1].logprob));
        assert!(t.logprob <= 0.0);
        let mass: f32 = t.top.iter().map(|a| a.logprob.exp()).sum();
        assert!(mass <= 1.0 + 1e-4, "{mass}");
    }

    // A sampled answer reports the model's own probabilities, not the
    // sampler's: a hot temperature does not change them for the same prefix.
    let hot = GenerateRequest {
        sampling: SamplingParams {
            temperature: 1.5,
            seed: Some(7),
            ..SamplingParams::default()
        },
        logprobs: Some(0),
        ..greedy(Prompt::Chat(france()), 1)
    };
    let (_, sampled) = stream(engine, hot);
    let first = &sampled.logprobs.unwrap()[0];
    assert!(first.top.is_empty());
    let greedy_first = &logprobs[0];
    if first.token == greedy_first.token {
        assert!((first.logprob - greedy_first.logprob).abs() < 1e-4);
    }

    let too_many = GenerateRequest {
        logprobs: Some(21),
        ..greedy(Prompt::Chat(france()), 4)
    };
    let err = engine
        .generate_blocking(too_many, CancellationToken::new(), |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("between 0 and 20"), "{err}");
}
