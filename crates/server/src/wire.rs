//! OpenAI's request bodies, turned into [`ApiChat`], and its answer shapes.
//!
//! Reference: <https://platform.openai.com/docs/api-reference/chat/create>,
//! <https://platform.openai.com/docs/api-reference/completions/create>.

use hearth_backend::{MAX_TOP_LOGPROBS, Message, Role, TokenLogprob};
use hearth_core::{ApiAnswer, ApiChat, ApiInput, OutputFormat};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `response_format`: `{"type": "text" | "json_object" | "json_schema", …}`.
#[derive(Debug, Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: String,
}

/// `logprobs`: a switch for chat (with `top_logprobs` beside it), a count of
/// alternatives for the legacy completions.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Logprobs {
    On(bool),
    Top(u64),
}

/// The most alternatives the legacy completions endpoint gives (OpenAI's limit).
const MAX_COMPLETION_LOGPROBS: u64 = 5;

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// What both endpoints share.
#[derive(Debug, Deserialize)]
struct Options {
    model: String,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    stop: Option<Stop>,
    n: Option<u64>,
    response_format: Option<ResponseFormat>,
    logprobs: Option<Logprobs>,
    top_logprobs: Option<u64>,
}

/// A message's content: text, or a list of parts of which only text is understood.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Vec<crate::tools::WireToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatBody {
    messages: Vec<WireMessage>,
    #[serde(default)]
    tools: Option<Vec<crate::tools::WireTool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    /// Variables for the chat template (llama.cpp's server, vLLM): only
    /// `enable_thinking` is read; others are ignored.
    #[serde(default)]
    chat_template_kwargs: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    options: Options,
}

/// `prompt`: a string, or a list holding one.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PromptText {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct CompletionBody {
    prompt: PromptText,
    #[serde(flatten)]
    options: Options,
}

/// A parsed request: what to generate and how to answer.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) chat: ApiChat,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// `parallel_tool_calls: false`: at most one call per answer.
    pub(crate) one_tool_call: bool,
}

pub(crate) fn parse_chat(body: &[u8]) -> Result<Parsed, ApiError> {
    let body: ChatBody = serde_json::from_slice(body).map_err(invalid_json)?;
    let messages = body
        .messages
        .into_iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    if messages.is_empty() {
        return Err(ApiError::bad_request("`messages` must not be empty").with_param("messages"));
    }
    let logprobs = chat_logprobs_asked(&body.options)?;
    let (tools, tool_choice) = crate::tools::parse(body.tools, body.tool_choice.as_ref())?;
    let mut parsed = parsed(body.options, ApiInput::Chat(messages))?;
    parsed.chat.logprobs = logprobs;
    parsed.chat.tools = tools;
    parsed.chat.tool_choice = tool_choice;
    parsed.one_tool_call = body.parallel_tool_calls == Some(false);
    parsed.chat.thinking = thinking_asked(body.chat_template_kwargs.as_ref())?;
    Ok(parsed)
}

/// `chat_template_kwargs.enable_thinking`: `true`, `false` or absent.
fn thinking_asked(
    kwargs: Option<&serde_json::Map<String, Value>>,
) -> Result<Option<bool>, ApiError> {
    match kwargs.and_then(|k| k.get("enable_thinking")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(on)) => Ok(Some(*on)),
        Some(_) => Err(ApiError::bad_request(
            "chat_template_kwargs.enable_thinking must be true or false",
        )
        .with_param("chat_template_kwargs")),
    }
}

/// Chat's `logprobs: true` with `top_logprobs` alternatives (0 to 20).
fn chat_logprobs_asked(options: &Options) -> Result<Option<u8>, ApiError> {
    let on = match options.logprobs {
        None | Some(Logprobs::On(false)) => false,
        Some(Logprobs::On(true)) => true,
        Some(Logprobs::Top(_)) => {
            return Err(ApiError::bad_request(
                "logprobs must be true or false; the count goes in top_logprobs",
            )
            .with_param("logprobs"));
        }
    };
    match options.top_logprobs {
        Some(_) if !on => Err(
            ApiError::bad_request("top_logprobs needs logprobs set to true")
                .with_param("top_logprobs"),
        ),
        Some(n) if n > u64::from(MAX_TOP_LOGPROBS) => Err(ApiError::bad_request(format!(
            "top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}"
        ))
        .with_param("top_logprobs")),
        Some(n) => Ok(u8::try_from(n).ok()),
        None => Ok(on.then_some(0)),
    }
}

pub(crate) fn parse_completion(body: &[u8]) -> Result<Parsed, ApiError> {
    let body: CompletionBody = serde_json::from_slice(body).map_err(invalid_json)?;
    let prompt = match body.prompt {
        PromptText::One(text) => text,
        PromptText::Many(mut list) if list.len() == 1 => list.remove(0),
        PromptText::Many(_) => {
            return Err(
                ApiError::bad_request("only one prompt per request is supported")
                    .with_param("prompt"),
            );
        }
    };
    let logprobs = match body.options.logprobs {
        None => None,
        Some(Logprobs::Top(n)) if n <= MAX_COMPLETION_LOGPROBS => u8::try_from(n).ok(),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "logprobs must be a number between 0 and {MAX_COMPLETION_LOGPROBS}"
            ))
            .with_param("logprobs"));
        }
    };
    let mut parsed = parsed(body.options, ApiInput::Text(prompt))?;
    parsed.chat.logprobs = logprobs;
    Ok(parsed)
}

fn invalid_json(err: serde_json::Error) -> ApiError {
    // serde's message names the field and position; it may quote a bit of the
    // body back to the client that sent it, which is fine (nothing is logged).
    ApiError::bad_request(format!("the request body is not valid: {err}"))
}

fn message(wire: WireMessage) -> Result<Message, ApiError> {
    let role = match wire.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(ApiError::bad_request(format!(
                "messages with role {other:?} are not supported"
            ))
            .with_param("messages"));
        }
    };
    let content = match wire.content {
        None => String::new(),
        Some(Content::Text(text)) => text,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(piece)) => text.push_str(&piece),
                    (kind, _) => {
                        return Err(ApiError::bad_request(format!(
                            "content parts of type {kind:?} are not supported (text only)"
                        ))
                        .with_param("messages"));
                    }
                }
            }
            text
        }
    };
    let mut message = Message::new(role, content);
    if role == Role::Tool {
        message.tool_call_id = Some(wire.tool_call_id.ok_or_else(|| {
            ApiError::bad_request("messages with role \"tool\" need a tool_call_id")
                .with_param("messages")
        })?);
    }
    if let Some(calls) = wire.tool_calls.filter(|_| role == Role::Assistant) {
        message.tool_calls = crate::tools::calls(calls)?;
    }
    Ok(message)
}

fn parsed(options: Options, input: ApiInput) -> Result<Parsed, ApiError> {
    if options.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request("only n = 1 is supported").with_param("n"));
    }
    if let Some(t) = options.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(
            ApiError::bad_request("temperature must be between 0 and 2").with_param("temperature")
        );
    }
    if let Some(p) = options.top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(ApiError::bad_request("top_p must be in (0, 1]").with_param("top_p"));
    }
    let max_tokens = options.max_completion_tokens.or(options.max_tokens);
    if max_tokens == Some(0) {
        return Err(ApiError::bad_request("max_tokens must be at least 1").with_param("max_tokens"));
    }
    let format = match options.response_format.as_ref().map(|f| f.kind.as_str()) {
        None | Some("text") => OutputFormat::Text,
        Some("json_object") => OutputFormat::JsonObject,
        Some("json_schema") => {
            return Err(ApiError::bad_request(
                "response_format json_schema is not supported; use json_object and describe \
                 the fields in the prompt",
            )
            .with_param("response_format"));
        }
        Some(other) => {
            return Err(
                ApiError::bad_request(format!("unknown response_format type {other:?}"))
                    .with_param("response_format"),
            );
        }
    };
    let stop = match options.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(list)) => list,
    };
    let stop: Vec<String> = stop.into_iter().filter(|s| !s.is_empty()).collect();
    if stop.len() > 4 {
        return Err(ApiError::bad_request("at most 4 stop sequences").with_param("stop"));
    }
    Ok(Parsed {
        chat: ApiChat {
            model: options.model,
            input,
            max_tokens: max_tokens.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
            temperature: options.temperature,
            top_p: options.top_p,
            seed: options.seed,
            stop,
            format,
            logprobs: None,
            tools: Vec::new(),
            tool_choice: hearth_backend::ToolChoice::Auto,
            thinking: None,
        },
        stream: options.stream,
        include_usage: options.stream_options.is_some_and(|o| o.include_usage),
        one_tool_call: false,
    })
}

/// Which endpoint an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    Completion,
}

/// What every answer and chunk of one request repeats.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) created: i64,
    pub(crate) model: String,
}

pub(crate) fn usage(answer: &ApiAnswer) -> Value {
    json!({
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    })
}

/// The non-streaming answer.
pub(crate) fn answer(header: &Header, answer: &ApiAnswer) -> Value {
    let mut choice = match header.kind {
        Kind::Chat if !answer.tool_calls.is_empty() => json!({
            "index": 0,
            "message": {
                "role": "assistant",
                "content": (!answer.text.is_empty()).then_some(answer.text.as_str()),
                "tool_calls": crate::tools::message_calls(&answer.tool_calls),
            },
            "logprobs": logprobs(Kind::Chat, answer.logprobs.as_deref()),
            "finish_reason": answer.finish.as_str(),
        }),
        Kind::Chat => json!({
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "logprobs": logprobs(Kind::Chat, answer.logprobs.as_deref()),
            "finish_reason": answer.finish.as_str(),
        }),
        Kind::Completion => json!({
            "index": 0,
            "text": answer.text,
            "logprobs": logprobs(Kind::Completion, answer.logprobs.as_deref()),
            "finish_reason": answer.finish.as_str(),
        }),
    };
    if header.kind == Kind::Chat
        && let (Some(thought), content) = hearth_backend::reasoning::split(&answer.text)
    {
        choice["message"]["reasoning_content"] = json!(thought);
        if choice["message"]["content"].is_string() {
            choice["message"]["content"] = json!(content);
        }
    }
    json!({
        "id": header.id,
        "object": match header.kind {
            Kind::Chat => "chat.completion",
            Kind::Completion => "text_completion",
        },
        "created": header.created,
        "model": header.model,
        "system_fingerprint": null,
        "choices": [choice],
        "usage": usage(answer),
    })
}

/// A choice's `logprobs`: `null` when none were asked for; chat's
/// `{"content": [...]}`, or the legacy completions' parallel lists.
fn logprobs(kind: Kind, tokens: Option<&[TokenLogprob]>) -> Value {
    let Some(tokens) = tokens else {
        return Value::Null;
    };
    match kind {
        Kind::Chat => {
            let content: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    let top: Vec<Value> = t
                        .top
                        .iter()
                        .map(|a| json!({"token": a.token, "logprob": a.logprob, "bytes": a.bytes}))
                        .collect();
                    json!({"token": t.token, "logprob": t.logprob, "bytes": t.bytes, "top_logprobs": top})
                })
                .collect();
            json!({"content": content, "refusal": null})
        }
        Kind::Completion => {
            let mut offset = 0;
            let mut offsets = Vec::with_capacity(tokens.len());
            for t in tokens {
                offsets.push(offset);
                offset += t.token.len();
            }
            let top: Vec<Value> = tokens
                .iter()
                .map(|t| {
                    let map: serde_json::Map<String, Value> = t
                        .top
                        .iter()
                        .map(|a| (a.token.clone(), json!(a.logprob)))
                        .collect();
                    Value::Object(map)
                })
                .collect();
            json!({
                "tokens": tokens.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(),
                "token_logprobs": tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
                "top_logprobs": top,
                "text_offset": offsets,
            })
        }
    }
}

/// A streamed chunk: `text` (with the role on the first chat chunk), or the
/// end (`finish`, with the answer's `logprobs` when asked), or with `usage`
/// and no choices.
pub(crate) fn chunk(
    header: &Header,
    text: Option<&str>,
    first: bool,
    finish: Option<&str>,
    usage: Option<Value>,
    tokens: Option<&[TokenLogprob]>,
) -> Value {
    let lp = logprobs(header.kind, tokens);
    let choices = if usage.is_some() {
        json!([])
    } else {
        match header.kind {
            Kind::Chat => {
                let delta = match (text, first) {
                    (Some(t), true) => json!({"role": "assistant", "content": t}),
                    (Some(t), false) => json!({"content": t}),
                    (None, _) => json!({}),
                };
                json!([{"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}])
            }
            Kind::Completion => {
                json!([{"index": 0, "text": text.unwrap_or(""), "logprobs": lp, "finish_reason": finish}])
            }
        }
    };
    let mut chunk = json!({
        "id": header.id,
        "object": match header.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Completion => "text_completion",
        },
        "created": header.created,
        "model": header.model,
        "system_fingerprint": null,
        "choices": choices,
    });
    if let (Some(usage), Some(map)) = (usage, chunk.as_object_mut()) {
        map.insert("usage".into(), usage);
    }
    chunk
}

/// A streamed piece of reasoning (`delta.reasoning_content`).
pub(crate) fn reasoning_chunk(header: &Header, text: &str, first: bool) -> Value {
    let mut chunk = chunk(header, Some(text), first, None, None, None);
    let delta = &mut chunk["choices"][0]["delta"];
    if let Some(map) = delta.as_object_mut() {
        map.remove("content");
        map.insert("reasoning_content".into(), json!(text));
    }
    chunk
}

/// The chunk that streams an answer's tool calls (whole, one entry each).
pub(crate) fn tool_call_chunk(
    header: &Header,
    calls: &[hearth_backend::ToolCall],
    first: bool,
) -> Value {
    let mut delta = json!({"tool_calls": crate::tools::delta_calls(calls)});
    if first && let Some(map) = delta.as_object_mut() {
        map.insert("role".into(), json!("assistant"));
    }
    let mut chunk = chunk(header, None, false, None, None, None);
    chunk["choices"][0]["delta"] = delta;
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_chat_request() {
        let parsed = parse_chat(
            br#"{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"Be brief."}]},{"role":"user","content":"Hi"}],
                "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":5,"stop":"\n","seed":7}"#,
        )
        .unwrap();
        assert!(parsed.stream && parsed.include_usage);
        assert_eq!(parsed.chat.max_tokens, Some(5));
        assert_eq!(parsed.chat.stop, vec!["\n".to_owned()]);
        assert_eq!(parsed.chat.seed, Some(7));
        assert_eq!(parsed.chat.format, OutputFormat::Text);
        assert_eq!(
            parsed.chat.input,
            ApiInput::Chat(vec![Message::system("Be brief."), Message::user("Hi")])
        );
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let status = |body: &[u8]| parse_chat(body).unwrap_err().status.as_u16();
        assert_eq!(status(b"{"), 400);
        assert_eq!(status(br#"{"model":"m","messages":[]}"#), 400);
        // A tool result must say which call it answers.
        assert_eq!(
            status(br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#),
            400
        );
        assert_eq!(
            status(br#"{"model":"m","messages":[{"role":"function","content":"x"}]}"#),
            400
        );
        assert_eq!(
            status(br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}"#),
            400
        );
        assert!(parse_completion(br#"{"model":"m","prompt":["a","b"]}"#).is_err());
        assert!(parse_completion(br#"{"model":"m","prompt":["a"],"stop":["x","y"]}"#).is_ok());
    }

    #[test]
    fn response_format_json_object_is_json_mode_and_json_schema_is_refused() {
        let json = parse_chat(
            br#"{"model":"m","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_object"}}"#,
        )
        .unwrap();
        assert_eq!(json.chat.format, OutputFormat::JsonObject);
        let text = parse_chat(
            br#"{"model":"m","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"text"}}"#,
        )
        .unwrap();
        assert_eq!(text.chat.format, OutputFormat::Text);
        for kind in ["json_schema", "yaml"] {
            let body = format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"Hi"}}],"response_format":{{"type":"{kind}"}}}}"#
            );
            assert!(parse_chat(body.as_bytes()).is_err(), "{kind}");
        }
    }

    #[test]
    fn tool_messages_and_assistant_calls_parse() {
        let parsed = parse_chat(
            br#"{"model":"m","messages":[{"role":"user","content":"Weather?"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
                {"role":"tool","tool_call_id":"call_1","content":"sunny"}],
                "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
                "tool_choice":"required","parallel_tool_calls":false}"#,
        )
        .unwrap();
        let ApiInput::Chat(messages) = &parsed.chat.input else {
            panic!("a chat")
        };
        assert_eq!(messages[1].tool_calls[0].name, "get_weather");
        assert_eq!(messages[1].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(messages[2], Message::tool("call_1", "sunny"));
        assert_eq!(parsed.chat.tools[0].name, "get_weather");
        assert_eq!(
            parsed.chat.tool_choice,
            hearth_backend::ToolChoice::Required
        );
        assert!(parsed.one_tool_call);
    }

    #[test]
    fn thinking_is_sent_as_reasoning_content() {
        let header = Header {
            kind: Kind::Chat,
            id: "x".into(),
            created: 0,
            model: "m".into(),
        };
        let mut reply = ApiAnswer {
            text: "<think>\nThe user wants a city.\n</think>\n\nParis.".into(),
            tool_calls: Vec::new(),
            finish: hearth_core::ApiFinish::Stop,
            backend: "local".into(),
            prompt_tokens: 1,
            completion_tokens: 1,
            ttft: None,
            decode_tok_s: None,
            logprobs: None,
        };
        let body = answer(&header, &reply);
        let message = &body["choices"][0]["message"];
        assert_eq!(message["content"], "Paris.");
        assert_eq!(message["reasoning_content"], "The user wants a city.");
        reply.text = "Paris.".into();
        let plain = answer(&header, &reply);
        assert!(
            plain["choices"][0]["message"]
                .get("reasoning_content")
                .is_none()
        );
        let chunk = reasoning_chunk(&header, "hm", true);
        assert_eq!(chunk["choices"][0]["delta"]["reasoning_content"], "hm");
        assert!(chunk["choices"][0]["delta"].get("content").is_none());
    }

    #[test]
    fn enable_thinking_is_read_from_chat_template_kwargs() {
        let thinking = |extra: &str| {
            let body = format!(
                r#"{{"model": "m", "messages": [{{"role": "user", "content": "hi"}}]{extra}}}"#
            );
            parse_chat(body.as_bytes()).map(|p| p.chat.thinking)
        };
        assert_eq!(thinking("").ok(), Some(None));
        assert_eq!(
            thinking(r#", "chat_template_kwargs": {"enable_thinking": false}"#).ok(),
            Some(Some(false))
        );
        assert_eq!(
            thinking(r#", "chat_template_kwargs": {"enable_thinking": true, "other": 1}"#).ok(),
            Some(Some(true))
        );
        assert_eq!(
            thinking(r#", "chat_template_kwargs": {"other": 1}"#).ok(),
            Some(None)
        );
        let err = thinking(r#", "chat_template_kwargs": {"enable_thinking": "no"}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted a string"));
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
