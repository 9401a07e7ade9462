//! The handlers. A generation runs in its own task that holds a queue slot;
//! the response (JSON or an SSE stream) reads its events from a channel and
//! cancels it when dropped, so a client that goes away frees its slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State as Extract};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hearth_core::{ApiAnswer, ApiFinish, ApiTarget, CoreError};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::log::ModelUsed;
use crate::server::State;
use crate::wire::{self, Header, Kind, Parsed};
use hearth_backend::reasoning;

pub(crate) async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

pub(crate) async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no such route; see /v1/models, /v1/chat/completions and /v1/completions",
    )
    .into_response()
}

/// How long a provider's model list is reused, and how long asking may take.
const CLOUD_LIST_TTL: Duration = Duration::from_secs(300);
const CLOUD_LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Provider name -> (when fetched, its model ids).
pub(crate) type CloudLists = Mutex<HashMap<String, (Instant, Vec<String>)>>;

/// The library's models and, when the user allows cloud models through the
/// API and is not offline, every configured provider's models as
/// `provider:model`. A provider that does not answer in time is left out.
pub(crate) async fn models(Extract(state): Extract<Arc<State>>) -> Response {
    let app = state.app.clone();
    let listed = tokio::task::spawn_blocking(move || -> Result<_, CoreError> {
        let local = app.api_models()?;
        let providers = if app.api_settings()?.cloud_models && !app.offline() {
            app.providers()?.into_iter().map(|p| p.name).collect()
        } else {
            Vec::new()
        };
        Ok((local, providers))
    })
    .await;
    let (mut listed, providers) = match listed {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => return ApiError::from(err).into_response(),
        Err(_) => return ApiError::from(CoreError::WorkerGone).into_response(),
    };
    for name in providers {
        let cached = state
            .cloud_lists
            .lock()
            .ok()
            .and_then(|lists| lists.get(&name).cloned())
            .filter(|(at, _)| at.elapsed() < CLOUD_LIST_TTL);
        let ids = match cached {
            Some((_, ids)) => ids,
            None => {
                let asked =
                    tokio::time::timeout(CLOUD_LIST_TIMEOUT, state.app.provider_models(&name));
                match asked.await {
                    Ok(Ok(models)) => {
                        let ids: Vec<String> = models.into_iter().map(|m| m.id).collect();
                        if let Ok(mut lists) = state.cloud_lists.lock() {
                            lists.insert(name.clone(), (Instant::now(), ids.clone()));
                        }
                        ids
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(provider = %name, error = %err, "model list failed; not listed");
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(provider = %name, "model list timed out; not listed");
                        continue;
                    }
                }
            }
        };
        listed.extend(
            ids.into_iter()
                .map(|id| (format!("{name}:{id}"), name.clone())),
        );
    }
    let data: Vec<Value> = listed
        .into_iter()
        .map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

pub(crate) async fn chat_completions(
    Extract(state): Extract<Arc<State>>,
    request: Request,
) -> Response {
    logged(state, request, Kind::Chat).await
}

pub(crate) async fn completions(Extract(state): Extract<Arc<State>>, request: Request) -> Response {
    logged(state, request, Kind::Completion).await
}

/// The JSON body of a request: 415 unless it says it is JSON (a browser's
/// form post or `text/plain` beacon never is), 413 when larger than the
/// limit, 408 when the client takes too long to send it.
pub(crate) async fn json_body(state: &State, request: Request) -> Result<Bytes, ApiError> {
    if !is_json(request.headers()) {
        tracing::warn!(
            method = %request.method(),
            path = request.uri().path(),
            "request refused: the body is not sent as JSON"
        );
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "the request body must be JSON, sent with `Content-Type: application/json`",
        ));
    }
    // The size limit is `DefaultBodyLimit`'s (413 past it).
    let read = Bytes::from_request(request, &());
    match tokio::time::timeout(state.body_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(rejection)) => Err(ApiError::new(
            rejection.status(),
            "invalid_request_error",
            rejection.body_text(),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "the request body took too long to arrive",
        )),
    }
}

/// `Content-Type: application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// [`generate`], with the model asked for in the response's extensions.
async fn logged(state: Arc<State>, request: Request, kind: Kind) -> Response {
    let mut model = None;
    let mut response = generate(state, request, kind, &mut model)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Some(model) = model {
        response.extensions_mut().insert(ModelUsed(model));
    }
    response
}

/// What the generation task reports.
enum Event {
    Text(String),
    Done(Result<ApiAnswer, CoreError>),
}

/// Cancels the generation when the response (or the handler) is dropped.
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn generate(
    state: Arc<State>,
    request: Request,
    kind: Kind,
    model: &mut Option<String>,
) -> Result<Response, ApiError> {
    let body = json_body(&state, request).await?;
    let Parsed {
        chat,
        stream,
        include_usage,
        one_tool_call,
    } = match kind {
        Kind::Chat => wire::parse_chat(&body)?,
        Kind::Completion => wire::parse_completion(&body)?,
    };
    *model = Some(chat.model.clone());
    // An unknown model is refused before a slot is taken. (Looking in the
    // library reads files: off the async threads.)
    let target = {
        let (app, name) = (state.app.clone(), chat.model.clone());
        tokio::task::spawn_blocking(move || app.api_target(&name))
            .await
            .map_err(|_| ApiError::from(CoreError::WorkerGone))??
    };
    let permit = state
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::busy())?;
    let header = Header {
        kind,
        id: next_id(kind),
        created: hearth_core::now() / 1000,
        model: chat.model.clone(),
    };

    let cancel = CancellationToken::new();
    let guard = CancelOnDrop(cancel.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (app, local) = (state.app.clone(), state.local.clone());
    let limit = state.max_generation;
    tokio::spawn(async move {
        let _permit = permit;
        // `parallel` local generations at a time; a client that leaves
        // while waiting gives up its place.
        let _turn = match target {
            ApiTarget::Local(_) => tokio::select! {
                turn = local.acquire_owned() => turn.ok(),
                () = cancel.cancelled() => return,
            },
            ApiTarget::Cloud(_) => None,
        };
        // The time limit counts from here (not the wait for the model): past
        // it the generation is cancelled and the answer ends as if cut by
        // `max_tokens`.
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = limit.map(|limit| {
            let (cancel, timed_out) = (cancel.clone(), timed_out.clone());
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                timed_out.store(true, Ordering::Relaxed);
                tracing::warn!(
                    secs = limit.as_secs(),
                    "generation stopped at the time limit"
                );
                cancel.cancel();
            })
        });
        let pieces = tx.clone();
        let mut outcome = app
            .api_chat(chat, cancel, move |piece| {
                if !piece.is_empty() {
                    let _ = pieces.send(Event::Text(piece.to_owned()));
                }
            })
            .await;
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        if let Ok(answer) = &mut outcome
            && answer.finish == ApiFinish::Cancelled
            && timed_out.load(Ordering::Relaxed)
        {
            answer.finish = ApiFinish::Length;
        }
        if let Ok(answer) = &mut outcome
            && one_tool_call
        {
            answer.tool_calls.truncate(1);
        }
        let _ = tx.send(Event::Done(outcome));
    });

    if !stream {
        while let Some(event) = rx.recv().await {
            if let Event::Done(outcome) = event {
                drop(guard);
                return Ok(json_response(
                    StatusCode::OK,
                    &wire::answer(&header, &outcome?),
                ));
            }
        }
        return Err(CoreError::WorkerGone.into());
    }

    // Wait for the first event, so a failure before any text (a model that
    // cannot load, a prompt too long) still gets its proper status.
    let first = match rx.recv().await {
        Some(Event::Done(Err(err))) => return Err(err.into()),
        Some(event) => event,
        None => return Err(CoreError::WorkerGone.into()),
    };
    let stream = Sse {
        rx,
        _guard: guard,
        header,
        include_usage,
        first: Some(first),
        started: false,
        finished: false,
        thinking: (kind == Kind::Chat).then(reasoning::Splitter::default),
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<_, std::convert::Infallible>(bytes), s))
    }));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The state of a streamed answer.
struct Sse {
    rx: mpsc::UnboundedReceiver<Event>,
    _guard: CancelOnDrop,
    header: Header,
    include_usage: bool,
    first: Option<Event>,
    /// A chunk has been sent (the first chat chunk carries the role).
    started: bool,
    finished: bool,
    /// Splits `<think>` reasoning from the content (chat answers only).
    thinking: Option<reasoning::Splitter>,
}

impl Sse {
    fn push_parts(&mut self, out: &mut String, parts: Vec<(reasoning::Part, String)>) {
        for (part, text) in parts {
            let first = !std::mem::replace(&mut self.started, true);
            let chunk = match part {
                reasoning::Part::Reasoning => wire::reasoning_chunk(&self.header, &text, first),
                reasoning::Part::Content => {
                    wire::chunk(&self.header, Some(&text), first, None, None, None)
                }
            };
            push(out, &chunk);
        }
    }

    /// The next bytes to send; `None` at the end.
    async fn next(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        let event = match self.first.take() {
            Some(event) => event,
            None => self.rx.recv().await?,
        };
        let mut out = String::new();
        match event {
            Event::Text(text) => {
                let parts = match &mut self.thinking {
                    Some(splitter) => splitter.push(&text),
                    None => vec![(reasoning::Part::Content, text)],
                };
                self.push_parts(&mut out, parts);
            }
            Event::Done(Ok(answer)) => {
                let parts = self
                    .thinking
                    .as_mut()
                    .map(reasoning::Splitter::finish)
                    .unwrap_or_default();
                self.push_parts(&mut out, parts);
                if !answer.tool_calls.is_empty() {
                    let first = !std::mem::replace(&mut self.started, true);
                    push(
                        &mut out,
                        &wire::tool_call_chunk(&self.header, &answer.tool_calls, first),
                    );
                }
                push(
                    &mut out,
                    &wire::chunk(
                        &self.header,
                        None,
                        false,
                        Some(answer.finish.as_str()),
                        None,
                        answer.logprobs.as_deref(),
                    ),
                );
                if self.include_usage {
                    let usage = Some(wire::usage(&answer));
                    push(
                        &mut out,
                        &wire::chunk(&self.header, None, false, None, usage, None),
                    );
                }
                out.push_str("data: [DONE]\n\n");
                self.finished = true;
            }
            Event::Done(Err(err)) => {
                push(&mut out, &ApiError::from(err).body());
                out.push_str("data: [DONE]\n\n");
                self.finished = true;
            }
        }
        Some(Bytes::from(out))
    }
}

fn push(out: &mut String, value: &Value) {
    out.push_str("data: ");
    out.push_str(&value.to_string());
    out.push_str("\n\n");
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn next_id(kind: Kind) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = match kind {
        Kind::Chat => "chatcmpl",
        Kind::Completion => "cmpl",
    };
    format!("{prefix}-hearth{:x}{n:04x}", hearth_core::now() / 1000)
}
