//! Tool calling against every provider wire: tools and the tool history go
//! out in the provider's shape, scripted calls come back as
//! `Completion::tool_calls`, malformed ones stay text. `tools!` writes one
//! test per (scenario, provider) pair, named `tools::openai::round_trip` and
//! so on.

use hearth_backend::{ChatRequest, ErrorKind, FinishReason, Message, ToolChoice, ToolSpec};
use hearth_providers::HttpPolicy;
use hearth_testkit::providers::{Scripted, ScriptedCall};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Case, chat, fast_policy, request, setup};

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec::new(
            "get_weather",
            "The weather in a city.",
            json!({"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": false}),
        ),
        ToolSpec::new(
            "now",
            "The time.",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

fn tool_request(case: Case) -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are terse."),
            Message::user("Weather in Paris, and the time?"),
        ],
        tools: tools(),
        ..request(case)
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Request with tools → a streamed answer of two calls → the results sent
/// back → a text answer; each request checked in the provider's shape.
async fn round_trip(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![
            ScriptedCall::new("get_weather", r#"{"city": "Paris — Île-de-France"}"#),
            ScriptedCall::new("now", "{}"),
        ],
    });
    s.server
        .push_answer(Scripted::Text("18 C in Paris at noon.".into()));
    let req = tool_request(case);
    let (result, shown) = chat(&s.provider, req.clone(), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.finish, FinishReason::ToolCalls);
    assert_eq!(shown, "");
    assert_eq!(done.text, "");
    let names: Vec<&str> = done.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["get_weather", "now"]);
    assert_eq!(
        json_of(&done.tool_calls[0].arguments),
        json!({"city": "Paris — Île-de-France"})
    );
    assert_eq!(json_of(&done.tool_calls[1].arguments), json!({}));
    let ids: Vec<&str> = done.tool_calls.iter().map(|c| c.id.as_str()).collect();
    match case {
        Case::OpenAi | Case::Compat => assert_eq!(ids, ["call_standin_0", "call_standin_1"]),
        Case::Anthropic => assert_eq!(ids, ["toolu_standin_0", "toolu_standin_1"]),
        Case::Gemini => assert_eq!(ids, ["call_0", "call_1"]),
    }

    // The first request offered the tools in the provider's shape.
    let first = &s.server.chat_bodies()[0];
    match case {
        Case::OpenAi | Case::Compat => {
            assert_eq!(first["tools"][0]["type"], "function");
            assert_eq!(first["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(first["tool_choice"], "auto");
        }
        Case::Anthropic => {
            assert_eq!(first["tools"][1]["name"], "now");
            assert_eq!(first["tools"][0]["input_schema"]["required"][0], "city");
            assert_eq!(first["tool_choice"], json!({"type": "auto"}));
        }
        Case::Gemini => {
            let declarations = &first["tools"][0]["functionDeclarations"];
            assert_eq!(declarations[0]["name"], "get_weather");
            assert!(
                declarations[0]["parameters"]
                    .get("additionalProperties")
                    .is_none()
            );
            assert_eq!(first["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");
        }
    }

    // The results go back; the answer is text.
    let mut next = req;
    next.messages.push(Message::assistant_calls(
        done.text.clone(),
        done.tool_calls.clone(),
    ));
    next.messages
        .push(Message::tool(&done.tool_calls[0].id, "18 C"));
    next.messages
        .push(Message::tool(&done.tool_calls[1].id, "12:00"));
    let (result, shown) = chat(&s.provider, next, CancellationToken::new()).await;
    let answer = result.unwrap();
    assert_eq!(answer.finish, FinishReason::Stop);
    assert!(answer.tool_calls.is_empty());
    assert_eq!(answer.text, "18 C in Paris at noon.");
    assert_eq!(shown, answer.text);

    let bodies = s.server.chat_bodies();
    assert_eq!(bodies.len(), 2);
    let second = &bodies[1];
    match case {
        Case::OpenAi | Case::Compat => {
            let m = second["messages"].as_array().unwrap();
            assert_eq!(m.len(), 5);
            assert_eq!(m[2]["role"], "assistant");
            assert_eq!(m[2]["tool_calls"][0]["id"], "call_standin_0");
            assert_eq!(m[2]["tool_calls"][0]["function"]["name"], "get_weather");
            assert_eq!(
                json_of(
                    m[2]["tool_calls"][0]["function"]["arguments"]
                        .as_str()
                        .unwrap()
                ),
                json!({"city": "Paris — Île-de-France"})
            );
            assert_eq!(
                m[3],
                json!({"role": "tool", "tool_call_id": "call_standin_0", "content": "18 C"})
            );
            assert_eq!(m[4]["tool_call_id"], "call_standin_1");
        }
        Case::Anthropic => {
            let m = second["messages"].as_array().unwrap();
            assert_eq!(m.len(), 3, "user, assistant calls, user results");
            assert_eq!(m[1]["role"], "assistant");
            assert_eq!(
                m[1]["content"][0],
                json!({"type": "tool_use", "id": "toolu_standin_0", "name": "get_weather",
                       "input": {"city": "Paris — Île-de-France"}})
            );
            assert_eq!(m[2]["role"], "user");
            assert_eq!(
                m[2]["content"],
                json!([
                    {"type": "tool_result", "tool_use_id": "toolu_standin_0", "content": "18 C"},
                    {"type": "tool_result", "tool_use_id": "toolu_standin_1", "content": "12:00"},
                ])
            );
        }
        Case::Gemini => {
            let c = second["contents"].as_array().unwrap();
            assert_eq!(c.len(), 3);
            assert_eq!(c[1]["role"], "model");
            assert_eq!(
                c[1]["parts"][0],
                json!({"functionCall": {"name": "get_weather",
                                        "args": {"city": "Paris — Île-de-France"}}})
            );
            assert_eq!(c[2]["role"], "user");
            assert_eq!(
                c[2]["parts"],
                json!([
                    {"functionResponse": {"name": "get_weather", "response": {"output": "18 C"}}},
                    {"functionResponse": {"name": "now", "response": {"output": "12:00"}}},
                ])
            );
        }
    }
}

/// Text said before a call is streamed and kept beside the call; a forced
/// choice reaches the provider.
async fn text_then_forced_call(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_answer(Scripted::ToolCalls {
        text: "Let me check.".into(),
        calls: vec![ScriptedCall::new("get_weather", r#"{"city":"Rome"}"#)],
    });
    let req = ChatRequest {
        tool_choice: ToolChoice::Function("get_weather".into()),
        ..tool_request(case)
    };
    let (result, shown) = chat(&s.provider, req, CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.text, "Let me check.");
    assert_eq!(shown, "Let me check.");
    assert_eq!(done.finish, FinishReason::ToolCalls);
    assert_eq!(done.tool_calls.len(), 1);
    assert_eq!(
        json_of(&done.tool_calls[0].arguments),
        json!({"city": "Rome"})
    );
    let body = &s.server.chat_bodies()[0];
    match case {
        Case::OpenAi | Case::Compat => {
            assert_eq!(body["tool_choice"]["function"]["name"], "get_weather");
        }
        Case::Anthropic => {
            assert_eq!(
                body["tool_choice"],
                json!({"type": "tool", "name": "get_weather"})
            );
        }
        Case::Gemini => assert_eq!(
            body["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]})
        ),
    }
}

/// Calls that cannot be used (arguments that are not JSON, a tool that was
/// not offered) are no calls: their text stays in the answer, shown and
/// returned alike, beside the call that was fine.
async fn malformed_calls_stay_text(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![
            ScriptedCall::new("get_weather", r#"{"city": "Par"#),
            ScriptedCall::new("rm_rf", r#"{"path": "/"}"#),
            ScriptedCall::new("now", ""),
        ],
    });
    let (result, shown) = chat(&s.provider, tool_request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.text, shown, "what was returned was shown");
    assert!(done.text.contains("get_weather"), "{}", done.text);
    assert!(done.text.contains("rm_rf"), "{}", done.text);
    let names: Vec<&str> = done.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["now"]);
    assert_eq!(done.finish, FinishReason::ToolCalls);

    // Nothing usable at all: a plain answer.
    s.server.push_answer(Scripted::ToolCalls {
        text: "Hm.".into(),
        calls: vec![ScriptedCall::new("get_weather", "not json at all")],
    });
    let (result, shown) = chat(&s.provider, tool_request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert!(done.tool_calls.is_empty());
    assert_eq!(done.finish, FinishReason::Stop);
    assert!(done.text.starts_with("Hm.\n"), "{}", done.text);
    assert_eq!(done.text, shown);
}

/// A server that answers whole (one JSON body, not a stream): text and
/// calls are read all the same, and a malformed call stays text.
async fn whole_answers(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.set_whole(true);
    s.server.push_answer(Scripted::ToolCalls {
        text: "Let me check.".into(),
        calls: vec![
            ScriptedCall::new("get_weather", r#"{"city": "Paris"}"#),
            ScriptedCall::new("now", "not json"),
        ],
    });
    let (result, shown) = chat(&s.provider, tool_request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.finish, FinishReason::ToolCalls);
    assert_eq!(done.tool_calls.len(), 1, "{:?}", done.tool_calls);
    assert_eq!(done.tool_calls[0].name, "get_weather");
    assert_eq!(
        json_of(&done.tool_calls[0].arguments),
        json!({"city": "Paris"})
    );
    assert!(done.text.starts_with("Let me check.\n"), "{}", done.text);
    assert!(done.text.contains("now"), "{}", done.text);
    assert_eq!(shown, done.text);
    assert!(done.usage.is_some());

    // Plain text, whole.
    let (result, shown) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.text, s.server.answer());
    assert_eq!(shown, done.text);
    assert_eq!(done.finish, FinishReason::Stop);
    assert!(done.tool_calls.is_empty());
}

/// Arguments past the cap end the call with a clear error, not a huge buffer.
async fn oversized_arguments_are_refused(case: Case) {
    let policy = HttpPolicy {
        max_retries: 0,
        max_tool_arguments_bytes: 256,
        ..fast_policy()
    };
    let s = setup(case, policy).await;
    let big = format!(r#"{{"city": "{}"}}"#, "x".repeat(2000));
    s.server.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new("get_weather", &big)],
    });
    let (result, _) = chat(&s.provider, tool_request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed, "{err}");
    assert!(err.to_string().contains("tool calls"), "{err}");
}

macro_rules! tools {
    ($($case:ident => $variant:expr),* $(,)?) => {$(
        mod $case {
            use super::*;
            #[tokio::test] async fn round_trip() { super::round_trip($variant).await }
            #[tokio::test] async fn text_then_forced_call() { super::text_then_forced_call($variant).await }
            #[tokio::test] async fn malformed_calls_stay_text() { super::malformed_calls_stay_text($variant).await }
            #[tokio::test] async fn whole_answers() { super::whole_answers($variant).await }
            #[tokio::test] async fn oversized_arguments_are_refused() { super::oversized_arguments_are_refused($variant).await }
        }
    )*};
}

tools! {
    openai => Case::OpenAi,
    anthropic => Case::Anthropic,
    gemini => Case::Gemini,
    compat => Case::Compat,
}
