//! All of Hearth's provider HTTP: sending, timeouts, classifying failures,
//! retries with backoff, reading server-sent events, and the network ledger.
//!
//! The translators describe requests as data ([`WireRequest`]) and read one
//! event at a time; this file is the only one that touches the network.
//! Retrying is safe only while no text has reached the user: after the first
//! piece, any failure ends the call as [`ErrorKind::Interrupted`] with the
//! text so far, so nothing is ever written twice.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use hearth_backend::{
    BackendError, CancellationToken, Completion, ErrorKind, FinishReason, TokenSink, Usage,
};
use rand::Rng;
use reqwest::Url;
use reqwest::header::{self, HeaderMap, HeaderValue};
use secrecy::ExposeSecret;

use crate::config::ConfigError;
use crate::ledger::{Network, NetworkEvent, Purpose};
use crate::wire::{Auth, StreamItem, Unreadable, WireError, WireRequest};

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

/// An event parser: `(event name, data)` to items.
pub(crate) type Parser = dyn Fn(&str, &str) -> Result<Vec<StreamItem>, Unreadable> + Sync;

/// The HTTP side of one provider.
pub(crate) struct Http {
    client: reqwest::Client,
    policy: HttpPolicy,
    network: Network,
    who: Who,
    host: String,
}

/// Error bodies are read this far, for the debug log.
const ERROR_BODY_LIMIT: usize = 16 * 1024;
/// A model list larger than this is not a model list.
const LIST_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How much of a body or event the debug log shows.
const LOG_EXCERPT: usize = 200;

impl Http {
    pub(crate) fn new(
        policy: HttpPolicy,
        network: Network,
        who: Who,
        base: &Url,
    ) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client {
                name: who.name.clone(),
                reason: root_cause(&e),
            })?;
        Ok(Self {
            client,
            policy,
            network,
            host: base.host_str().unwrap_or_default().to_owned(),
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
    pub(crate) async fn stream(
        &self,
        req: &WireRequest,
        parse: &Parser,
        model: &str,
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
            calls.end(attempt, result.is_ok());
            match result {
                Ok(()) => return Ok(progress.into_completion(calls.retries)),
                Err(err) if !progress.text.is_empty() => {
                    return Err(self.interrupted(&err, &progress.text));
                }
                Err(err) => {
                    if !calls.before_retry(err, Some(cancel)).await? {
                        progress.finish = Some(FinishReason::Cancelled);
                        return Ok(progress.into_completion(calls.retries));
                    }
                }
            }
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
            calls.end(attempt, result.is_ok());
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
        attempt: &mut Attempt,
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
        let received = attempt.received.clone();
        let events = response
            .bytes_stream()
            .inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
            })
            .eventsource();
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
                Ok(Some(Err(EventStreamError::Transport(e)))) => return Err(self.dropped(&e)),
                Ok(Some(Err(e))) => {
                    tracing::debug!(provider = %self.who.name, error = %e, "unreadable event stream");
                    return Err(self.malformed());
                }
                Ok(Some(Ok(event))) => event,
            };
            limit = self.idle_limit(deadline);
            let items = parse(&event.event, &event.data).map_err(|reason| {
                tracing::debug!(
                    provider = %self.who.name,
                    %reason,
                    data = %excerpt(event.data.as_bytes()),
                    "unreadable event"
                );
                self.malformed()
            })?;
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
                            return Ok(());
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
                        return Ok(());
                    }
                    StreamItem::Error(error) => return Err(self.wire_error(&error)),
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        req: &WireRequest,
        body: &[u8],
        attempt: &mut Attempt,
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
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > LIST_BODY_LIMIT {
                        return Err(self.malformed());
                    }
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
        } else {
            error_code(&body)
        };
        self.classify(status, retry_after, code.as_deref())
    }

    fn classify(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        code: Option<&str>,
    ) -> BackendError {
        let who = &self.who.shown;
        let name = &self.who.name;
        let note = code.map(|c| format!(", {c}")).unwrap_or_default();
        let rejected_key =
            matches!(status, 401 | 403) || (status == 400 && code == Some("API_KEY_INVALID"));
        let (kind, message) = match status {
            _ if rejected_key => (
                ErrorKind::Auth,
                format!(
                    "the {who} key was rejected (HTTP {status}{note}); check it with `hearth provider test {name}`"
                ),
            ),
            429 if code.is_some_and(|c| c.contains("quota")) => (
                ErrorKind::RateLimit,
                format!("{who} says the account is out of quota (HTTP 429{note})"),
            ),
            429 => (
                ErrorKind::RateLimit,
                match retry_after {
                    Some(wait) => format!(
                        "{who} is rate limiting Hearth (HTTP 429{note}); it asked to wait {}",
                        human(wait)
                    ),
                    None => format!("{who} is rate limiting Hearth (HTTP 429{note})"),
                },
            ),
            408 => (
                ErrorKind::Timeout,
                format!("{who} gave up waiting for the request (HTTP 408)"),
            ),
            503 | 529 => (
                ErrorKind::Server,
                format!("{who} is overloaded (HTTP {status}{note})"),
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("{who} had a server error (HTTP {status}{note})"),
            ),
            404 => (
                ErrorKind::Rejected,
                format!("{who} refused the request (HTTP 404{note}): unknown model?"),
            ),
            413 => (
                ErrorKind::Rejected,
                format!(
                    "{who} refused the request (HTTP 413{note}): the conversation is too long?"
                ),
            ),
            400..=499 => (
                ErrorKind::Rejected,
                format!("{who} refused the request (HTTP {status}{note})"),
            ),
            _ => (
                ErrorKind::Malformed,
                format!("{who} answered with an unexpected HTTP {status}"),
            ),
        };
        BackendError::new(kind, message).with_retry_after(retry_after)
    }

    fn wire_error(&self, error: &WireError) -> BackendError {
        let who = &self.who.shown;
        let code = safe_code(&error.code).unwrap_or("error");
        let message = match error.kind {
            ErrorKind::RateLimit => format!("{who} is rate limiting Hearth ({code})"),
            ErrorKind::Server => format!("{who} reported a server error ({code})"),
            ErrorKind::Auth => format!(
                "the {who} key was rejected ({code}); check it with `hearth provider test {}`",
                self.who.name
            ),
            ErrorKind::Rejected => format!("{who} refused the request ({code})"),
            _ => format!("{who} reported an error ({code})"),
        };
        BackendError::new(error.kind, message)
    }

    fn timeout(&self, which: Waiting) -> BackendError {
        let who = &self.who.shown;
        let message = match which {
            Waiting::FirstByte => format!(
                "{who} sent nothing for {}",
                human(self.policy.first_byte_timeout)
            ),
            Waiting::Idle => format!(
                "{who} went silent for {} in the middle of the answer",
                human(self.policy.idle_timeout)
            ),
            Waiting::Total => format!(
                "{who} did not finish within {}",
                human(self.policy.total_timeout)
            ),
        };
        BackendError::new(ErrorKind::Timeout, message)
    }

    /// A failure to send the request (before any response).
    fn transport(&self, e: &reqwest::Error) -> BackendError {
        let who = &self.who.shown;
        if e.is_timeout() {
            // The client's only own timeout is the connect timeout.
            BackendError::new(
                ErrorKind::Timeout,
                format!(
                    "could not connect to {who} ({}) within {}",
                    self.host,
                    human(self.policy.connect_timeout)
                ),
            )
        } else if e.is_connect() {
            BackendError::new(
                ErrorKind::Connection,
                format!(
                    "could not connect to {who} ({}): {}",
                    self.host,
                    root_cause(e)
                ),
            )
        } else {
            BackendError::new(
                ErrorKind::Connection,
                format!("the request to {who} failed: {}", root_cause(e)),
            )
        }
    }

    /// The body broke off.
    fn dropped(&self, e: &reqwest::Error) -> BackendError {
        BackendError::new(
            ErrorKind::Connection,
            format!(
                "the connection to {} dropped: {}",
                self.who.shown,
                root_cause(e)
            ),
        )
    }

    fn malformed(&self) -> BackendError {
        BackendError::new(
            ErrorKind::Malformed,
            format!("{} sent an answer Hearth could not read", self.who.shown),
        )
    }

    fn end_of_stream(&self, progress: &Progress) -> Result<(), BackendError> {
        let who = &self.who.shown;
        if progress.finish.is_some() {
            Ok(())
        } else if !progress.text.is_empty() {
            Err(BackendError::new(
                ErrorKind::Connection,
                format!("{who} closed the stream before the answer was complete"),
            ))
        } else {
            Err(BackendError::new(
                ErrorKind::Malformed,
                format!("{who} closed the stream without an answer"),
            ))
        }
    }

    fn interrupted(&self, err: &BackendError, text: &str) -> BackendError {
        BackendError::new(
            ErrorKind::Interrupted,
            format!(
                "the answer from {} stopped part-way: {}",
                self.who.shown,
                err.user_message()
            ),
        )
        .with_partial(text)
    }
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
        }
    }

    fn into_completion(self, retries: u32) -> Completion {
        Completion {
            text: self.text,
            finish: self.finish.unwrap_or(FinishReason::Stop),
            usage: self.usage,
            model: self.model,
            time_to_first_token: self.first_token,
            retries,
        }
    }
}

/// One HTTP attempt, for the ledger.
struct Attempt {
    started_at: SystemTime,
    status: Option<u16>,
    received: Arc<AtomicU64>,
}

/// A call's attempts: the offline check, the ledger, backoff between them.
struct Calls<'a> {
    http: &'a Http,
    purpose: Purpose,
    sent: u64,
    started: Instant,
    deadline: Instant,
    retries: u32,
}

impl<'a> Calls<'a> {
    fn new(http: &'a Http, purpose: Purpose, sent: usize) -> Self {
        let started = Instant::now();
        Self {
            http,
            purpose,
            sent: sent as u64,
            started,
            deadline: started + http.policy.total_timeout,
            retries: 0,
        }
    }

    /// Checked before every attempt: the switch may be flipped mid-call.
    fn begin(&self) -> Result<Attempt, BackendError> {
        if self.http.network.is_offline() {
            return Err(self.http.offline_error());
        }
        Ok(Attempt {
            started_at: SystemTime::now(),
            status: None,
            received: Arc::new(AtomicU64::new(0)),
        })
    }

    fn end(&self, attempt: Attempt, ok: bool) {
        self.http.network.record(NetworkEvent {
            host: self.http.host.clone(),
            purpose: self.purpose,
            provider: self.http.who.name.clone(),
            started_at: attempt.started_at,
            bytes_sent: self.sent,
            bytes_received: attempt.received.load(Ordering::Relaxed),
            status: attempt.status,
            ok,
        });
    }

    /// Waits before the next attempt: `Ok(true)` to retry, `Ok(false)` when
    /// cancelled while waiting, `Err` to give up.
    async fn before_retry(
        &mut self,
        err: BackendError,
        cancel: Option<&CancellationToken>,
    ) -> Result<bool, BackendError> {
        let policy = &self.http.policy;
        if !err.is_retryable() || self.retries >= policy.max_retries {
            return Err(self.give_up(err));
        }
        let backoff = jitter(policy, self.retries);
        let wait = match err.retry_after {
            Some(asked) if asked > policy.max_retry_after => return Err(self.give_up(err)),
            Some(asked) => asked.max(backoff),
            None => backoff,
        };
        if Instant::now() + wait >= self.deadline {
            return Err(self.give_up(err));
        }
        tracing::debug!(
            provider = %self.http.who.name,
            kind = err.kind.as_str(),
            retry = self.retries + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying"
        );
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(false),
            () = tokio::time::sleep(wait) => {}
        }
        self.retries += 1;
        Ok(true)
    }

    fn give_up(&self, err: BackendError) -> BackendError {
        if self.retries == 0 {
            return err;
        }
        let retries = if self.retries == 1 {
            "retry"
        } else {
            "retries"
        };
        BackendError::new(
            err.kind,
            format!(
                "{}; gave up after {} {retries} in {}",
                err.user_message(),
                self.retries,
                human(self.started.elapsed())
            ),
        )
        .with_retry_after(err.retry_after)
    }
}

/// Full jitter: random in `0..=min(max, base × 2^retry)`.
fn jitter(policy: &HttpPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .backoff_base
        .checked_mul(2u32.saturating_pow(retry))
        .unwrap_or(policy.backoff_max)
        .min(policy.backoff_max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
}

/// `Retry-After` (seconds or an HTTP-date), or `retry-after-ms`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms")
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The provider's short error code from an error body (`error.code`,
/// `error.type`, `error.status`), if it looks like a code and not prose.
fn error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    ["code", "type", "status"]
        .iter()
        .filter_map(|field| error.get(field)?.as_str())
        .find_map(safe_code)
        .map(str::to_owned)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn safe_code(code: &str) -> Option<&str> {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    ok.then_some(code)
}

/// The innermost cause ("Connection refused (os error 111)"); reqwest's own
/// message would carry the URL.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(LOG_EXCERPT) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], bytes.len()),
        None => text.into_owned(),
    }
}

/// `300 ms`, `8 s`, `10 min`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        if secs >= 120 && secs.is_multiple_of(60) {
            format!("{} min", secs / 60)
        } else {
            format!("{secs} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_dates_and_ms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after", HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        headers.insert("retry-after", HeaderValue::try_from(later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(42)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(42));
        headers.insert("retry-after", HeaderValue::try_from(past).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn jitter_stays_under_the_ceiling() {
        let policy = HttpPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(250),
            ..HttpPolicy::default()
        };
        for retry in [0, 1, 2, 40] {
            let ceiling =
                Duration::from_millis(100 * 2u64.pow(retry.min(2))).min(policy.backoff_max);
            for _ in 0..50 {
                assert!(jitter(&policy, retry) <= ceiling);
            }
        }
    }

    #[test]
    fn error_codes_are_codes_not_prose() {
        let openai = br#"{"error":{"message":"You exceeded your quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(error_code(openai).as_deref(), Some("insufficient_quota"));
        let gemini = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_code(gemini).as_deref(), Some("RESOURCE_EXHAUSTED"));
        let prose = br#"{"error":{"type":"your key sk-123 is wrong"}}"#;
        assert_eq!(error_code(prose), None);
        assert_eq!(error_code(b"<html>"), None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_secs(60)), "60 s");
        assert_eq!(human(Duration::from_millis(1200)), "2 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
    }
}
