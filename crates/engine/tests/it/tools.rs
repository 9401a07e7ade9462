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

/// A tool whose arguments SmolLM2 got wrong before they were held to the
/// schema (it wrote `{"time": …}` for mcp-server-time's `timezone`).
fn time_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec::new(
            "get_current_time",
            "The current time in a timezone.",
            json!({
                "type": "object",
                "properties": {"timezone": {
                    "type": "string",
                    "enum": ["Europe/Paris", "Asia/Tokyo", "UTC"],
                    "description": "IANA timezone name"
                }},
                "required": ["timezone"]
            }),
        ),
        ToolSpec::new(
            "set_alarm",
            "Sets an alarm.",
            json!({
                "type": "object",
                "properties": {
                    "hour": {"type": "integer"},
                    "minute": {"type": "integer"},
                    "label": {"type": ["string", "null"]},
                    "repeat": {"type": "boolean"}
                },
                "required": ["hour", "minute"]
            }),
        ),
    ]
}

/// The arguments match the tool's schema (checked by hand: the test schemas
/// use only what this checks).
fn check_arguments(name: &str, arguments: &str) {
    let args: serde_json::Value = serde_json::from_str(arguments).unwrap();
    let obj = args.as_object().unwrap_or_else(|| panic!("{arguments}"));
    match name {
        "get_current_time" => {
            assert_eq!(obj.len(), 1, "{arguments}");
            let tz = obj["timezone"].as_str().unwrap_or_default();
            assert!(
                ["Europe/Paris", "Asia/Tokyo", "UTC"].contains(&tz),
                "{arguments}"
            );
        }
        "set_alarm" => {
            assert!(
                obj["hour"].is_i64() && obj["minute"].is_i64(),
                "{arguments}"
            );
            for (key, value) in obj {
                let ok = match key.as_str() {
                    "hour" | "minute" => true,
                    "label" => value.is_string() || value.is_null(),
                    "repeat" => value.is_boolean(),
                    _ => false,
                };
                assert!(ok, "{arguments}");
            }
        }
        other => panic!("called {other}"),
    }
}

#[test]
fn forced_arguments_match_the_tools_schema_issue_22() {
    let engine = Engine::load(models::smollm2(), EngineOptions::default()).unwrap();
    for (question, choice) in [
        (
            "What time is it in Tokyo?",
            ToolChoice::Function("get_current_time".into()),
        ),
        (
            "What time is it in Paris?",
            ToolChoice::Function("get_current_time".into()),
        ),
        (
            "Wake me up at half past seven.",
            ToolChoice::Function("set_alarm".into()),
        ),
        ("What time is it in London?", ToolChoice::Required),
    ] {
        let mut request = with_tools(time_tools(), choice.clone(), 64);
        if let Prompt::Tools { messages, .. } = &mut request.prompt {
            *messages = vec![Message::user(question)];
        }
        let done = engine
            .generate_blocking(request, CancellationToken::new(), |_| {})
            .unwrap_or_else(|e| panic!("{question}: {e}"));
        assert_eq!(done.tool_calls.len(), 1, "{question}");
        let call = &done.tool_calls[0];
        if let ToolChoice::Function(name) = &choice {
            assert_eq!(&call.name, name);
        }
        check_arguments(&call.name, &call.arguments);
    }
}
