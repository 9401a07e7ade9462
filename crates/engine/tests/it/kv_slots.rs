//! KV slots (issue 18, item 4): each conversation keeps its cache, so a
//! client switching between chats (A, B, A) does not recompute A's history;
//! the slots are bounded by a count and a memory budget.

use hearth_backend::Message;
use hearth_engine::{
    Completion, Engine, EngineOptions, GenerateRequest, OutputFormat, Prompt, SamplingParams,
    StopReason,
};
use hearth_testkit::models;
use tokio_util::sync::CancellationToken;

fn greedy(messages: Vec<Message>, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(messages),
        sampling: SamplingParams::greedy(),
        max_tokens: Some(max_tokens),
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    }
}

fn run(engine: &Engine, request: GenerateRequest) -> Completion {
    engine
        .generate_blocking(request, CancellationToken::new(), |_| {})
        .unwrap()
}

fn chat_a() -> Vec<Message> {
    vec![Message::user("What is the capital of France?")]
}

fn chat_b() -> Vec<Message> {
    vec![Message::user(
        "Write two sentences about the sea, the wind and the boats.",
    )]
}

/// A's first turn, B's first turn, then A's second turn on `engine`:
/// the second turn's completion and the tokens A's slot held before it.
fn a_b_a(engine: &Engine) -> (Completion, Vec<u32>, Vec<Message>) {
    let a_ids = engine.prompt_tokens(&Prompt::Chat(chat_a())).unwrap();
    let a = run(engine, greedy(chat_a(), 24));
    let b = run(engine, greedy(chat_b(), 24));
    assert!(b.stats.completion_tokens > 0);
    let mut turn2 = chat_a();
    turn2.push(Message::assistant(a.text.clone()));
    turn2.push(Message::user("And of Germany?"));
    // The last answer token is drawn but only fed back when generation goes
    // on, so the slot holds the prompt and the answer but for a token cut
    // short by `max_tokens`.
    let mut held: Vec<u32> = a_ids.iter().chain(&a.tokens).copied().collect();
    if a.stop_reason == StopReason::MaxTokens {
        held.pop();
    }
    let second = run(engine, greedy(turn2.clone(), 16));
    (second, held, turn2)
}

fn common(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[test]
fn issue_18_switching_chats_keeps_each_ones_cache() {
    let engine = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let (second, held, turn2) = a_b_a(&engine);
    let turn2_ids = engine.prompt_tokens(&Prompt::Chat(turn2.clone())).unwrap();
    let a_ids = engine.prompt_tokens(&Prompt::Chat(chat_a())).unwrap();
    let expected = common(&held, &turn2_ids);
    assert!(
        expected > a_ids.len(),
        "A's first turn is a prefix of its second"
    );
    // Everything A's slot held that the second turn shares was reused,
    // B's turn in between notwithstanding.
    assert_eq!(second.stats.prompt_tokens_reused, expected);
    assert_eq!(second.stats.prompt_tokens_new, turn2_ids.len() - expected);

    // The same answer as a fresh engine computing the whole prompt.
    let fresh = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let again = run(&fresh, greedy(turn2, 16));
    assert_eq!(again.stats.prompt_tokens_reused, 0);
    assert_eq!(again.tokens, second.tokens);
}

#[test]
fn one_slot_is_taken_over_by_the_other_chat() {
    let options = EngineOptions {
        kv_slots: 1,
        ..EngineOptions::default()
    };
    let engine = Engine::load(models::smollm2(), options).unwrap();
    let (second, _, turn2) = a_b_a(&engine);
    // Only what B's turn shares with A's second turn (the template's start)
    // was still cached.
    let turn2_ids = engine.prompt_tokens(&Prompt::Chat(turn2)).unwrap();
    let b_ids = engine.prompt_tokens(&Prompt::Chat(chat_b())).unwrap();
    assert_eq!(
        second.stats.prompt_tokens_reused,
        common(&b_ids, &turn2_ids)
    );
}

#[test]
fn a_memory_budget_of_one_byte_keeps_only_the_last_slot() {
    let options = EngineOptions {
        kv_budget: Some(1),
        ..EngineOptions::default()
    };
    let engine = Engine::load(models::smollm2(), options).unwrap();
    let (second, _, turn2) = a_b_a(&engine);
    // A's slot was dropped when B's came back: A's second turn finds only
    // the start it shares with B's turn (the template's system prompt),
    // copied from B's slot into a new one, B's own history left in place.
    let turn2_ids = engine.prompt_tokens(&Prompt::Chat(turn2.clone())).unwrap();
    let b_ids = engine.prompt_tokens(&Prompt::Chat(chat_b())).unwrap();
    let shared = common(&b_ids, &turn2_ids);
    assert!(shared >= 8, "the system prompt is shared: {shared} tokens");
    assert_eq!(second.stats.prompt_tokens_reused, shared);
    let fresh = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    assert_eq!(run(&fresh, greedy(turn2, 16)).tokens, second.tokens);
}
