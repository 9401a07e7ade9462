//! Stand-ins for cloud chat providers on 127.0.0.1, speaking each API's real
//! wire format (JSON bodies, server-sent events, error bodies), with a queue
//! of faults. [`Wire::OpenAi`] also stands in for OpenAI-compatible servers.
//!
//! Routes:
//! - OpenAI: `POST /v1/chat/completions` (SSE `data:` chunks, a usage chunk
//!   when `stream_options.include_usage`, `data: [DONE]`), `GET /v1/models`.
//! - Anthropic: `POST /v1/messages` (`event:` + `data:` lines: message_start,
//!   content_block_start, ping, content_block_delta…, content_block_stop,
//!   message_delta, message_stop; `anthropic-version` required),
//!   `GET /v1/models`.
//! - Gemini: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`
//!   (one `GenerateContentResponse` per event, `finishReason` on the last),
//!   `GET /v1beta/models`.
//!
//! Every event goes out in two body chunks split mid-way, so a multi-byte
//! character of the answer may be cut between them, as TCP may do.
//!
//! Tool calls: [`StandIn::push_answer`] queues scripted answers
//! ([`Scripted::ToolCalls`]), streamed in each API's shape: OpenAI's
//! `delta.tool_calls` (id and name first, the arguments in pieces,
//! `finish_reason: tool_calls`), Anthropic's `tool_use` blocks
//! (`input_json_delta` pieces, `stop_reason: tool_use`), Gemini's whole
//! `functionCall` parts. The arguments are sent as scripted, so a malformed
//! call is scripted as one. Every request body is recorded
//! ([`StandIn::requests`]) for tests to check what was sent.
//!
//! ```no_run
//! # async fn demo() {
//! use hearth_testkit::providers::{Fault, StandIn, Wire};
//!
//! let server = StandIn::start(Wire::Anthropic).await;
//! server.expect_key("sk-ant-test");
//! server.set_answer("Paris is the capital of France.");
//! server.push_fault(Fault::Status { code: 529, retry_after: Some("1".into()) });
//! // Point a client at server.base_url(): the first request gets 529, the
//! // next one the answer, streamed in several events.
//! assert_eq!(server.request_count(), 0);
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Which API a stand-in speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's chat completions (also OpenAI-compatible servers).
    OpenAi,
    Anthropic,
    Gemini,
}

/// What the next request gets instead of a normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This status with the provider's error body, and `Retry-After` if given.
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// Accept the request and never answer.
    Hang,
    /// Send this many text events, then drop the connection.
    CutAfter(usize),
    /// Send this many text events, then nothing more (the connection stays open).
    StallAfter(usize),
    /// A `data: {not json` event.
    Malformed,
    /// The provider's own in-stream error event before any text (OpenAI
    /// `server_error`, Anthropic `overloaded_error`, Gemini `UNAVAILABLE`).
    StreamError,
    /// 401 with the provider's error body.
    Unauthorized,
    /// The provider's refusal of a prompt longer than the model's context
    /// window: OpenAI's 400 `context_length_exceeded`, Anthropic's 400
    /// "prompt is too long", Gemini's 400 "exceeds the maximum number of
    /// tokens".
    ContextLength,
    /// The same refusal sent as an in-stream error event after a 200, as
    /// gateways and some compatible servers do.
    ContextLengthInStream,
    /// A redirect (`status`, e.g. 307) to `location`.
    Redirect { status: u16, location: String },
    /// A 200 stream of text events that never ends (chat), or a body that
    /// never ends (model list).
    Endless,
    /// A 1 GiB body without one complete event or JSON value, streamed (never
    /// allocated); with `declared`, `Content-Length` says so up front.
    HugeBody { declared: bool },
    /// The headers, then one byte every `every`, forever (slowloris).
    Trickle { every: std::time::Duration },
}

/// One tool call a scripted answer makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedCall {
    pub name: String,
    /// The arguments' JSON text, sent as it is (malformed if the test wants
    /// it so; Gemini, whose arguments are an object, sends text that is not
    /// one as a JSON string).
    pub arguments: String,
}

impl ScriptedCall {
    pub fn new(name: &str, arguments: &str) -> Self {
        Self {
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

/// A scripted answer for one chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scripted {
    /// This text, streamed as the default answer is.
    Text(String),
    /// `text` (may be empty), then these calls.
    ToolCalls {
        text: String,
        calls: Vec<ScriptedCall>,
    },
}

/// One request the stand-in saw.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    /// `Null` when there was no (JSON) body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// The input token count every answer reports.
pub const PROMPT_TOKENS: u64 = 21;

/// The answer served until [`StandIn::set_answer`] changes it.
pub const DEFAULT_ANSWER: &str = "Paris is the capital of France — café crème ☕ included.";

/// How an answer is split into text events: word by word, each piece
/// keeping its trailing space. The output token count is the piece count.
pub fn pieces(answer: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in answer.chars() {
        current.push(c);
        if c == ' ' {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

struct Shared {
    wire: Wire,
    answer: Mutex<String>,
    scripted: Mutex<VecDeque<Scripted>>,
    whole: std::sync::atomic::AtomicBool,
    faults: Mutex<VecDeque<Fault>>,
    forever: Mutex<Option<Fault>>,
    key: Mutex<Option<String>>,
    log: Mutex<Vec<Recorded>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stand-in on the caller's runtime; stops when dropped.
pub struct StandIn {
    base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for StandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandIn")
            .field("wire", &self.shared.wire)
            .field("base", &self.base)
            .finish()
    }
}

impl StandIn {
    /// Serves `wire` on a free port of 127.0.0.1.
    #[allow(clippy::expect_used)] // test support: a stand-in that cannot start is a broken test
    pub async fn start(wire: Wire) -> Self {
        let shared = Arc::new(Shared {
            wire,
            answer: Mutex::new(DEFAULT_ANSWER.to_owned()),
            scripted: Mutex::new(VecDeque::new()),
            whole: std::sync::atomic::AtomicBool::new(false),
            faults: Mutex::new(VecDeque::new()),
            forever: Mutex::new(None),
            key: Mutex::new(None),
            log: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let base = match wire {
            Wire::OpenAi => format!("http://{addr}/v1"),
            Wire::Anthropic | Wire::Gemini => format!("http://{addr}"),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, task }
    }

    /// The base URL a provider is configured with (`…/v1` for OpenAI).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn wire(&self) -> Wire {
        self.shared.wire
    }

    /// The text the next answers stream (split by [`pieces`]).
    pub fn set_answer(&self, text: &str) {
        *lock(&self.shared.answer) = text.to_owned();
    }

    pub fn answer(&self) -> String {
        lock(&self.shared.answer).clone()
    }

    /// Queues a scripted answer: each chat request that gets a normal
    /// answer takes the next one; once they are used up, [`Self::answer`].
    pub fn push_answer(&self, answer: Scripted) {
        lock(&self.shared.scripted).push_back(answer);
    }

    /// With `true`, chat answers come whole, as one JSON body in the API's
    /// non-streamed shape (OpenAI's `message.tool_calls`, Anthropic's
    /// `content` blocks, Gemini's array of responses), whatever the request
    /// asked: as some OpenAI-compatible servers answer.
    pub fn set_whole(&self, whole: bool) {
        self.shared
            .whole
            .store(whole, std::sync::atomic::Ordering::Relaxed);
    }

    /// The bodies of the chat requests so far, in order.
    pub fn chat_bodies(&self) -> Vec<Value> {
        let wire = self.shared.wire;
        lock(&self.shared.log)
            .iter()
            .filter(|r| route(wire, &Method::POST, r) == Route::Chat && r.method == "POST")
            .map(|r| r.body.clone())
            .collect()
    }

    /// Queues a fault: each request takes the next one.
    pub fn push_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// The fault every request gets once the queue is empty.
    pub fn set_fault_forever(&self, fault: Fault) {
        *lock(&self.shared.forever) = Some(fault);
    }

    /// Empties the queue and ends a forever fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        *lock(&self.shared.forever) = None;
    }

    /// Requests without this key get the provider's 401 (Gemini: its 400
    /// `API_KEY_INVALID`, as the real API answers).
    pub fn expect_key(&self, key: &str) {
        *lock(&self.shared.key) = Some(key.to_owned());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// The chat model ids the model-list route offers.
    pub fn models(&self) -> Vec<&'static str> {
        match self.shared.wire {
            Wire::OpenAi => vec!["gpt-4o-mini", "gpt-4.1"],
            Wire::Anthropic => vec!["claude-sonnet-4-5", "claude-haiku-4-5"],
            Wire::Gemini => vec!["gemini-2.5-flash", "gemini-2.5-pro"],
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type St = State<Arc<Shared>>;

async fn handle(
    State(shared): St,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    };
    lock(&shared.log).push(recorded.clone());
    let wire = shared.wire;
    let route = route(wire, &method, &recorded);
    if route == Route::Unknown {
        return error(wire, 404, "no such route");
    }
    if let Some(expected) = lock(&shared.key).clone() {
        let given = key_given(wire, &recorded);
        if given.as_deref() != Some(expected.as_str()) {
            return bad_key(wire, given.as_deref());
        }
    }
    if wire == Wire::Anthropic && !recorded.headers.contains_key("anthropic-version") {
        return error(wire, 400, "anthropic-version: header is required");
    }
    let fault = lock(&shared.faults)
        .pop_front()
        .or_else(|| lock(&shared.forever).clone());
    match fault {
        Some(Fault::Status { code, retry_after }) => {
            let mut response = error(wire, code, "injected failure");
            if let Some(value) = retry_after.and_then(|v| HeaderValue::try_from(v).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Some(Fault::Unauthorized) => return error(wire, 401, "invalid key"),
        Some(Fault::ContextLength) => return too_long(wire),
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Redirect { status, location }) => return redirect(status, &location),
        Some(Fault::HugeBody { declared }) => return huge_body(declared),
        Some(Fault::Trickle { every }) => return trickle(every),
        Some(Fault::Endless) if route == Route::Models => return huge_body(false),
        Some(Fault::Endless) => return endless(wire, &recorded.body),
        _ => {}
    }
    match route {
        Route::Models => {
            if fault == Some(Fault::Malformed) {
                return Response::new(Body::from("{\"data\": [tr"));
            }
            json_response(StatusCode::OK, &models_body(wire))
        }
        Route::Chat => {
            let answer = lock(&shared.answer).clone();
            let events = match fault {
                Some(Fault::Malformed) => vec![malformed_event(wire)],
                Some(Fault::StreamError) => stream_error_events(wire, &recorded.body),
                Some(Fault::ContextLengthInStream) => too_long_events(wire, &recorded.body),
                Some(Fault::CutAfter(n) | Fault::StallAfter(n)) => {
                    chat_events(wire, &recorded.body, &answer, Some(n))
                }
                None if shared.whole.load(std::sync::atomic::Ordering::Relaxed) => {
                    let body = match lock(&shared.scripted).pop_front() {
                        Some(Scripted::Text(text)) => whole_body(wire, &recorded.body, &text, &[]),
                        Some(Scripted::ToolCalls { text, calls }) => {
                            whole_body(wire, &recorded.body, &text, &calls)
                        }
                        None => whole_body(wire, &recorded.body, &answer, &[]),
                    };
                    return json_response(StatusCode::OK, &body);
                }
                _ => match lock(&shared.scripted).pop_front() {
                    Some(Scripted::Text(text)) => chat_events(wire, &recorded.body, &text, None),
                    Some(Scripted::ToolCalls { text, calls }) => {
                        tool_call_events(wire, &recorded.body, &text, &calls)
                    }
                    None => chat_events(wire, &recorded.body, &answer, None),
                },
            };
            let end = match fault {
                Some(Fault::CutAfter(_)) => End::Cut,
                Some(Fault::StallAfter(_)) => End::Stall,
                _ => End::Complete,
            };
            sse(events, end)
        }
        Route::Unknown => error(wire, 404, "no such route"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Models,
    Unknown,
}

fn route(wire: Wire, method: &Method, r: &Recorded) -> Route {
    let path = r.path.as_str();
    match (wire, method.as_str()) {
        (Wire::OpenAi, "POST") if path == "/v1/chat/completions" => Route::Chat,
        (Wire::OpenAi | Wire::Anthropic, "GET") if path == "/v1/models" => Route::Models,
        (Wire::Anthropic, "POST") if path == "/v1/messages" => Route::Chat,
        (Wire::Gemini, "GET") if path == "/v1beta/models" => Route::Models,
        (Wire::Gemini, "POST")
            if path.starts_with("/v1beta/models/")
                && path.ends_with(":streamGenerateContent")
                && r.query.as_deref().is_some_and(|q| q.contains("alt=sse")) =>
        {
            Route::Chat
        }
        _ => Route::Unknown,
    }
}

fn key_given(wire: Wire, r: &Recorded) -> Option<String> {
    match wire {
        Wire::OpenAi => r
            .headers
            .get("authorization")?
            .strip_prefix("Bearer ")
            .map(str::to_owned),
        Wire::Anthropic => r.headers.get("x-api-key").cloned(),
        Wire::Gemini => r.headers.get("x-goog-api-key").cloned().or_else(|| {
            r.query
                .as_deref()?
                .split('&')
                .find_map(|kv| kv.strip_prefix("key="))
                .map(str::to_owned)
        }),
    }
}

/// A wrong key, answered as each API does (the real ones echo part of it;
/// this one echoes all of it, so a client that shows bodies gets caught).
fn bad_key(wire: Wire, given: Option<&str>) -> Response<Body> {
    let given = given.unwrap_or("");
    match wire {
        Wire::OpenAi => json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {
                "message": format!("Incorrect API key provided: {given}."),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ),
        Wire::Anthropic => json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"type": "error", "error": {
                "type": "authentication_error",
                "message": format!("invalid x-api-key {given}")}}),
        ),
        Wire::Gemini => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {
                "code": 400,
                "message": format!("API key not valid ({given}). Please pass a valid API key."),
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        ),
    }
}

/// An error answer with the provider's body shape.
fn too_long(wire: Wire) -> Response<Body> {
    json_response(StatusCode::BAD_REQUEST, &too_long_body(wire))
}

/// Each provider's words for a prompt longer than the model's window.
fn too_long_body(wire: Wire) -> Value {
    match wire {
        Wire::OpenAi => json!({"error": {
            "message": "This model's maximum context length is 128000 tokens. However, your \
                        messages resulted in 130512 tokens. Please reduce the length of the \
                        messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded"
        }}),
        Wire::Anthropic => json!({"type": "error", "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 204512 tokens > 200000 maximum"
        }}),
        Wire::Gemini => json!({"error": {
            "code": 400,
            "message": "The input token count (1100000) exceeds the maximum number of tokens \
                        allowed (1048576).",
            "status": "INVALID_ARGUMENT"
        }}),
    }
}

fn error(wire: Wire, code: u16, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match wire {
        Wire::OpenAi => {
            let (kind, code_field) = match code {
                401 => ("invalid_request_error", json!("invalid_api_key")),
                429 => ("requests", json!("rate_limit_exceeded")),
                404 => ("invalid_request_error", json!("model_not_found")),
                400..=499 => ("invalid_request_error", Value::Null),
                _ => ("server_error", Value::Null),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code_field}})
        }
        Wire::Anthropic => {
            let kind = match code {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                503 | 529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        Wire::Gemini => {
            let kind = match code {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                400..=499 => "INVALID_ARGUMENT",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json!({"error": {"code": code, "message": message, "status": kind}})
        }
    };
    json_response(status, &body)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn models_body(wire: Wire) -> Value {
    match wire {
        Wire::OpenAi => json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
            {"id": "gpt-4.1", "object": "model", "created": 1744316542, "owned_by": "system"},
        ]}),
        Wire::Anthropic => json!({"data": [
            {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
             "created_at": "2025-09-29T00:00:00Z"},
            {"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5",
             "created_at": "2025-10-15T00:00:00Z"},
        ], "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-haiku-4-5"}),
        Wire::Gemini => json!({"models": [
            {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash",
             "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "displayName": "Text Embedding 004",
             "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-2.5-pro", "displayName": "Gemini 2.5 Pro",
             "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"]},
        ]}),
    }
}

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn named(event: &str, value: &Value) -> String {
    format!("event: {event}\ndata: {value}\n\n")
}

fn malformed_event(wire: Wire) -> String {
    match wire {
        Wire::Anthropic => "event: content_block_delta\ndata: {not json\n\n".to_owned(),
        Wire::OpenAi | Wire::Gemini => "data: {not json\n\n".to_owned(),
    }
}

/// An error inside a stream that had begun (HTTP 200), before any text.
fn stream_error_events(wire: Wire, request: &Value) -> Vec<String> {
    match wire {
        Wire::OpenAi => vec![data(&json!({"error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null}}))],
        Wire::Anthropic => {
            let mut events = chat_events(wire, request, "", Some(0));
            events.truncate(1); // message_start
            events.push(named(
                "error",
                &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            events
        }
        Wire::Gemini => vec![data(&json!({"error": {
            "code": 503, "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE"}}))],
    }
}

/// The refusal of an over-long prompt as an error event in a 200 stream.
fn too_long_events(wire: Wire, request: &Value) -> Vec<String> {
    let refusal = too_long_body(wire);
    match wire {
        Wire::Anthropic => {
            let mut events = chat_events(wire, request, "", Some(0));
            events.truncate(1); // message_start
            events.push(named("error", &refusal));
            events
        }
        Wire::OpenAi | Wire::Gemini => vec![data(&refusal)],
    }
}

/// The events of an answer; with `cut`, only that many text events and
/// nothing that would end the stream.
fn chat_events(wire: Wire, request: &Value, answer: &str, cut: Option<usize>) -> Vec<String> {
    let all = pieces(answer);
    let shown: Vec<String> = all
        .iter()
        .take(cut.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let output = all.len() as u64;
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gemini-2.5-flash")
        .to_owned();
    let mut events = Vec::new();
    match wire {
        Wire::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                       "created": 1700000000, "model": model, "system_fingerprint": "fp_standin",
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            };
            events.push(data(&chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )));
            for piece in &shown {
                events.push(data(&chunk(json!({"content": piece}), Value::Null)));
            }
            if cut.is_none() {
                events.push(data(&chunk(json!({}), json!("stop"))));
                if request["stream_options"]["include_usage"] == json!(true) {
                    events.push(data(&json!({"id": "chatcmpl-standin",
                        "object": "chat.completion.chunk", "created": 1700000000, "model": model,
                        "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS,
                        "completion_tokens": output, "total_tokens": PROMPT_TOKENS + output}})));
                }
                events.push("data: [DONE]\n\n".to_owned());
            }
        }
        Wire::Anthropic => {
            events.push(named(
                "message_start",
                &json!({"type": "message_start", "message": {"id": "msg_standin",
                    "type": "message", "role": "assistant", "content": [], "model": model,
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}}),
            ));
            events.push(named(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
            ));
            events.push(named("ping", &json!({"type": "ping"})));
            for piece in &shown {
                events.push(named(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
            if cut.is_none() {
                events.push(named(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
                events.push(named(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                            "usage": {"output_tokens": output}}),
                ));
                events.push(named("message_stop", &json!({"type": "message_stop"})));
            }
        }
        Wire::Gemini => {
            let last = shown.len().saturating_sub(1);
            for (i, piece) in shown.iter().enumerate() {
                let mut candidate = json!({"content": {"parts": [{"text": piece}], "role": "model"},
                                           "index": 0});
                let mut usage = json!({"promptTokenCount": PROMPT_TOKENS,
                                       "candidatesTokenCount": i + 1,
                                       "totalTokenCount": PROMPT_TOKENS + i as u64 + 1});
                if cut.is_none() && i == last {
                    candidate["finishReason"] = json!("STOP");
                    usage["candidatesTokenCount"] = json!(output);
                    usage["totalTokenCount"] = json!(PROMPT_TOKENS + output);
                }
                events.push(data(
                    &json!({"candidates": [candidate], "usageMetadata": usage,
                                         "modelVersion": "gemini-2.5-flash-standin",
                                         "responseId": "standin"}),
                ));
            }
        }
    }
    events
}

/// A whole answer: `text`, then `calls`, in the API's non-streamed shape.
fn whole_body(wire: Wire, request: &Value, text: &str, calls: &[ScriptedCall]) -> Value {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gemini-2.5-flash")
        .to_owned();
    let output = pieces(text).len() as u64 + 10 * calls.len() as u64;
    match wire {
        Wire::OpenAi => {
            let tool_calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({"id": format!("call_standin_{i}"), "type": "function",
                           "function": {"name": c.name, "arguments": c.arguments}})
                })
                .collect();
            let mut message = json!({"role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "refusal": null});
            if !tool_calls.is_empty() {
                message["tool_calls"] = Value::Array(tool_calls);
            }
            let finish = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            json!({"id": "chatcmpl-standin", "object": "chat.completion",
                   "created": 1700000000, "model": model,
                   "choices": [{"index": 0, "message": message, "logprobs": null,
                                "finish_reason": finish}],
                   "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": output,
                             "total_tokens": PROMPT_TOKENS + output}})
        }
        Wire::Anthropic => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for (i, c) in calls.iter().enumerate() {
                // The API sends the input as an object; a malformed script
                // goes as a string.
                let input = serde_json::from_str::<Value>(&c.arguments)
                    .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                content.push(
                    json!({"type": "tool_use", "id": format!("toolu_standin_{i}"),
                                    "name": c.name, "input": input}),
                );
            }
            let stop = if calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            };
            json!({"id": "msg_standin", "type": "message", "role": "assistant",
                   "model": model, "content": content, "stop_reason": stop,
                   "stop_sequence": null,
                   "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": output}})
        }
        Wire::Gemini => {
            // `streamGenerateContent` without `alt=sse`: an array of responses.
            tool_call_events(wire, request, text, calls)
                .iter()
                .filter_map(|e| e.strip_prefix("data: "))
                .filter_map(|e| serde_json::from_str::<Value>(e.trim()).ok())
                .collect()
        }
    }
}

/// `text` in pieces of at most `n` characters.
fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// The events of an answer that says `text` and then makes `calls`.
fn tool_call_events(
    wire: Wire,
    request: &Value,
    text: &str,
    calls: &[ScriptedCall],
) -> Vec<String> {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("gemini-2.5-flash")
        .to_owned();
    let shown = if text.is_empty() {
        Vec::new()
    } else {
        pieces(text)
    };
    let output = shown.len() as u64 + 10 * calls.len() as u64;
    let mut events = Vec::new();
    match wire {
        Wire::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                       "created": 1700000000, "model": model, "system_fingerprint": "fp_standin",
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            };
            events.push(data(&chunk(
                json!({"role": "assistant", "content": null}),
                Value::Null,
            )));
            for piece in &shown {
                events.push(data(&chunk(json!({"content": piece}), Value::Null)));
            }
            for (i, call) in calls.iter().enumerate() {
                events.push(data(&chunk(
                    json!({"tool_calls": [{"index": i, "id": format!("call_standin_{i}"),
                        "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
                    Value::Null,
                )));
                for piece in split_chars(&call.arguments, 7) {
                    events.push(data(&chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                        Value::Null,
                    )));
                }
            }
            events.push(data(&chunk(json!({}), json!("tool_calls"))));
            if request["stream_options"]["include_usage"] == json!(true) {
                events.push(data(&json!({"id": "chatcmpl-standin",
                    "object": "chat.completion.chunk", "created": 1700000000, "model": model,
                    "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS,
                    "completion_tokens": output, "total_tokens": PROMPT_TOKENS + output}})));
            }
            events.push("data: [DONE]\n\n".to_owned());
        }
        Wire::Anthropic => {
            events.push(named(
                "message_start",
                &json!({"type": "message_start", "message": {"id": "msg_standin",
                    "type": "message", "role": "assistant", "content": [], "model": model,
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}}),
            ));
            let mut index = 0;
            if !shown.is_empty() {
                events.push(named(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "text", "text": ""}}),
                ));
                for piece in &shown {
                    events.push(named(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": 0,
                                "delta": {"type": "text_delta", "text": piece}}),
                    ));
                }
                events.push(named(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
                index = 1;
            }
            events.push(named("ping", &json!({"type": "ping"})));
            for (i, call) in calls.iter().enumerate() {
                let at = index + i;
                events.push(named(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": at,
                            "content_block": {"type": "tool_use", "id": format!("toolu_standin_{i}"),
                                              "name": call.name, "input": {}}}),
                ));
                // The API's first delta is often empty.
                let mut parts = vec![String::new()];
                parts.extend(split_chars(&call.arguments, 7));
                for piece in parts {
                    events.push(named(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": at,
                                "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    ));
                }
                events.push(named(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": at}),
                ));
            }
            events.push(named(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                        "usage": {"output_tokens": output}}),
            ));
            events.push(named("message_stop", &json!({"type": "message_stop"})));
        }
        Wire::Gemini => {
            let usage = |n: u64| {
                json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": n,
                       "totalTokenCount": PROMPT_TOKENS + n})
            };
            for (i, piece) in shown.iter().enumerate() {
                events.push(data(
                    &json!({"candidates": [{"content": {"parts": [{"text": piece}],
                    "role": "model"}, "index": 0}], "usageMetadata": usage(i as u64 + 1),
                    "modelVersion": "gemini-2.5-flash-standin", "responseId": "standin"}),
                ));
            }
            let parts: Vec<Value> = calls
                .iter()
                .map(|call| {
                    if call.arguments.trim().is_empty() {
                        // A call without arguments has no `args`.
                        return json!({"functionCall": {"name": call.name}});
                    }
                    let args = serde_json::from_str::<Value>(&call.arguments)
                        .unwrap_or_else(|_| Value::String(call.arguments.clone()));
                    json!({"functionCall": {"name": call.name, "args": args}})
                })
                .collect();
            events.push(data(&json!({"candidates": [{"content": {"parts": parts,
                "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": usage(output),
                "modelVersion": "gemini-2.5-flash-standin", "responseId": "standin"})));
        }
    }
    events
}

fn redirect(status: u16, location: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// 1 GiB of `a`: no line break, so no event and no JSON value ever ends.
fn huge_body(declared: bool) -> Response<Body> {
    const SIZE: u64 = 1 << 30;
    const PIECE: usize = 64 * 1024;
    let pieces = futures_util::stream::iter(0..SIZE / PIECE as u64)
        .map(|_| Ok::<_, std::io::Error>(vec![b'a'; PIECE]));
    let mut response = Response::new(Body::from_stream(pieces));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    if declared && let Ok(v) = HeaderValue::try_from(SIZE.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    response
}

/// One space every `every`: bytes keep coming, nothing ever completes.
fn trickle(every: std::time::Duration) -> Response<Body> {
    let bytes = futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(vec![b' ']), ()))
    });
    let mut response = Response::new(Body::from_stream(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// A well-formed answer that never ends: the opening events, then the same
/// text event forever.
fn endless(wire: Wire, request: &Value) -> Response<Body> {
    let mut start = chat_events(wire, request, "", Some(0));
    let delta = chat_events(wire, request, "more ", Some(1))
        .into_iter()
        .rev()
        .find(|e| e.contains("more "))
        .unwrap_or_default();
    if wire == Wire::Gemini {
        start.clear();
    }
    let head = futures_util::stream::iter(start.into_iter().map(|e| Ok(e.into_bytes())));
    let forever = futures_util::stream::repeat_with(move || {
        Ok::<_, std::io::Error>(delta.clone().into_bytes())
    });
    let mut response = Response::new(Body::from_stream(head.chain(forever)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// How an SSE body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Complete,
    /// The connection breaks.
    Cut,
    /// Nothing more is sent.
    Stall,
}

/// An SSE body: each event in two chunks (split mid-way, even inside a
/// character), then `end`.
fn sse(events: Vec<String>, end: End) -> Response<Body> {
    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = Vec::new();
    for event in events {
        let bytes = event.into_bytes();
        let (a, b) = bytes.split_at(bytes.len() / 2);
        chunks.push(Ok(a.to_vec()));
        chunks.push(Ok(b.to_vec()));
    }
    let events = futures_util::stream::iter(chunks);
    let body = match end {
        End::Complete => Body::from_stream(events),
        End::Cut => {
            // Let the events reach the client before the connection breaks: a
            // body error at once would discard what hyper has not written yet.
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected cut",
                ))
            });
            Body::from_stream(events.chain(cut))
        }
        End::Stall => {
            let stall = futures_util::stream::once(std::future::pending());
            Body::from_stream(events.chain(stall))
        }
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_split_into_word_pieces() {
        assert_eq!(pieces("a bc  d"), ["a ", "bc ", " ", "d"]);
        assert_eq!(pieces(DEFAULT_ANSWER).concat(), DEFAULT_ANSWER);
        assert!(pieces(DEFAULT_ANSWER).len() >= 5);
    }
}
