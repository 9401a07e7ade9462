//! All of Hearth's provider HTTP: sending, timeouts, classifying failures,
//! retries with backoff, reading server-sent events, and the network ledger.
//!
//! The translators describe requests as data ([`WireRequest`]) and read one
//! event at a time; this file is the only one that touches the network.
//! Retrying is safe only while no text has reached the user: after the first
//! piece, any failure ends the call as [`ErrorKind::Interrupted`] with the
//! text so far, so nothing is ever written twice.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use hearth_backend::{
    BackendError, CancellationToken, Completion, ErrorKind, FinishReason, TokenSink, ToolSpec,
    Usage,
};
use reqwest::Url;
use reqwest::header::{self, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

mod classify;
mod retry;

use hearth_net::{
    CapError, ClientOptions, Redirects, Route, StreamCaps, UnitMark, capped, human_bytes,
    proxy_status,
};

use crate::config::ConfigError;
use crate::ledger::{Network, Purpose};

use crate::wire::{
    Auth, CONTEXT_LENGTH, Payload, StreamItem, ToolCalls, Unreadable, WireRequest, contains,
    says_too_long,
};
pub(crate) use classify::human;
use classify::{error_code, excerpt, retry_after};
use retry::{Attempt, Calls};

/// Timeouts, retries and the circuit breaker's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Establishing the connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// From sending the request to the response headers and the first event.
    pub first_byte_timeout: Duration,
    /// The longest gap between two events of a stream.
    pub idle_timeout: Duration,
    /// The whole call, retries included.
    pub total_timeout: Duration,
    /// Attempts after the first (only before any text was shown).
    pub max_retries: u32,
    /// The backoff before retry `n` is random in `0..=min(backoff_max, backoff_base × 2ⁿ)`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails.
    pub max_retry_after: Duration,
    /// Failed calls in a row that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls.
    pub breaker_cooldown: Duration,
    /// The most bytes one streamed answer may take, all events together.
    pub max_stream_bytes: u64,
    /// The most bytes one event of a stream may take (the parser would
    /// otherwise buffer an event that never ends).
    pub max_event_bytes: u64,
    /// The most bytes a model list may take.
    pub max_list_bytes: u64,
    /// The most bytes the tool calls of one streamed answer may take, their
    /// arguments' fragments all together.
    pub max_tool_arguments_bytes: u64,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(600),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            // An OpenAI stream spends ~250 bytes per token: 256 MiB is a
            // million-token answer. Gemini's inline images make big events.
            max_stream_bytes: 256 << 20,
            max_event_bytes: 16 << 20,
            max_list_bytes: 16 << 20,
            // Arguments are a few hundred bytes; a file written by a tool
            // call may be large, but not this large.
            max_tool_arguments_bytes: 4 << 20,
        }
    }
}

/// How messages name the provider.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    /// `OpenAI`, `Anthropic`, … or, for a compatible server, its configured name.
    pub(crate) shown: String,
    /// The configured name (`hearth provider test NAME`).
    pub(crate) name: String,
}

/// A translator's reader: one event (or a whole JSON answer) to items.
pub(crate) type Parser = dyn Fn(Payload<'_>) -> Result<Vec<StreamItem>, Unreadable> + Sync;

/// The HTTP side of one provider.
pub(crate) struct Http {
    client: reqwest::Client,
    policy: HttpPolicy,
    network: Network,
    who: Who,
    host: String,
    base: Url,
    /// Direct or through a proxy: decided once, for the base URL.
    route: Route,
}

/// Error bodies are read this far, for the debug log.
const ERROR_BODY_LIMIT: usize = 16 * 1024;

impl Http {
    pub(crate) fn new(
        policy: HttpPolicy,
        network: Network,
        who: Who,
        base: &Url,
    ) -> Result<Self, ConfigError> {
        // Same origin only: `x-api-key` and `x-goog-api-key` are headers
        // reqwest does not know to drop on a redirect to another host.
        let client = network
            .net
            .client(&ClientOptions {
                redirects: Redirects::SameOrigin,
                connect_timeout: policy.connect_timeout,
            })
            .map_err(|e| ConfigError::Client {
                name: who.name.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            policy,
            route: network.net.route(base),
            network,
            host: base.host_str().unwrap_or_default().to_owned(),
            base: base.clone(),
            who,
        })
    }

    pub(crate) fn network(&self) -> &Network {
        &self.network
    }

    pub(crate) fn offline_error(&self) -> BackendError {
        BackendError::new(
            ErrorKind::Offline,
            format!("Hearth is offline: nothing was sent to {}", self.who.shown),
        )
    }

    /// Streams one chat request into `out`, retrying while nothing was shown.
    /// The model's tool calls are checked against `tools`.
    pub(crate) async fn stream(
        &self,
        req: &WireRequest,
        parse: &Parser,
        model: &str,
        tools: &[ToolSpec],
        out: &TokenSink,
        cancel: &CancellationToken,
    ) -> Result<Completion, BackendError> {
        let body = self.body(req)?;
        let mut calls = Calls::new(self, Purpose::ProviderCall, body.len());
        let mut progress = Progress::new(model, calls.started);
        loop {
            let mut attempt = calls.begin()?;
            let result = self
                .stream_once(
                    req,
                    &body,
                    parse,
                    &mut progress,
                    out,
                    cancel,
                    &mut attempt,
                    calls.deadline,
                )
                .await;
            attempt.end(result.is_ok());
            match result {
                Ok(()) => {
                    self.finish_calls(&mut progress, tools, out);
                    return Ok(progress.into_completion(calls.retries));
                }
                Err(err) if !progress.text.is_empty() => {
                    return Err(self.interrupted(&err, &progress.text));
                }
                Err(err) => {
                    // Nothing of a failed attempt but its (empty) text is kept.
                    progress.reset(model);
                    if !calls.before_retry(err, Some(cancel)).await? {
                        progress.finish = Some(FinishReason::Cancelled);
                        return Ok(progress.into_completion(calls.retries));
                    }
                }
            }
        }
    }

    /// Turns the streamed tool-call pieces into calls. A call that cannot be
    /// used (no name, a tool that was not offered, arguments that are not a
    /// JSON object, cut by the token limit) is treated as the local engine
    /// treats one: not a call, its text kept in the answer (and sent on),
    /// and a warning logged (without the arguments).
    fn finish_calls(&self, progress: &mut Progress, tools: &[ToolSpec], out: &TokenSink) {
        let pieces = std::mem::take(&mut progress.calls);
        if pieces.is_empty() {
            return;
        }
        if progress.finish == Some(FinishReason::Cancelled) {
            // A call cut short by a cancel is no call, and nothing to show.
            return;
        }
        let cut = progress
            .finish
            .as_ref()
            .is_some_and(FinishReason::is_length);
        let done = pieces.finish(tools, cut);
        for (raw, why) in done.rejected {
            tracing::warn!(
                provider = %self.who.name,
                error = %why,
                bytes = raw.len(),
                "a tool call was left in the answer's text"
            );
            let piece = if progress.text.is_empty() {
                raw
            } else {
                format!("\n{raw}")
            };
            progress.text.push_str(&piece);
            let _ = out.send(piece);
        }
        progress.tool_calls = done.calls;
        if !progress.tool_calls.is_empty()
            && matches!(
                progress.finish,
                None | Some(FinishReason::Stop | FinishReason::ToolCalls)
            )
        {
            // OpenAI says `stop` for a call forced by name; Gemini always does.
            progress.finish = Some(FinishReason::ToolCalls);
        } else if progress.tool_calls.is_empty() && progress.finish == Some(FinishReason::ToolCalls)
        {
            progress.finish = Some(FinishReason::Stop);
        }
    }

    /// A plain request (the model list): its body, retrying failures.
    pub(crate) async fn fetch(
        &self,
        req: &WireRequest,
        purpose: Purpose,
    ) -> Result<Vec<u8>, BackendError> {
        let body = self.body(req)?;
        let mut calls = Calls::new(self, purpose, body.len());
        loop {
            let mut attempt = calls.begin()?;
            let result = self
                .fetch_once(req, &body, &mut attempt, calls.deadline)
                .await;
            attempt.end(result.is_ok());
            match result {
                Ok(bytes) => return Ok(bytes),
                // Without a cancel token `before_retry` only ever says "retry".
                Err(err) => {
                    calls.before_retry(err, None).await?;
                }
            }
        }
    }

    fn body(&self, req: &WireRequest) -> Result<Vec<u8>, BackendError> {
        match &req.body {
            None => Ok(Vec::new()),
            Some(value) => serde_json::to_vec(value).map_err(|_| {
                BackendError::new(
                    ErrorKind::Rejected,
                    format!("Hearth could not encode the request to {}", self.who.shown),
                )
            }),
        }
    }

    fn request(
        &self,
        req: &WireRequest,
        body: &[u8],
        stream: bool,
    ) -> Result<reqwest::RequestBuilder, BackendError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        let key_header = |text: String| {
            // A key with a line break cannot be a header; say so, never panic.
            let mut value = HeaderValue::try_from(text).map_err(|_| {
                BackendError::new(
                    ErrorKind::Auth,
                    format!(
                        "the {} key has characters a key cannot have; set it again and check it with `hearth provider test {}`",
                        self.who.shown, self.who.name
                    ),
                )
            })?;
            value.set_sensitive(true);
            Ok::<_, BackendError>(value)
        };
        match &req.auth {
            Auth::None => {}
            Auth::Bearer(key) => {
                let value = key_header(format!("Bearer {}", key.expose_secret().trim()))?;
                headers.insert(header::AUTHORIZATION, value);
            }
            Auth::Header(name, key) => {
                let value = key_header(key.expose_secret().trim().to_owned())?;
                headers.insert(*name, value);
            }
        }
        if req.body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        let mut builder = self
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(headers);
        if req.body.is_some() {
            builder = builder.body(body.to_vec());
        }
        Ok(builder)
    }

    /// Sends the request and waits for the response headers.
    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
        limit: Limit,
        cancel: Option<&CancellationToken>,
    ) -> Result<Option<reqwest::Response>, BackendError> {
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        tokio::select! {
            biased;
            () = cancel.cancelled() => Ok(None),
            sent = tokio::time::timeout_at(limit.at.into(), builder.send()) => match sent {
                Err(_) => Err(self.timeout(limit.which)),
                Ok(Err(e)) => Err(self.transport(&e)),
                Ok(Ok(response)) => Ok(Some(response)),
            },
        }
    }

    #[allow(clippy::too_many_arguments)] // one attempt's whole state; private
    async fn stream_once(
        &self,
        req: &WireRequest,
        body: &[u8],
        parse: &Parser,
        progress: &mut Progress,
        out: &TokenSink,
        cancel: &CancellationToken,
        attempt: &mut Attempt<'_>,
        deadline: Instant,
    ) -> Result<(), BackendError> {
        let first = self.first_byte_limit(deadline);
        let builder = self.request(req, body, true)?;
        let Some(response) = self.send(builder, first, Some(cancel)).await? else {
            progress.finish = Some(FinishReason::Cancelled);
            return Ok(());
        };
        attempt.status = Some(response.status().as_u16());
        if !response.status().is_success() {
            return Err(self.status_error(response, first, &attempt.received).await);
        }
        if is_json(response.headers()) {
            let received = attempt.received.clone();
            return self
                .whole_once(
                    response,
                    parse,
                    progress,
                    out,
                    cancel,
                    (first, deadline),
                    &received,
                )
                .await;
        }
        let received = attempt.received.clone();
        let bytes = response.bytes_stream().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        });
        let caps = StreamCaps {
            max_total: self.policy.max_stream_bytes,
            max_unit: self.policy.max_event_bytes,
        };
        let mark = UnitMark::default();
        let events = capped(bytes, caps, mark.clone()).eventsource();
        let mut events = pin!(events);
        let mut limit = first;
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    progress.finish = Some(FinishReason::Cancelled);
                    return Ok(());
                }
                next = tokio::time::timeout_at(limit.at.into(), events.next()) => next,
            };
            let event = match next {
                Err(_) => return Err(self.timeout(limit.which)),
                Ok(None) => return self.end_of_stream(progress),
                Ok(Some(Err(EventStreamError::Transport(CapError::Inner(e))))) => {
                    return Err(self.dropped(&e));
                }
                Ok(Some(Err(EventStreamError::Transport(cap)))) => {
                    return Err(self.too_large(&cap.to_string()));
                }
                Ok(Some(Err(e))) => {
                    tracing::debug!(provider = %self.who.name, error = %e, "unreadable event stream");
                    return Err(self.malformed());
                }
                Ok(Some(Ok(event))) => event,
            };
            mark.reached();
            limit = self.idle_limit(deadline);
            let items = parse(Payload::Event {
                name: &event.event,
                data: &event.data,
            })
            .map_err(|reason| {
                tracing::debug!(
                    provider = %self.who.name,
                    %reason,
                    data = %excerpt(event.data.as_bytes()),
                    "unreadable event"
                );
                self.malformed()
            })?;
            if self.apply(items, progress, out)? == Step::Done {
                return Ok(());
            }
        }
    }

    /// A whole JSON answer to a streamed request (some compatible servers
    /// ignore `stream: true`): read under the event cap, then taken as the
    /// items a stream of it would have given.
    #[allow(clippy::too_many_arguments)] // one attempt's whole state; private
    async fn whole_once(
        &self,
        response: reqwest::Response,
        parse: &Parser,
        progress: &mut Progress,
        out: &TokenSink,
        cancel: &CancellationToken,
        (limit, deadline): (Limit, Instant),
        received: &AtomicU64,
    ) -> Result<(), BackendError> {
        let cap = self.policy.max_event_bytes;
        let too_large = || self.too_large(&format!("the answer is over {}", human_bytes(cap)));
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(too_large());
        }
        let mut chunks = pin!(response.bytes_stream());
        let mut body = Vec::new();
        let mut limit = limit;
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    progress.finish = Some(FinishReason::Cancelled);
                    return Ok(());
                }
                next = tokio::time::timeout_at(limit.at.into(), chunks.next()) => next,
            };
            match next {
                Err(_) => return Err(self.timeout(limit.which)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(self.dropped(&e)),
                Ok(Some(Ok(chunk))) => {
                    received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if (body.len() + chunk.len()) as u64 > cap {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            limit = self.idle_limit(deadline);
        }
        let text = String::from_utf8_lossy(&body);
        let items = parse(Payload::Whole(&text)).map_err(|reason| {
            tracing::debug!(
                provider = %self.who.name,
                %reason,
                data = %excerpt(&body),
                "unreadable answer"
            );
            self.malformed()
        })?;
        self.apply(items, progress, out)?;
        progress.finish.get_or_insert(FinishReason::Stop);
        Ok(())
    }

    /// Takes one event's items into the answer so far.
    fn apply(
        &self,
        items: Vec<StreamItem>,
        progress: &mut Progress,
        out: &TokenSink,
    ) -> Result<Step, BackendError> {
        for item in items {
            match item {
                StreamItem::Text(text) => {
                    if progress.first_token.is_none() {
                        progress.first_token = Some(progress.started.elapsed());
                    }
                    progress.text.push_str(&text);
                    if !out.send(text) {
                        // Nobody reads any more: the same as a cancel.
                        progress.finish = Some(FinishReason::Cancelled);
                        return Ok(Step::Done);
                    }
                }
                StreamItem::Usage { input, output } => {
                    let usage = progress.usage.get_or_insert_with(Usage::default);
                    if let Some(n) = input {
                        usage.input_tokens = n;
                    }
                    if let Some(n) = output {
                        usage.output_tokens = n;
                    }
                }
                StreamItem::Finish(reason) => progress.finish = Some(reason),
                StreamItem::Model(model) => progress.model = model,
                StreamItem::Done => {
                    progress.finish.get_or_insert(FinishReason::Stop);
                    return Ok(Step::Done);
                }
                StreamItem::Error(error) => return Err(self.wire_error(&error)),
                StreamItem::Tool(piece) => {
                    if progress.first_token.is_none() {
                        progress.first_token = Some(progress.started.elapsed());
                    }
                    progress
                        .calls
                        .push(piece, self.policy.max_tool_arguments_bytes)
                        .map_err(|_| {
                            self.too_large(&format!(
                                "its tool calls are over {}",
                                human_bytes(self.policy.max_tool_arguments_bytes)
                            ))
                        })?;
                }
            }
        }
        Ok(Step::More)
    }

    async fn fetch_once(
        &self,
        req: &WireRequest,
        body: &[u8],
        attempt: &mut Attempt<'_>,
        deadline: Instant,
    ) -> Result<Vec<u8>, BackendError> {
        let first = self.first_byte_limit(deadline);
        let builder = self.request(req, body, false)?;
        let Some(response) = self.send(builder, first, None).await? else {
            return Err(self.timeout(first.which));
        };
        attempt.status = Some(response.status().as_u16());
        if !response.status().is_success() {
            return Err(self.status_error(response, first, &attempt.received).await);
        }
        let limit_bytes = self.policy.max_list_bytes;
        if response.content_length().is_some_and(|n| n > limit_bytes) {
            return Err(self.too_large(&format!("the answer is over {}", human_bytes(limit_bytes))));
        }
        let mut chunks = pin!(response.bytes_stream());
        let mut bytes = Vec::new();
        let mut limit = first;
        loop {
            match tokio::time::timeout_at(limit.at.into(), chunks.next()).await {
                Err(_) => return Err(self.timeout(limit.which)),
                Ok(None) => return Ok(bytes),
                Ok(Some(Err(e))) => return Err(self.dropped(&e)),
                Ok(Some(Ok(chunk))) => {
                    attempt
                        .received
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    if (bytes.len() + chunk.len()) as u64 > limit_bytes {
                        return Err(self.too_large(&format!(
                            "the answer is over {}",
                            human_bytes(limit_bytes)
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
            }
            limit = self.idle_limit(deadline);
        }
    }

    fn first_byte_limit(&self, deadline: Instant) -> Limit {
        Limit::earliest(
            Instant::now() + self.policy.first_byte_timeout,
            Waiting::FirstByte,
            deadline,
        )
    }

    fn idle_limit(&self, deadline: Instant) -> Limit {
        Limit::earliest(
            Instant::now() + self.policy.idle_timeout,
            Waiting::Idle,
            deadline,
        )
    }

    /// Classifies a non-2xx answer (its body goes to the debug log only).
    async fn status_error(
        &self,
        response: reqwest::Response,
        limit: Limit,
        received: &AtomicU64,
    ) -> BackendError {
        let status = response.status().as_u16();
        if let Some(failure) = proxy_status(status, &self.route, self.network.net.hints()) {
            return BackendError::new(
                ErrorKind::Auth,
                format!("{}: {}", self.who.shown, failure.message),
            );
        }
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let mut body = Vec::new();
        let mut chunks = pin!(response.bytes_stream());
        while body.len() < ERROR_BODY_LIMIT {
            match tokio::time::timeout_at(limit.at.into(), chunks.next()).await {
                Ok(Some(Ok(chunk))) => {
                    received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    body.extend_from_slice(&chunk);
                }
                _ => break,
            }
        }
        tracing::debug!(
            provider = %self.who.name,
            status,
            body = %excerpt(&body),
            "error response"
        );
        // Gemini answers a bad key with 400 INVALID_ARGUMENT and this reason.
        let code = if status == 400 && contains(&body, b"API_KEY_INVALID") {
            Some("API_KEY_INVALID".to_owned())
        } else if matches!(status, 400 | 413) && says_too_long(&body) {
            Some(CONTEXT_LENGTH.to_owned())
        } else {
            error_code(&body)
        };
        self.classify(status, retry_after, code.as_deref())
    }
}

/// Whether an answer is one JSON body rather than a stream of events.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("application/json")
        })
}

/// Whether a stream goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    More,
    Done,
}

/// Which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    FirstByte,
    Idle,
    Total,
}

#[derive(Debug, Clone, Copy)]
struct Limit {
    at: Instant,
    which: Waiting,
}

impl Limit {
    fn earliest(at: Instant, which: Waiting, deadline: Instant) -> Self {
        if deadline <= at {
            Self {
                at: deadline,
                which: Waiting::Total,
            }
        } else {
            Self { at, which }
        }
    }
}

/// The answer so far, kept across attempts (retries only happen while its
/// text is empty).
struct Progress {
    started: Instant,
    text: String,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    model: String,
    first_token: Option<Duration>,
    /// Tool-call pieces as they stream in.
    calls: ToolCalls,
    /// The finished calls ([`Http::finish_calls`]).
    tool_calls: Vec<hearth_backend::ToolCall>,
}

impl Progress {
    fn new(model: &str, started: Instant) -> Self {
        Self {
            started,
            text: String::new(),
            usage: None,
            finish: None,
            model: model.to_owned(),
            first_token: None,
            calls: ToolCalls::default(),
            tool_calls: Vec::new(),
        }
    }

    fn reset(&mut self, model: &str) {
        self.usage = None;
        self.finish = None;
        self.calls = ToolCalls::default();
        self.first_token = None;
        model.clone_into(&mut self.model);
    }

    fn into_completion(self, retries: u32) -> Completion {
        Completion {
            text: self.text,
            finish: self.finish.unwrap_or(FinishReason::Stop),
            usage: self.usage,
            model: self.model,
            time_to_first_token: self.first_token,
            retries,
            engine: None,
            logprobs: None,
            tool_calls: self.tool_calls,
        }
    }
}
