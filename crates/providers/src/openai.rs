//! OpenAI's chat completions API, also spoken by OpenAI-compatible servers
//! (Ollama, llama.cpp, vLLM, LM Studio).
//!
//! - Streaming: <https://platform.openai.com/docs/api-reference/chat-streaming>
//! - Request: <https://platform.openai.com/docs/api-reference/chat/create>
//! - Models: <https://platform.openai.com/docs/api-reference/models/list>
//! - Tools: <https://platform.openai.com/docs/guides/function-calling>
//!
//! Tools go as `tools` / `tool_choice`; calls stream as `delta.tool_calls`
//! fragments put together by `index` (id and name first, then pieces of the
//! `arguments` text); results go back as `tool` messages.
//!
//! Pure translation: our request to a body, one SSE event to items.

use hearth_backend::{ChatRequest, ErrorKind, FinishReason, Message, Role, ToolChoice};
use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{
    Auth, RemoteModel, StreamItem, ToolPiece, Unreadable, WireError, WireRequest, endpoint,
};

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    /// Text, as OpenAI sends it; some compatible servers send an object.
    #[serde(default)]
    arguments: Option<Value>,
}

/// A whole (not streamed) answer.
#[derive(Deserialize)]
struct WholeAnswer {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WholeChoice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct WholeChoice {
    #[serde(default)]
    message: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    /// Read to classify, never kept or shown.
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// The chat request. `compat` servers get `max_tokens` (many do not know
/// `max_completion_tokens`) and no `Authorization` header without a key.
pub(crate) fn chat_request(
    base: &Url,
    key: Option<&SecretString>,
    compat: bool,
    req: &ChatRequest,
) -> Result<WireRequest, &'static str> {
    if req.messages.is_empty() {
        return Err("the conversation is empty");
    }
    let messages: Vec<Value> = req.messages.iter().map(message_json).collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({ "include_usage": true }));
    if let Some(max) = req.max_tokens {
        let field = if compat {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        body.insert(field.into(), json!(max));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if req.json {
        body.insert("response_format".into(), json!({"type": "json_object"}));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        // With `none` too: the API then shows no call, and a history holding
        // calls stays valid.
        let tools: Vec<Value> = req.tools.iter().map(|t| t.to_openai()).collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &req.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => {
                json!({ "type": "function", "function": { "name": name } })
            }
        };
        body.insert("tool_choice".into(), choice);
        // OpenAI's own default, said out loud so a turn's calls all arrive
        // in one answer; compatible servers may not know the field.
        if !compat && req.tool_choice != ToolChoice::None {
            body.insert("parallel_tool_calls".into(), json!(true));
        }
    }
    Ok(WireRequest::post(
        endpoint(base, &["chat", "completions"]),
        auth(key),
        Value::Object(body),
    ))
}

/// One message: an assistant's calls as `tool_calls`, a tool's result with
/// the `tool_call_id` it answers.
fn message_json(m: &Message) -> Value {
    match m.role {
        Role::Assistant if !m.tool_calls.is_empty() => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
            // `null` content beside calls is what the API itself returns.
            let content = if m.content.is_empty() {
                Value::Null
            } else {
                json!(m.content)
            };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
        _ => json!({ "role": m.role.as_str(), "content": m.content }),
    }
}

/// `GET {base}/models`.
pub(crate) fn models_request(base: &Url, key: Option<&SecretString>) -> WireRequest {
    WireRequest::get(endpoint(base, &["models"]), auth(key))
}

fn auth(key: Option<&SecretString>) -> Auth {
    key.map_or(Auth::None, |k| Auth::Bearer(k.clone()))
}

/// One `data:` line of the stream.
pub(crate) fn parse_event(data: &str) -> Result<Vec<StreamItem>, Unreadable> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(vec![StreamItem::Done]);
    }
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let chunk: Chunk = serde_json::from_str(data).map_err(|e| format!("chunk: {e}"))?;
    if let Some(error) = chunk.error {
        return Ok(vec![StreamItem::Error(stream_error(&error))]);
    }
    let mut items = Vec::new();
    if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
        items.push(StreamItem::Model(model));
    }
    // Only the first choice: Hearth never asks for more than one (`n`).
    if let Some(choice) = chunk.choices.into_iter().next() {
        let (content, calls) = choice
            .delta
            .map_or((None, None), |d| (d.content, d.tool_calls));
        if let Some(text) = content.filter(|t| !t.is_empty()) {
            items.push(StreamItem::Text(text));
        }
        for call in calls.unwrap_or_default() {
            items.push(call_piece(call, None));
        }
        if let Some(reason) = choice.finish_reason {
            items.push(StreamItem::Finish(finish_reason(&reason)));
        }
    }
    if let Some(usage) = chunk.usage {
        items.push(StreamItem::Usage {
            input: usage.prompt_tokens,
            output: usage.completion_tokens,
        });
    }
    Ok(items)
}

/// A whole answer (`message` instead of `delta`): the same items a stream
/// of it would give.
pub(crate) fn parse_whole(body: &str) -> Result<Vec<StreamItem>, Unreadable> {
    let answer: WholeAnswer = serde_json::from_str(body).map_err(|e| format!("answer: {e}"))?;
    if let Some(error) = answer.error {
        return Ok(vec![StreamItem::Error(stream_error(&error))]);
    }
    let mut items = Vec::new();
    if let Some(model) = answer.model.filter(|m| !m.is_empty()) {
        items.push(StreamItem::Model(model));
    }
    if let Some(choice) = answer.choices.into_iter().next() {
        if let Some(message) = choice.message {
            if let Some(text) = message.content.filter(|t| !t.is_empty()) {
                items.push(StreamItem::Text(text));
            }
            for (i, call) in message
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                items.push(call_piece(call, Some(i as u64)));
            }
        }
        if let Some(reason) = choice.finish_reason {
            items.push(StreamItem::Finish(finish_reason(&reason)));
        }
    }
    if let Some(usage) = answer.usage {
        items.push(StreamItem::Usage {
            input: usage.prompt_tokens,
            output: usage.completion_tokens,
        });
    }
    items.push(StreamItem::Done);
    Ok(items)
}

/// One entry of `tool_calls`; `index` when the entry has none.
fn call_piece(call: ToolCallDelta, index: Option<u64>) -> StreamItem {
    let (name, arguments) = call
        .function
        .map_or((None, None), |f| (f.name, f.arguments));
    let arguments = match arguments {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text,
        Some(other) => other.to_string(),
    };
    StreamItem::Tool(ToolPiece {
        index: call.index.or(index),
        id: call.id,
        name,
        arguments,
        signature: None,
    })
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        // `function_call`: the older API's name, still sent by some servers.
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn stream_error(error: &ErrorBody) -> WireError {
    let code = match (&error.code, &error.kind) {
        (Some(Value::String(code)), _) => code.clone(),
        (_, Some(kind)) => kind.clone(),
        _ => "error".to_owned(),
    };
    let kind = if code.contains("rate_limit") {
        ErrorKind::RateLimit
    } else if code.contains("invalid_request") {
        ErrorKind::Rejected
    } else {
        ErrorKind::Server
    };
    WireError::new(kind, code, error.message.as_deref())
}

/// The body of `GET /models`.
pub(crate) fn parse_models(body: &[u8]) -> Result<Vec<RemoteModel>, Unreadable> {
    let list: ModelList = serde_json::from_slice(body).map_err(|e| format!("models: {e}"))?;
    Ok(list
        .data
        .into_iter()
        .map(|m| RemoteModel {
            id: m.id,
            name: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use hearth_backend::Message;
    use secrecy::ExposeSecret;

    use super::*;

    /// A stream shaped like OpenAI's documented chunks, with usage at the end.
    const STREAM: &str = r#"data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Paris is"},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":" the capital — café ☕."},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}

data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":8,"total_tokens":27}}

data: [DONE]

"#;

    fn events(transcript: &str) -> Vec<StreamItem> {
        transcript
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .flat_map(|data| parse_event(data).unwrap())
            .collect()
    }

    #[test]
    fn a_stream_becomes_text_usage_and_finish() {
        let items = events(STREAM);
        let text: String = items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Paris is the capital — café ☕.");
        assert!(items.contains(&StreamItem::Finish(FinishReason::Length)));
        assert!(items.contains(&StreamItem::Usage {
            input: Some(19),
            output: Some(8)
        }));
        assert!(items.contains(&StreamItem::Model("gpt-4o-mini-2024-07-18".into())));
        assert_eq!(items.last(), Some(&StreamItem::Done));
    }

    #[test]
    fn errors_and_garbage_are_told_apart() {
        let items =
            parse_event(r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#)
                .unwrap();
        assert_eq!(
            items,
            [StreamItem::Error(WireError {
                kind: ErrorKind::Server,
                code: "server_error".into()
            })]
        );
        let limited = parse_event(
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        )
        .unwrap();
        assert!(matches!(&limited[0], StreamItem::Error(e) if e.kind == ErrorKind::RateLimit));
        assert!(parse_event("{not json").is_err());
    }

    #[test]
    fn requests_carry_roles_settings_and_the_key() {
        let base = Url::parse("https://api.openai.com/v1").unwrap();
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Capital of France?"),
                Message::assistant("Paris."),
                Message::user("And Italy?"),
            ],
            max_tokens: Some(64),
            temperature: Some(0.5),
            top_p: Some(0.9),
            stop: vec!["\n\n".into()],
            json: false,
            ..ChatRequest::default()
        };
        let key = SecretString::from("sk-test".to_owned());
        let wire = chat_request(&base, Some(&key), false, &req).unwrap();
        assert_eq!(
            wire.url.as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert!(matches!(&wire.auth, Auth::Bearer(k) if k.expose_secret() == "sk-test"));
        let body = wire.body.unwrap();
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][2]["role"], "assistant");
        assert_eq!(body["messages"][3]["content"], "And Italy?");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["max_completion_tokens"], 64);
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["stop"][0], "\n\n");
        assert!(body.get("response_format").is_none());
        let json_mode = ChatRequest {
            json: true,
            ..req.clone()
        };
        let body = chat_request(&base, Some(&key), false, &json_mode)
            .unwrap()
            .body
            .unwrap();
        assert_eq!(body["response_format"]["type"], "json_object");

        let compat = chat_request(&base, None, true, &req).unwrap();
        assert!(matches!(compat.auth, Auth::None));
        let body = compat.body.unwrap();
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("max_completion_tokens").is_none());
        assert!(chat_request(&base, None, true, &ChatRequest::default()).is_err());
    }

    #[test]
    fn model_lists_parse() {
        let body = br#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1,"owned_by":"system"},{"id":"o3","object":"model","created":2,"owned_by":"system"}]}"#;
        let ids: Vec<String> = parse_models(body)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["gpt-4o-mini", "o3"]);
        assert!(parse_models(b"<html>").is_err());
    }

    fn weather() -> hearth_backend::ToolSpec {
        hearth_backend::ToolSpec::new(
            "get_weather",
            "The weather in a city.",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
    }

    #[test]
    fn requests_carry_tools_choices_and_the_tool_history() {
        use hearth_backend::ToolCall;
        let base = Url::parse("https://api.openai.com/v1").unwrap();
        let req = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![
                Message::user("Weather in Paris and Rome?"),
                Message::assistant_calls(
                    "",
                    vec![
                        ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#),
                        ToolCall::new("call_2", "get_weather", r#"{"city":"Rome"}"#),
                    ],
                ),
                Message::tool("call_1", "18 C"),
                Message::tool("call_2", "24 C"),
            ],
            tools: vec![weather()],
            ..ChatRequest::default()
        };
        let body = chat_request(&base, None, false, &req)
            .unwrap()
            .body
            .unwrap();
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            body["tools"][0]["function"]["parameters"]["required"][0],
            "city"
        );
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["parallel_tool_calls"], true);
        let m = &body["messages"];
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(m[1]["content"], Value::Null);
        assert_eq!(m[1]["tool_calls"][1]["id"], "call_2");
        assert_eq!(m[1]["tool_calls"][1]["type"], "function");
        assert_eq!(
            m[1]["tool_calls"][1]["function"]["arguments"],
            r#"{"city":"Rome"}"#
        );
        assert_eq!(m[2]["role"], "tool");
        assert_eq!(m[2]["tool_call_id"], "call_1");
        assert_eq!(m[3]["content"], "24 C");

        let choice = |choice: ToolChoice, compat: bool| {
            let req = ChatRequest {
                tool_choice: choice,
                ..req.clone()
            };
            chat_request(&base, None, compat, &req)
                .unwrap()
                .body
                .unwrap()
        };
        assert_eq!(
            choice(ToolChoice::Required, false)["tool_choice"],
            "required"
        );
        let none = choice(ToolChoice::None, false);
        assert_eq!(none["tool_choice"], "none");
        assert!(none.get("parallel_tool_calls").is_none());
        let named = choice(ToolChoice::Function("get_weather".into()), true);
        assert_eq!(named["tool_choice"]["type"], "function");
        assert_eq!(named["tool_choice"]["function"]["name"], "get_weather");
        assert!(
            named.get("parallel_tool_calls").is_none(),
            "compat: not sent"
        );

        let plain = ChatRequest {
            tools: Vec::new(),
            ..req
        };
        let body = chat_request(&base, None, false, &plain)
            .unwrap()
            .body
            .unwrap();
        assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
    }

    /// Two calls streamed as OpenAI streams them: id and name first, then the
    /// arguments in pieces, the calls' fragments interleaved.
    const TOOL_STREAM: &str = r#"data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_Xa","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Yb","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\": \"Rome\"}"}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-9","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]

"#;

    #[test]
    fn streamed_tool_call_fragments_become_calls() {
        let items = events(TOOL_STREAM);
        assert!(items.contains(&StreamItem::Finish(FinishReason::ToolCalls)));
        assert!(!items.iter().any(|i| matches!(i, StreamItem::Text(_))));
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let done = calls.finish(&[weather()], false);
        assert!(done.rejected.is_empty());
        let got: Vec<(&str, &str)> = done
            .calls
            .iter()
            .map(|c| (c.id.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("call_Xa", r#"{"city":"Paris"}"#),
                ("call_Yb", r#"{"city":"Rome"}"#)
            ]
        );
    }

    #[test]
    fn tool_call_arguments_as_objects_and_garbage() {
        // Some compatible servers send the arguments as an object.
        let items = parse_event(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .unwrap();
        assert_eq!(
            items[0],
            StreamItem::Tool(ToolPiece {
                index: None,
                id: Some("c1".into()),
                name: Some("get_weather".into()),
                arguments: r#"{"city":"Oslo"}"#.into(),
                signature: None,
            })
        );
        // A tool_calls entry of the wrong shape is an unreadable event, not a panic.
        assert!(parse_event(r#"{"choices":[{"delta":{"tool_calls":[{"index":"x"}]}}]}"#).is_err());
        assert!(parse_event(r#"{"choices":[{"delta":{"tool_calls":{"index":0}}}]}"#).is_err());
    }

    #[test]
    fn whole_answers_with_message_tool_calls() {
        let items = parse_whole(
            r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":80,"completion_tokens":30}}"#,
        )
        .unwrap();
        assert!(items.contains(&StreamItem::Finish(FinishReason::ToolCalls)));
        assert_eq!(items.last(), Some(&StreamItem::Done));
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let done = calls.finish(&[weather()], false);
        let ids: Vec<&str> = done.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_a", "call_b"]);
        assert_eq!(done.calls[1].arguments, r#"{"city":"Rome"}"#);
        assert!(parse_whole("<html>").is_err());
    }
}
