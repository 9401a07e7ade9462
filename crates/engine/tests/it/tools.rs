//! Tool calls on the real SmolLM2 (issue 22): a forced call is a valid call of
//! the named function, and nothing of it streams as text.

use hearth_backend::{Message, ToolChoice, ToolSpec};
use hearth_engine::{
    Engine, EngineOptions, GenerateRequest, OutputFormat, Prompt, SamplingParams, StopReason,
};
use hearth_testkit::models;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec::new(
            "get_weather",
            "The current weather in a city.",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ),
        ToolSpec::new(
            "get_time",
            "The time now.",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

fn request(choice: ToolChoice, max_tokens: usize) -> GenerateRequest {
    with_tools(tools(), choice, max_tokens)
}

fn with_tools(tools: Vec<ToolSpec>, choice: ToolChoice, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Tools {
            messages: vec![Message::user("What is the weather in Paris?")],
            tools,
            choice,
        },
        sampling: SamplingParams::greedy(),
        max_tokens: Some(max_tokens),
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        thinking: None,
    }
}

#[test]
fn forced_calls_are_valid_calls_and_do_not_stream_issue_22() {
    let engine = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    for (choice, max_tokens) in [
        (ToolChoice::Function("get_weather".into()), 64),
        (ToolChoice::Function("get_weather".into()), 12),
        (ToolChoice::Required, 96),
    ] {
        let mut pieces = String::new();
        let done = engine
            .generate_blocking(
                request(choice.clone(), max_tokens),
                CancellationToken::new(),
                |p| pieces.push_str(p),
            )
            .unwrap_or_else(|e| panic!("{choice:?}/{max_tokens}: {e}"));
        assert_eq!(done.stop_reason, StopReason::Eos, "{choice:?}");
        assert_eq!(pieces, "", "{choice:?}");
        assert_eq!(done.text, "");
        assert_eq!(done.tool_calls.len(), 1, "{choice:?}");
        let call = &done.tool_calls[0];
        if let ToolChoice::Function(name) = &choice {
            assert_eq!(&call.name, name);
        }
        assert!(tools().iter().any(|t| t.name == call.name));
        let args: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        assert!(args.is_object());
    }
}

#[test]
fn choice_none_and_auto_answer_with_text() {
    let engine = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    let done = engine
        .generate_blocking(
            request(ToolChoice::None, 16),
            CancellationToken::new(),
            |_| {},
        )
        .unwrap();
    assert!(done.tool_calls.is_empty());
    assert!(!done.text.is_empty());
}
