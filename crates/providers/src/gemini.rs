//! Google's Gemini API (generativelanguage.googleapis.com, `v1beta`).
//!
//! - Streaming: <https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent>
//! - Response: <https://ai.google.dev/api/generate-content#generatecontentresponse>
//! - Models: <https://ai.google.dev/api/models#method:-models.list>
//! - Tools: <https://ai.google.dev/gemini-api/docs/function-calling>
//!
//! Tools go as `tools: [{functionDeclarations}]` and
//! `toolConfig.functionCallingConfig`; calls come back as whole
//! `functionCall` parts, results go back as `functionResponse` parts in a
//! user turn. Gemini's calls carry no ids: Hearth names them `call_<n>` and
//! finds a result's function name through the call it answers.
//!
//! Pure translation: our request to a body, one SSE event to items. The
//! stream has no end marker: it ends after the event with a `finishReason`.

use hearth_backend::{ChatRequest, ErrorKind, FinishReason, Message, Role, ToolChoice};
use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::wire::{
    Auth, Block, RemoteModel, StreamItem, ToolPiece, Turn, Unreadable, WireError, WireRequest,
    arguments_object, endpoint, joined_system, merged_turns, split_signature, text_turn,
};

/// What Gemini's docs say to send in place of a thought signature a call
/// does not have (a history from another model, or from before Hearth kept
/// them); Gemini 3 refuses a call in the history without one.
const NO_SIGNATURE: &str = "skip_thought_signature_validator";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    /// Thought summaries are not part of the answer.
    #[serde(default)]
    thought: bool,
    #[serde(default)]
    function_call: Option<FunctionCall>,
    /// Thinking models' state, which must go back with the call it is on.
    #[serde(default)]
    thought_signature: Option<String>,
}

#[derive(Deserialize)]
struct FunctionCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    status: Option<String>,
    /// Read to classify, never kept or shown.
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModelEntry {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    supported_generation_methods: Vec<String>,
}

/// `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`.
pub(crate) fn chat_request(
    base: &Url,
    key: Option<&SecretString>,
    req: &ChatRequest,
) -> Result<WireRequest, &'static str> {
    let model = req.model.trim().trim_start_matches("models/");
    if model.is_empty() {
        return Err("no model was named");
    }
    let messages = &req.messages;
    let turns = merged_turns(messages, |m| {
        let at = messages
            .iter()
            .position(|x| std::ptr::eq(x, m))
            .unwrap_or(0);
        message_parts(m, &messages[..at], model)
    })?;
    if turns.is_empty() {
        return Err("the conversation has no user message");
    }
    let contents: Vec<Value> = turns.into_iter().map(turn_json).collect();
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = joined_system(&req.messages) {
        body.insert(
            "systemInstruction".into(),
            json!({ "parts": [{ "text": system }] }),
        );
    }
    let mut config = Map::new();
    if let Some(max) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        config.insert("topP".into(), json!(p));
    }
    if req.json {
        config.insert("responseMimeType".into(), json!("application/json"));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if !req.tools.is_empty() {
        let declarations: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut declaration = json!({ "name": t.name, "description": t.description });
                // Why: Gemini refuses an object schema whose `properties` is
                // empty ("should be non-empty for OBJECT type"); a function
                // without parameters has no `parameters` at all.
                let empty = t
                    .parameters
                    .get("properties")
                    .is_none_or(|p| p.as_object().is_some_and(serde_json::Map::is_empty));
                if !empty {
                    declaration["parameters"] = gemini_schema(&t.parameters);
                }
                declaration
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
        let calling = match &req.tool_choice {
            ToolChoice::Auto => json!({ "mode": "AUTO" }),
            ToolChoice::None => json!({ "mode": "NONE" }),
            ToolChoice::Required => json!({ "mode": "ANY" }),
            ToolChoice::Function(name) => {
                json!({ "mode": "ANY", "allowedFunctionNames": [name] })
            }
        };
        body.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": calling }),
        );
    }
    let action = format!("{model}:streamGenerateContent");
    let mut url = endpoint(base, &["v1beta", "models", &action]);
    url.query_pairs_mut().append_pair("alt", "sse");
    Ok(WireRequest::post(url, auth(key), Value::Object(body)))
}

/// JSON Schema keywords Gemini's `parameters` (an OpenAPI 3.0 subset)
/// rejects with 400 INVALID_ARGUMENT ("Unknown name ..."): meta keywords and
/// the ones it has no field for. They only narrow what the model may write,
/// so dropping them loses no meaning the model needs; Hearth does not check
/// cloud calls against them either.
const GEMINI_REJECTS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
    "dependentRequired",
    "dependentSchemas",
    "examples",
    "const",
    "contentEncoding",
    "contentMediaType",
];

/// A tool's JSON Schema without the keywords Gemini rejects, at every level
/// (property names are kept whatever they are called).
fn gemini_schema(schema: &Value) -> Value {
    let Some(map) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        if GEMINI_REJECTS.contains(&key.as_str()) {
            continue;
        }
        let value = match (key.as_str(), value) {
            ("properties" | "$defs" | "definitions", Value::Object(props)) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), gemini_schema(s)))
                    .collect(),
            ),
            ("items" | "not", s) => gemini_schema(s),
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Value::Array(list)) => {
                Value::Array(list.iter().map(gemini_schema).collect())
            }
            (_, other) => other.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

/// One message as parts: an assistant's calls become `functionCall` parts, a
/// tool's result a `functionResponse` part in a user turn. `before` is the
/// conversation before `m`, where the call a result answers is found (its
/// function name is what Gemini matches results by). A call's thought
/// signature (kept in its id) goes back beside it; the first call of a turn
/// without one gets [`NO_SIGNATURE`] for the models that insist (Gemini 3 on).
fn message_parts(m: &Message, before: &[Message], model: &str) -> Result<Turn, &'static str> {
    match m.role {
        Role::Assistant if !m.tool_calls.is_empty() => {
            let mut blocks = Vec::new();
            if !m.content.trim().is_empty() {
                blocks.push(Block::Text(m.content.clone()));
            }
            let strict = !(model.starts_with("gemini-1") || model.starts_with("gemini-2"));
            for (i, call) in m.tool_calls.iter().enumerate() {
                let args = arguments_object(call)
                    .ok_or("a tool call's arguments are not a JSON object")?;
                let mut part = json!({ "functionCall": { "name": call.name, "args": args } });
                match split_signature(&call.id).1 {
                    Some(sig) => part["thoughtSignature"] = json!(sig),
                    // Parallel calls: only the first carries a signature.
                    None if strict && i == 0 => part["thoughtSignature"] = json!(NO_SIGNATURE),
                    None => {}
                }
                blocks.push(Block::Other(part));
            }
            Ok(Turn {
                role: Role::Assistant,
                blocks,
            })
        }
        Role::Tool => {
            let id = m.tool_call_id.as_deref().unwrap_or_default();
            // The nearest earlier call with this id (`call_0` repeats from
            // one answer to the next).
            let name = before
                .iter()
                .rev()
                .flat_map(|x| x.tool_calls.iter())
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .ok_or("a tool result answers a call that is not in the conversation")?;
            // `response` must be an object: a result that is one goes as it
            // is, any other text as `output` (the key Gemini's docs name).
            let response = match serde_json::from_str::<Value>(&m.content) {
                Ok(Value::Object(map)) => Value::Object(map),
                _ => json!({ "output": m.content }),
            };
            Ok(Turn {
                role: Role::User,
                blocks: vec![Block::Other(json!({
                    "functionResponse": { "name": name, "response": response }
                }))],
            })
        }
        _ => Ok(text_turn(m)),
    }
}

fn turn_json(turn: Turn) -> Value {
    let role = if turn.role == Role::Assistant {
        "model"
    } else {
        "user"
    };
    let parts: Vec<Value> = turn
        .blocks
        .into_iter()
        .map(|b| match b {
            Block::Text(text) => json!({ "text": text }),
            Block::Other(value) => value,
        })
        .collect();
    json!({ "role": role, "parts": parts })
}

/// `GET {base}/v1beta/models` (one page of up to 1000).
pub(crate) fn models_request(base: &Url, key: Option<&SecretString>) -> WireRequest {
    let mut url = endpoint(base, &["v1beta", "models"]);
    url.query_pairs_mut().append_pair("pageSize", "1000");
    WireRequest::get(url, auth(key))
}

fn auth(key: Option<&SecretString>) -> Auth {
    // A header rather than `?key=`: URLs end up in logs and proxies.
    key.map_or(Auth::None, |k| Auth::Header("x-goog-api-key", k.clone()))
}

/// One event: a whole `GenerateContentResponse`.
pub(crate) fn parse_event(data: &str) -> Result<Vec<StreamItem>, Unreadable> {
    if data.trim().is_empty() {
        return Ok(Vec::new());
    }
    let response: Response = serde_json::from_str(data).map_err(|e| format!("response: {e}"))?;
    if let Some(error) = response.error {
        return Ok(vec![StreamItem::Error(stream_error(&error))]);
    }
    let mut items = Vec::new();
    if let Some(model) = response.model_version {
        items.push(StreamItem::Model(model));
    }
    if let Some(candidate) = response.candidates.into_iter().next() {
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                // Calls arrive whole, one part each, without an index.
                let arguments = match call.args {
                    None | Some(Value::Null) => String::new(),
                    Some(args) => args.to_string(),
                };
                items.push(StreamItem::Tool(ToolPiece {
                    index: None,
                    id: call.id,
                    name: Some(call.name.unwrap_or_default()),
                    arguments,
                    signature: part.thought_signature,
                }));
                continue;
            }
            match part.text {
                Some(text) if !part.thought && !text.is_empty() => {
                    items.push(StreamItem::Text(text));
                }
                _ => {}
            }
        }
        if let Some(reason) = candidate.finish_reason {
            items.push(StreamItem::Finish(finish_reason(&reason)));
        }
    } else if response
        .prompt_feedback
        .is_some_and(|f| f.block_reason.is_some())
    {
        // The prompt itself was blocked: no candidate comes.
        items.push(StreamItem::Finish(FinishReason::ContentFilter));
    }
    if let Some(usage) = response.usage_metadata {
        items.push(StreamItem::Usage {
            input: usage.prompt_token_count,
            output: usage.candidates_token_count,
        });
    }
    Ok(items)
}

/// A whole answer: one `GenerateContentResponse`, or the JSON array of them
/// `streamGenerateContent` sends without `alt=sse`.
pub(crate) fn parse_whole(body: &str) -> Result<Vec<StreamItem>, Unreadable> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("response: {e}"))?;
    let responses = match value {
        Value::Array(list) => list,
        one => vec![one],
    };
    let mut items = Vec::new();
    for response in responses {
        items.extend(parse_event(&response.to_string())?);
    }
    items.push(StreamItem::Done);
    Ok(items)
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

fn stream_error(error: &ErrorBody) -> WireError {
    let status = error.status.clone().unwrap_or_else(|| "ERROR".to_owned());
    let kind = match (error.code, status.as_str()) {
        (Some(429), _) | (_, "RESOURCE_EXHAUSTED") => ErrorKind::RateLimit,
        (Some(401 | 403), _) | (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") => ErrorKind::Auth,
        (Some(400 | 404), _) | (_, "INVALID_ARGUMENT" | "NOT_FOUND") => ErrorKind::Rejected,
        _ => ErrorKind::Server,
    };
    WireError::new(kind, status, error.message.as_deref())
}

/// The body of `GET /v1beta/models`: only models that can chat.
pub(crate) fn parse_models(body: &[u8]) -> Result<Vec<RemoteModel>, Unreadable> {
    let list: ModelList = serde_json::from_slice(body).map_err(|e| format!("models: {e}"))?;
    Ok(list
        .models
        .into_iter()
        .filter(|m| {
            m.supported_generation_methods
                .iter()
                .any(|g| g == "generateContent")
        })
        .map(|m| RemoteModel {
            id: m.name.trim_start_matches("models/").to_owned(),
            name: m.display_name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use hearth_backend::Message;
    use secrecy::ExposeSecret;

    use super::*;

    /// A stream shaped like `streamGenerateContent?alt=sse`: usage on every
    /// event, growing; the finish reason on the last.
    const STREAM: &str = r#"data: {"candidates": [{"content": {"parts": [{"text": "Rome"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 14,"totalTokenCount": 14},"modelVersion": "gemini-2.5-flash"}

data: {"candidates": [{"content": {"parts": [{"text": "**thinking**", "thought": true}, {"text": " is the capital — già."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 14,"candidatesTokenCount": 3,"totalTokenCount": 17},"modelVersion": "gemini-2.5-flash"}

data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "MAX_TOKENS","index": 0}],"usageMetadata": {"promptTokenCount": 14,"candidatesTokenCount": 9,"totalTokenCount": 23},"modelVersion": "gemini-2.5-flash"}

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
        assert_eq!(text, "Rome is the capital — già.");
        assert!(items.contains(&StreamItem::Finish(FinishReason::Length)));
        let last_usage = items
            .iter()
            .rev()
            .find(|i| matches!(i, StreamItem::Usage { .. }));
        assert_eq!(
            last_usage,
            Some(&StreamItem::Usage {
                input: Some(14),
                output: Some(9)
            })
        );
        assert!(!items.contains(&StreamItem::Done));
    }

    #[test]
    fn errors_blocks_and_garbage() {
        let err = parse_event(
            r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#,
        )
        .unwrap();
        assert_eq!(
            err,
            [StreamItem::Error(WireError {
                kind: ErrorKind::Server,
                code: "UNAVAILABLE".into()
            })]
        );
        let blocked = parse_event(
            r#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}"#,
        )
        .unwrap();
        assert!(blocked.contains(&StreamItem::Finish(FinishReason::ContentFilter)));
        assert!(parse_event("{not json").is_err());
    }

    #[test]
    fn requests_use_contents_system_instruction_and_config() {
        let base = Url::parse("https://generativelanguage.googleapis.com").unwrap();
        let req = ChatRequest {
            model: "models/gemini-2.5-flash".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Capital of France?"),
                Message::assistant("Paris."),
                Message::user("And Italy?"),
            ],
            max_tokens: Some(100),
            temperature: Some(0.25),
            top_p: None,
            stop: vec!["END".into()],
            json: true,
            ..ChatRequest::default()
        };
        let key = SecretString::from("AIza-test".to_owned());
        let wire = chat_request(&base, Some(&key), &req).unwrap();
        assert_eq!(
            wire.url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(
            matches!(&wire.auth, Auth::Header("x-goog-api-key", k) if k.expose_secret() == "AIza-test")
        );
        let body = wire.body.unwrap();
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(body["contents"][2]["parts"][0]["text"], "And Italy?");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 100);
        assert_eq!(body["generationConfig"]["temperature"], 0.25);
        assert_eq!(body["generationConfig"]["stopSequences"][0], "END");
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert!(body["generationConfig"].get("topP").is_none());
    }

    #[test]
    fn model_lists_keep_chat_models_only() {
        let body = br#"{"models": [
            {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "displayName": "Text Embedding 004", "supportedGenerationMethods": ["embedContent"]}
        ], "nextPageToken": ""}"#;
        let models = parse_models(body).unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].id, "gemini-2.5-flash");
        assert_eq!(models[0].name.as_deref(), Some("Gemini 2.5 Flash"));
    }

    fn weather() -> hearth_backend::ToolSpec {
        hearth_backend::ToolSpec::new(
            "get_weather",
            "The weather in a city.",
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "properties": {
                    "city": {"type": "string", "examples": ["Paris"]},
                    "additionalProperties": {"type": "boolean"},
                    "units": {"type": "object", "additionalProperties": false,
                              "properties": {"c": {"type": "boolean"}}},
                    "days": {"type": "array", "items": {"type": "integer", "const": 1}}
                },
                "required": ["city"],
                "additionalProperties": false
            }),
        )
    }

    #[test]
    fn tools_choices_and_results_take_geminis_shape() {
        use hearth_backend::{ToolCall, ToolSpec};
        let base = Url::parse("https://generativelanguage.googleapis.com").unwrap();
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                Message::user("Weather in Paris, and the time?"),
                Message::assistant_calls(
                    "",
                    vec![
                        ToolCall::new("call_0", "get_weather", r#"{"city":"Paris"}"#),
                        ToolCall::new("call_1", "now", "{}"),
                    ],
                ),
                Message::tool("call_0", r#"{"celsius": 18}"#),
                Message::tool("call_1", "12:00"),
            ],
            tools: vec![
                weather(),
                ToolSpec::new(
                    "now",
                    "The time.",
                    json!({"type": "object", "properties": {}}),
                ),
            ],
            ..ChatRequest::default()
        };
        let body = chat_request(&base, None, &req).unwrap().body.unwrap();
        let declarations = &body["tools"][0]["functionDeclarations"];
        assert_eq!(declarations[0]["name"], "get_weather");
        assert_eq!(
            declarations[0]["parameters"],
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "additionalProperties": {"type": "boolean"},
                    "units": {"type": "object", "properties": {"c": {"type": "boolean"}}},
                    "days": {"type": "array", "items": {"type": "integer"}}
                },
                "required": ["city"]
            }),
            "rejected keywords stripped at every level, property names kept"
        );
        assert!(
            declarations[1].get("parameters").is_none(),
            "no empty object schema"
        );
        assert_eq!(
            body["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        let c = body["contents"].as_array().unwrap();
        assert_eq!(c.len(), 3, "both results in one user turn");
        assert_eq!(c[1]["role"], "model");
        assert_eq!(
            c[1]["parts"][0],
            json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}})
        );
        assert_eq!(c[1]["parts"][1]["functionCall"]["name"], "now");
        assert_eq!(c[2]["role"], "user");
        assert_eq!(
            c[2]["parts"][0],
            json!({"functionResponse": {"name": "get_weather", "response": {"celsius": 18}}})
        );
        assert_eq!(
            c[2]["parts"][1],
            json!({"functionResponse": {"name": "now", "response": {"output": "12:00"}}})
        );

        let choice = |choice: ToolChoice| {
            let req = ChatRequest {
                tool_choice: choice,
                ..req.clone()
            };
            chat_request(&base, None, &req).unwrap().body.unwrap()["toolConfig"]
                ["functionCallingConfig"]
                .clone()
        };
        assert_eq!(choice(ToolChoice::None), json!({"mode": "NONE"}));
        assert_eq!(choice(ToolChoice::Required), json!({"mode": "ANY"}));
        assert_eq!(
            choice(ToolChoice::Function("now".into())),
            json!({"mode": "ANY", "allowedFunctionNames": ["now"]})
        );

        // A result whose call is nowhere in the conversation has no function
        // name to send: refused before anything is sent.
        let mut orphan = req;
        orphan.messages[3].tool_call_id = Some("call_9".into());
        assert!(chat_request(&base, None, &orphan).is_err());
    }

    #[test]
    fn results_find_the_nearest_call_with_their_id() {
        use hearth_backend::ToolCall;
        let base = Url::parse("https://generativelanguage.googleapis.com").unwrap();
        // `call_0` in two answers: each result names its own answer's call.
        let req = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                Message::user("a"),
                Message::assistant_calls("", vec![ToolCall::new("call_0", "now", "{}")]),
                Message::tool("call_0", "12:00"),
                Message::assistant_calls(
                    "",
                    vec![ToolCall::new("call_0", "get_weather", r#"{"city":"Oslo"}"#)],
                ),
                Message::tool("call_0", "3 C"),
            ],
            tools: vec![weather()],
            ..ChatRequest::default()
        };
        let body = chat_request(&base, None, &req).unwrap().body.unwrap();
        let c = &body["contents"];
        assert_eq!(c[2]["parts"][0]["functionResponse"]["name"], "now");
        assert_eq!(c[4]["parts"][0]["functionResponse"]["name"], "get_weather");
    }

    #[test]
    fn streamed_function_calls_arrive_whole() {
        let items = events(
            r#"data: {"candidates": [{"content": {"parts": [{"text": "Sure."}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}, {"functionCall": {"name": "now"}}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 12},"modelVersion": "gemini-2.5-flash"}

"#,
        );
        assert!(items.contains(&StreamItem::Text("Sure.".into())));
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let done = calls.finish(
            &[
                weather(),
                hearth_backend::ToolSpec::new("now", "", json!({})),
            ],
            false,
        );
        assert!(done.rejected.is_empty());
        let got: Vec<(&str, &str, &str)> = done
            .calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("call_0", "get_weather", r#"{"city":"Paris"}"#),
                ("call_1", "now", "{}")
            ]
        );
        // Arguments that are not an object: a rejected call, not a panic.
        let items = parse_event(
            r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "now", "args": "soon"}}]}}]}"#,
        )
        .unwrap();
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let done = calls.finish(
            &[hearth_backend::ToolSpec::new("now", "", json!({}))],
            false,
        );
        assert!(done.calls.is_empty());
        assert_eq!(done.rejected.len(), 1);
    }

    #[test]
    fn whole_answers_are_one_response_or_an_array() {
        let one = r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}], "role": "model"}, "finishReason": "STOP"}]}"#;
        let items = parse_whole(one).unwrap();
        assert!(
            matches!(&items[0], StreamItem::Tool(p) if p.name.as_deref() == Some("get_weather"))
        );
        assert_eq!(items.last(), Some(&StreamItem::Done));
        let array = format!(
            r#"[{{"candidates": [{{"content": {{"parts": [{{"text": "Hi"}}]}}}}]}}, {one}]"#
        );
        let items = parse_whole(&array).unwrap();
        assert_eq!(items[0], StreamItem::Text("Hi".into()));
        assert!(items.iter().any(|i| matches!(i, StreamItem::Tool(_))));
        assert!(parse_whole("[1, 2").is_err());
    }

    #[test]
    fn thought_signatures_ride_in_the_call_id_and_go_back() {
        use hearth_backend::ToolCall;
        let items = parse_event(
            r#"{"candidates": [{"content": {"parts": [{"functionCall": {"name": "now", "args": {}}, "thoughtSignature": "c2lnbmF0dXJl+/="}, {"functionCall": {"name": "now", "args": {}}}], "role": "model"}, "finishReason": "STOP"}]}"#,
        )
        .unwrap();
        let mut calls = crate::wire::ToolCalls::default();
        for item in items {
            if let StreamItem::Tool(piece) = item {
                calls.push(piece, 1 << 20).unwrap();
            }
        }
        let now = hearth_backend::ToolSpec::new("now", "", json!({}));
        let done = calls.finish(std::slice::from_ref(&now), false);
        let ids: Vec<&str> = done.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_0~sig~c2lnbmF0dXJl+/=", "call_1"]);

        let base = Url::parse("https://generativelanguage.googleapis.com").unwrap();
        let mut req = ChatRequest {
            model: "gemini-3-pro-preview".into(),
            messages: vec![
                Message::user("time?"),
                Message::assistant_calls("", done.calls.clone()),
                Message::tool(&done.calls[0].id, "12:00"),
                Message::tool(&done.calls[1].id, "12:00"),
                // A call from elsewhere, without a signature.
                Message::assistant_calls("", vec![ToolCall::new("x", "now", "{}")]),
                Message::tool("x", "12:01"),
            ],
            tools: vec![now],
            ..ChatRequest::default()
        };
        let body = chat_request(&base, None, &req).unwrap().body.unwrap();
        let c = &body["contents"];
        assert_eq!(c[1]["parts"][0]["thoughtSignature"], "c2lnbmF0dXJl+/=");
        assert!(c[1]["parts"][1].get("thoughtSignature").is_none());
        assert_eq!(c[2]["parts"][1]["functionResponse"]["name"], "now");
        assert_eq!(c[3]["parts"][0]["thoughtSignature"], NO_SIGNATURE);
        // Gemini 2.5 does not insist: nothing is made up for it.
        req.model = "gemini-2.5-flash".into();
        let body = chat_request(&base, None, &req).unwrap().body.unwrap();
        assert!(
            body["contents"][3]["parts"][0]
                .get("thoughtSignature")
                .is_none()
        );
        assert_eq!(
            body["contents"][1]["parts"][0]["thoughtSignature"],
            "c2lnbmF0dXJl+/="
        );
    }
}
