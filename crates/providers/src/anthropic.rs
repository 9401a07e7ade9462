//! Anthropic's Messages API.
//!
//! - Streaming: <https://docs.anthropic.com/en/api/messages-streaming>
//! - Request: <https://docs.anthropic.com/en/api/messages>
//! - Errors: <https://docs.anthropic.com/en/api/errors>
//! - Models: <https://docs.anthropic.com/en/api/models-list>
//! - Tools: <https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use>
//!
//! Tools go as `tools` (`input_schema`) and `tool_choice`; the model's calls
//! come back as `tool_use` blocks (streamed: `content_block_start` with id
//! and name, then `input_json_delta` pieces); results go back as
//! `tool_result` blocks in a user turn.
//!
//! Pure translation: our request to a body, one SSE event to items.

use hearth_backend::{ChatRequest, ErrorKind, FinishReason, Message, Role, ToolChoice};
use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{
    Auth, Block, RemoteModel, StreamItem, ToolPiece, Turn, Unreadable, WireError, WireRequest,
    arguments_object, endpoint, joined_system, merged_turns, text_turn,
};

/// The API version Hearth speaks (a required header).
const VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is used when the user set none.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        #[serde(default)]
        index: Option<u64>,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: Option<u64>,
        delta: BlockDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<Tokens>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: ErrorBody,
    },
    /// New event types may appear; the API asks clients to ignore them.
    #[serde(other)]
    Unknown,
}

/// A whole (not streamed) answer, or an error body.
#[derive(Deserialize)]
struct WholeMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<StartBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<Tokens>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Tokens>,
}

#[derive(Deserialize, Default)]
struct Tokens {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct StartBlock {
    #[serde(rename = "type")]
    kind: String,
    /// A text block's text (whole answers).
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// A `tool_use` block starts with `{}`; its input comes in deltas.
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct BlockDelta {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: String,
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
    #[serde(default)]
    display_name: Option<String>,
}

/// `POST {base}/v1/messages`.
pub(crate) fn chat_request(
    base: &Url,
    key: Option<&SecretString>,
    req: &ChatRequest,
) -> Result<WireRequest, &'static str> {
    let turns = merged_turns(&req.messages, message_blocks)?;
    if turns.is_empty() {
        return Err("the conversation has no user message");
    }
    let messages: Vec<Value> = turns.into_iter().map(turn_json).collect();
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    if let Some(system) = joined_system(&req.messages) {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        // With `none` too: the history may hold tool_use blocks, which the
        // API only accepts beside the tools' definitions.
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.parameters,
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        let choice = match &req.tool_choice {
            ToolChoice::Auto => json!({ "type": "auto" }),
            ToolChoice::None => json!({ "type": "none" }),
            ToolChoice::Required => json!({ "type": "any" }),
            ToolChoice::Function(name) => json!({ "type": "tool", "name": name }),
        };
        body.insert("tool_choice".into(), choice);
    }
    body.insert("stream".into(), json!(true));
    Ok(WireRequest::post(
        endpoint(base, &["v1", "messages"]),
        auth(key),
        Value::Object(body),
    )
    .header("anthropic-version", VERSION))
}

/// One message as blocks: an assistant's calls become `tool_use` blocks, a
/// tool's result a `tool_result` block in a user turn.
fn message_blocks(m: &Message) -> Result<Turn, &'static str> {
    match m.role {
        Role::Assistant if !m.tool_calls.is_empty() => {
            let mut blocks = Vec::new();
            // Why: the API rejects empty text blocks.
            if !m.content.trim().is_empty() {
                blocks.push(Block::Text(m.content.clone()));
            }
            for call in &m.tool_calls {
                let input = arguments_object(call)
                    .ok_or("a tool call's arguments are not a JSON object")?;
                blocks.push(Block::Other(json!({
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": input,
                })));
            }
            Ok(Turn {
                role: Role::Assistant,
                blocks,
            })
        }
        Role::Tool => {
            let id = m
                .tool_call_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .ok_or("a tool result does not say which call it answers")?;
            Ok(Turn {
                role: Role::User,
                blocks: vec![Block::Other(json!({
                    "type": "tool_result",
                    "tool_use_id": id,
                    "content": m.content,
                }))],
            })
        }
        _ => Ok(text_turn(m)),
    }
}

/// A turn as a message: plain text stays a string; blocks otherwise, with
/// tool results first (the API wants them before any text of that turn).
fn turn_json(turn: Turn) -> Value {
    let role = if turn.role == Role::Assistant {
        "assistant"
    } else {
        "user"
    };
    if let [Block::Text(text)] = turn.blocks.as_slice() {
        return json!({ "role": role, "content": text });
    }
    let is_result = |b: &Block| matches!(b, Block::Other(v) if v["type"] == "tool_result");
    let (mut content, rest): (Vec<Block>, Vec<Block>) =
        turn.blocks.into_iter().partition(is_result);
    content.extend(rest);
    let content: Vec<Value> = content
        .into_iter()
        .map(|b| match b {
            Block::Text(text) => json!({ "type": "text", "text": text }),
            Block::Other(value) => value,
        })
        .collect();
    json!({ "role": role, "content": content })
}

/// `GET {base}/v1/models` (one page of up to 1000).
pub(crate) fn models_request(base: &Url, key: Option<&SecretString>) -> WireRequest {
    let mut url = endpoint(base, &["v1", "models"]);
    url.query_pairs_mut().append_pair("limit", "1000");
    WireRequest::get(url, auth(key)).header("anthropic-version", VERSION)
}

fn auth(key: Option<&SecretString>) -> Auth {
    key.map_or(Auth::None, |k| Auth::Header("x-api-key", k.clone()))
}

/// One event of the stream (its `data:`; the `type` field names it too).
pub(crate) fn parse_event(data: &str) -> Result<Vec<StreamItem>, Unreadable> {
    if data.trim().is_empty() {
        return Ok(Vec::new());
    }
    let event: Event = serde_json::from_str(data).map_err(|e| format!("event: {e}"))?;
    Ok(match event {
        Event::MessageStart { message } => {
            let mut items = Vec::new();
            if let Some(model) = message.model {
                items.push(StreamItem::Model(model));
            }
            if let Some(usage) = message.usage {
                // Only the input count: the output count here is a placeholder
                // that message_delta replaces.
                items.push(StreamItem::Usage {
                    input: usage.input_tokens,
                    output: None,
                });
            }
            items
        }
        Event::ContentBlockStart {
            index,
            content_block,
        } if content_block.kind == "tool_use" => {
            // The input is `{}` here and arrives in deltas; a stand-in or
            // proxy that sends it whole is taken as it is.
            let arguments = match content_block.input {
                Some(Value::Object(map)) if !map.is_empty() => Value::Object(map).to_string(),
                _ => String::new(),
            };
            vec![StreamItem::Tool(ToolPiece {
                index: Some(index.unwrap_or(0)),
                id: content_block.id,
                name: Some(content_block.name.unwrap_or_default()),
                arguments,
                signature: None,
            })]
        }
        Event::ContentBlockDelta { index, delta } => {
            match (delta.kind.as_str(), delta.text, delta.partial_json) {
                ("text_delta", Some(text), _) if !text.is_empty() => vec![StreamItem::Text(text)],
                ("input_json_delta", _, Some(json)) if !json.is_empty() => {
                    vec![StreamItem::Tool(ToolPiece {
                        index: Some(index.unwrap_or(0)),
                        arguments: json,
                        ..ToolPiece::default()
                    })]
                }
                // thinking_delta, signature_delta: not answer text.
                _ => Vec::new(),
            }
        }
        Event::MessageDelta { delta, usage } => {
            let mut items = Vec::new();
            if let Some(reason) = delta.stop_reason {
                items.push(StreamItem::Finish(finish_reason(&reason)));
            }
            if let Some(usage) = usage {
                items.push(StreamItem::Usage {
                    input: usage.input_tokens,
                    output: usage.output_tokens,
                });
            }
            items
        }
        Event::MessageStop {} => vec![StreamItem::Done],
        Event::Error { error } => vec![StreamItem::Error(stream_error(error))],
        Event::ContentBlockStart { .. }
        | Event::ContentBlockStop {}
        | Event::Ping {}
        | Event::Unknown => Vec::new(),
    })
}

/// A whole answer (`content` blocks): the same items a stream of it would give.
pub(crate) fn parse_whole(body: &str) -> Result<Vec<StreamItem>, Unreadable> {
    let message: WholeMessage = serde_json::from_str(body).map_err(|e| format!("message: {e}"))?;
    if let Some(error) = message.error {
        return Ok(vec![StreamItem::Error(stream_error(error))]);
    }
    let mut items = Vec::new();
    if let Some(model) = message.model {
        items.push(StreamItem::Model(model));
    }
    for (i, block) in message.content.into_iter().enumerate() {
        match block.kind.as_str() {
            "text" => {
                if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                    items.push(StreamItem::Text(text));
                }
            }
            "tool_use" => items.push(StreamItem::Tool(ToolPiece {
                index: Some(i as u64),
                id: block.id,
                name: Some(block.name.unwrap_or_default()),
                arguments: block.input.map(|v| v.to_string()).unwrap_or_default(),
                signature: None,
            })),
            // thinking, redacted_thinking: not answer text.
            _ => {}
        }
    }
    if let Some(reason) = message.stop_reason {
        items.push(StreamItem::Finish(finish_reason(&reason)));
    }
    if let Some(usage) = message.usage {
        items.push(StreamItem::Usage {
            input: usage.input_tokens,
            output: usage.output_tokens,
        });
    }
    items.push(StreamItem::Done);
    Ok(items)
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn stream_error(error: ErrorBody) -> WireError {
    WireError::new(
        error_kind(&error.kind),
        error.kind,
        error.message.as_deref(),
    )
}

fn error_kind(kind: &str) -> ErrorKind {
    match kind {
        "rate_limit_error" => ErrorKind::RateLimit,
        "authentication_error" | "permission_error" => ErrorKind::Auth,
        "invalid_request_error" | "not_found_error" | "request_too_large" => ErrorKind::Rejected,
        // overloaded_error, api_error, and anything new.
        _ => ErrorKind::Server,
    }
}

/// The body of `GET /v1/models`.
pub(crate) fn parse_models(body: &[u8]) -> Result<Vec<RemoteModel>, Unreadable> {
    let list: ModelList = serde_json::from_slice(body).map_err(|e| format!("models: {e}"))?;
    Ok(list
        .data
        .into_iter()
        .map(|m| RemoteModel {
            id: m.id,
            name: m.display_name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use hearth_backend::Message;
    use secrecy::ExposeSecret;

    use super::*;

    /// A stream shaped like Anthropic's documented example, with a ping.
    const STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5-20250929","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":31,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" à tous ✓"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}

"#;

    fn events(transcript: &str) -> Vec<StreamItem> {
        transcript
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .flat_map(|data| parse_event(data).unwrap())
            .collect()
    }

    #[test]
    fn a_stream_becomes_text_usage_and_finish() {
        let items = events(STREAM);
        assert_eq!(
            items,
            [
                StreamItem::Model("claude-sonnet-4-5-20250929".into()),
                StreamItem::Usage {
                    input: Some(31),
                    output: None
                },
                StreamItem::Text("Bonjour".into()),
                StreamItem::Text(" à tous ✓".into()),
                StreamItem::Finish(FinishReason::Stop),
                StreamItem::Usage {
                    input: None,
                    output: Some(6)
                },
                StreamItem::Done,
            ]
        );
    }

    #[test]
    fn errors_classify_and_garbage_is_unreadable() {
        let overloaded = parse_event(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap();
        assert_eq!(
            overloaded,
            [StreamItem::Error(WireError {
                kind: ErrorKind::Server,
                code: "overloaded_error".into()
            })]
        );
        let limited = parse_event(
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        )
        .unwrap();
        assert!(matches!(&limited[0], StreamItem::Error(e) if e.kind == ErrorKind::RateLimit));
        assert!(
            parse_event(r#"{"type":"brand_new_event","x":1}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_event("{not json").is_err());
    }

    #[test]
    fn requests_have_a_system_field_and_alternating_turns() {
        let base = Url::parse("https://api.anthropic.com").unwrap();
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Hi"),
                Message::user("Capital of France?"),
                Message::assistant("Paris."),
                Message::user("And Italy?"),
            ],
            stop: vec!["END".into()],
            ..ChatRequest::default()
        };
        let key = SecretString::from("sk-ant-test".to_owned());
        let wire = chat_request(&base, Some(&key), &req).unwrap();
        assert_eq!(wire.url.as_str(), "https://api.anthropic.com/v1/messages");
        assert!(
            matches!(&wire.auth, Auth::Header("x-api-key", k) if k.expose_secret() == "sk-ant-test")
        );
        assert!(wire.headers.contains(&("anthropic-version", "2023-06-01")));
        let body = wire.body.unwrap();
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["stop_sequences"][0], "END");
        assert_eq!(body["stream"], true);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0]["content"], "Hi\n\nCapital of France?");
        assert_eq!(messages[1]["role"], "assistant");
        let only_system = ChatRequest {
            messages: vec![Message::system("x")],
            ..ChatRequest::default()
        };
        assert!(chat_request(&base, None, &only_system).is_err());
    }

    #[test]
    fn model_lists_parse() {
        let body = br#"{"data":[{"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"}],"has_more":false,"first_id":"a","last_id":"a"}"#;
        let models = parse_models(body).unwrap();
        assert_eq!(models[0].id, "claude-sonnet-4-5-20250929");
        assert_eq!(models[0].name.as_deref(), Some("Claude Sonnet 4.5"));
    }

    fn weather() -> hearth_backend::ToolSpec {
        hearth_backend::ToolSpec::new(
            "get_weather",
            "The weather in a city.",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
    }

    #[test]
    fn tools_choices_and_results_take_anthropics_shape() {
        use hearth_backend::ToolCall;
        let base = Url::parse("https://api.anthropic.com").unwrap();
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Weather in Paris and Rome?"),
                Message::assistant_calls(
                    "Let me check.",
                    vec![
                        ToolCall::new("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                        ToolCall::new("toolu_2", "get_weather", r#"{"city":"Rome"}"#),
                    ],
                ),
                Message::tool("toolu_1", "18 C"),
                Message::tool("toolu_2", "24 C"),
                Message::user("And tomorrow?"),
            ],
            tools: vec![weather()],
            tool_choice: ToolChoice::Required,
            ..ChatRequest::default()
        };
        let body = chat_request(&base, None, &req).unwrap().body.unwrap();
        assert_eq!(body["tools"][0]["name"], "get_weather");
        assert_eq!(body["tools"][0]["input_schema"]["required"][0], "city");
        assert!(body["tools"][0].get("parameters").is_none());
        assert_eq!(body["tool_choice"], json!({"type": "any"}));
        let m = body["messages"].as_array().unwrap();
        assert_eq!(
            m.len(),
            3,
            "the results and the next question: one user turn"
        );
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(
            m[1]["content"][0],
            json!({"type": "text", "text": "Let me check."})
        );
        assert_eq!(
            m[1]["content"][2],
            json!({"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}})
        );
        assert_eq!(m[2]["role"], "user");
        assert_eq!(
            m[2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C"})
        );
        assert_eq!(m[2]["content"][1]["tool_use_id"], "toolu_2");
        assert_eq!(
            m[2]["content"][2],
            json!({"type": "text", "text": "And tomorrow?"})
        );

        let choice = |choice: ToolChoice| {
            let req = ChatRequest {
                tool_choice: choice,
                ..req.clone()
            };
            chat_request(&base, None, &req).unwrap().body.unwrap()["tool_choice"].clone()
        };
        assert_eq!(choice(ToolChoice::Auto), json!({"type": "auto"}));
        assert_eq!(choice(ToolChoice::None), json!({"type": "none"}));
        assert_eq!(
            choice(ToolChoice::Function("get_weather".into())),
            json!({"type": "tool", "name": "get_weather"})
        );

        // Arguments that are not an object, a result without its call id:
        // refused before anything is sent.
        let mut bad = req.clone();
        bad.messages[2].tool_calls[0].arguments = "[1]".into();
        assert!(chat_request(&base, None, &bad).is_err());
        let mut bad = req;
        bad.messages[3].tool_call_id = None;
        assert!(chat_request(&base, None, &bad).is_err());
    }

    /// A text block, then a tool_use block whose input streams as
    /// `input_json_delta` pieces (Anthropic's documented shape).
    const TOOL_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"San Fra"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

    #[test]
    fn a_streamed_tool_use_block_becomes_a_call() {
        let items = events(TOOL_STREAM);
        assert!(items.contains(&StreamItem::Text("Checking.".into())));
        assert!(items.contains(&StreamItem::Finish(FinishReason::ToolCalls)));
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let done = calls.finish(&[weather()], false);
        assert!(done.rejected.is_empty());
        assert_eq!(done.calls.len(), 1);
        assert_eq!(done.calls[0].id, "toolu_01T1x");
        assert_eq!(done.calls[0].arguments, r#"{"city":"San Francisco"}"#);
        // A tool_use block of the wrong shape is unreadable, never a panic.
        assert!(
            parse_event(r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","name":7}}"#)
                .is_err()
        );
    }

    #[test]
    fn whole_answers_with_tool_use_blocks() {
        let items = parse_whole(
            r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":50,"output_tokens":20}}"#,
        )
        .unwrap();
        assert_eq!(items[1], StreamItem::Text("Checking.".into()));
        assert_eq!(
            items[2],
            StreamItem::Tool(ToolPiece {
                index: Some(1),
                id: Some("toolu_1".into()),
                name: Some("get_weather".into()),
                arguments: r#"{"city":"Paris"}"#.into(),
                signature: None,
            })
        );
        assert!(items.contains(&StreamItem::Finish(FinishReason::ToolCalls)));
        assert_eq!(items.last(), Some(&StreamItem::Done));
        let error =
            parse_whole(r#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#)
                .unwrap();
        assert!(matches!(&error[0], StreamItem::Error(e) if e.kind == ErrorKind::Server));
    }
}
