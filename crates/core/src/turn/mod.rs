//! The one turn path. Every answer Hearth writes goes through [`run`]: a chat
//! turn in the app or in `hearth chat`, an API request, `hearth run`, a
//! conversation's title. Local and cloud turns differ only in the
//! [`ChatBackend`] they call (the router or the caller chose it) and in the
//! guard text passes before it leaves the machine ([`Outbound`]).
//!
//! A front end describes the turn ([`Turn`]: the backend and a
//! [`ChatRequest`]) and where it goes ([`Record`]: its screen and, for chats,
//! the history). The path is always:
//!
//! 1. **context** ([`context::fit_request`]): earlier answers lose their
//!    `<think>` reasoning (the stored messages keep it), the documents attached to the
//!    conversation go in first ([`documents`]: whole, or retrieved passages,
//!    as one numbered block), then the request is fitted into the backend's
//!    context window, oldest turns dropped first. Whatever else enters a turn
//!    (tool definitions and results) is added here, before fitting, so every
//!    front end gets it.
//! 2. **guard**: for a cloud backend the text is redacted and the estimated
//!    cost checked against the budget; nothing is stored or sent before this
//!    passes.
//! 3. **open**: the record opens the answer (in a chat: a `streaming` message).
//! 4. **stream**: pieces arrive (placeholders put back), go to the record, and
//!    the text so far is checkpointed at least every [`CHECKPOINT_EVERY`]. A
//!    cloud provider that refuses the fitted prompt as too long
//!    ([`ErrorKind::ContextLength`]) gets it once more without the oldest
//!    turns ([`context::trim_after_refusal`]), and the record is told
//!    ([`Record::trimmed`]).
//! 5. **finish**: status and [`MessageMetrics`] worked out once, for every
//!    backend, and handed to the record (the stored message, usage records).

pub mod context;
pub(crate) mod documents;
mod outbound;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use hearth_backend::{
    BackendError, BackendId, ChatBackend, ChatRequest, Completion, ErrorKind, FinishReason,
    TokenSink, Usage,
};
use hearth_store::{Citation, ConversationId, MessageMetrics, MessageStatus, Redaction};
use tokio_util::sync::CancellationToken;

use crate::redact::{Redactor, Restorer};
use crate::{App, CoreError};
use documents::{DocumentsUsed, Grounding};

pub(crate) use outbound::Outbound;

/// How often a growing answer is written to the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// One turn: who answers, and what.
pub(crate) struct Turn<'a> {
    pub(crate) backend: &'a dyn ChatBackend,
    /// The conversation (or text), sampling and limits; its `model` is the
    /// backend's business.
    pub(crate) request: ChatRequest,
    /// Fit the conversation into the backend's context window, keeping room
    /// for the answer. `hearth run` and titles send their prompt as it is.
    pub(crate) fit: bool,
    /// The guard for a cloud backend; `None` for the local engine.
    pub(crate) outbound: Option<Outbound<'a>>,
    /// How often the record checkpoints the text ([`CHECKPOINT_EVERY`]).
    pub(crate) checkpoint_every: Duration,
    /// The conversation whose attached documents go into the turn.
    pub(crate) documents: Option<(&'a App, &'a ConversationId)>,
}

impl<'a> Turn<'a> {
    pub(crate) fn new(backend: &'a dyn ChatBackend, request: ChatRequest) -> Self {
        Self {
            backend,
            request,
            fit: true,
            outbound: None,
            checkpoint_every: CHECKPOINT_EVERY,
            documents: None,
        }
    }
}

/// The answer is about to stream.
pub(crate) struct Opening<'a> {
    pub(crate) backend: &'a BackendId,
    /// Older turns left out to fit the context window.
    pub(crate) dropped_turns: usize,
    /// Tokens of the prompt (counted by the backend, else estimated).
    pub(crate) prompt_tokens: usize,
    /// What was replaced before the text left the machine.
    pub(crate) redactions: &'a [Redaction],
    /// The documents the turn was given.
    pub(crate) documents: Option<&'a Grounding>,
}

/// The answer ended.
pub(crate) struct Finished<'a> {
    pub(crate) backend: &'a BackendId,
    /// The whole answer (what the record already had, and what streamed).
    pub(crate) text: &'a str,
    pub(crate) status: MessageStatus,
    pub(crate) metrics: &'a MessageMetrics,
    /// What the user reads about a failure.
    pub(crate) error: Option<String>,
    /// The failure's kind in usage statistics.
    pub(crate) error_kind: Option<ErrorKind>,
    /// Attempts that failed before the one that answered.
    pub(crate) retries: u32,
}

/// Where a turn goes while it runs: the front end's screen and its storage.
/// Only `text` is required; a stateless front end keeps nothing.
pub(crate) trait Record: Send {
    /// Nothing was stored or sent before this. Returns the text the answer
    /// already has (an answer being continued).
    fn open(&mut self, opening: &Opening<'_>) -> Result<String, CoreError> {
        let _ = opening;
        Ok(String::new())
    }

    /// The provider refused the prompt as too long for the model's window,
    /// and it is sent again without the `dropped_turns` oldest turns (in all,
    /// counting those fitting left out): the front end says so, as it does
    /// for [`Opening::dropped_turns`].
    fn trimmed(&mut self, dropped_turns: usize, prompt_tokens: usize) {
        let _ = (dropped_turns, prompt_tokens);
    }

    /// The next piece of the answer.
    fn text(&mut self, piece: &str);

    /// The answer so far (`text` is all of it), for a crash to keep.
    fn checkpoint(&mut self, text: &str) -> Result<(), CoreError> {
        let _ = text;
        Ok(())
    }

    /// The end, whether the backend succeeded or not.
    fn finish(&mut self, finished: &Finished<'_>) -> Result<(), CoreError> {
        let _ = finished;
        Ok(())
    }
}

/// A finished turn.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The whole answer (a continued one includes what it had before).
    pub text: String,
    /// What the backend reported.
    pub completion: Completion,
    /// Speed, size and cost, as stored with a chat message.
    pub metrics: MessageMetrics,
    /// Older turns left out to fit the context window.
    pub dropped_turns: usize,
    /// Tokens of the prompt (counted by the backend, else estimated).
    pub prompt_tokens: usize,
    /// The documents the turn was given, and their sources.
    pub documents: Option<(DocumentsUsed, Vec<Citation>)>,
}

/// Answers `request` with `backend` outside any conversation, nothing stored:
/// `hearth run` with a local model. Each piece of text goes to `on_text`; the
/// prompt is sent as it is (no turns to drop).
pub async fn answer(
    backend: &dyn ChatBackend,
    request: ChatRequest,
    cancel: CancellationToken,
    on_text: impl FnMut(&str) + Send,
) -> Result<Answer, CoreError> {
    let turn = Turn {
        fit: false,
        ..Turn::new(backend, request)
    };
    run(turn, &mut Forward(on_text), cancel).await
}

/// A record that only forwards the text.
pub(crate) struct Forward<F>(pub(crate) F);

impl<F: FnMut(&str) + Send> Record for Forward<F> {
    fn text(&mut self, piece: &str) {
        (self.0)(piece);
    }
}

/// Runs `turn`, reporting to `record`. A backend's failure is in the record
/// (status `error`) and returned; a failure before the answer opened (too
/// long, over budget) leaves the record untouched.
pub(crate) async fn run(
    turn: Turn<'_>,
    record: &mut (dyn Record + '_),
    cancel: CancellationToken,
) -> Result<Answer, CoreError> {
    let Turn {
        backend,
        request,
        fit,
        outbound,
        checkpoint_every,
        documents,
    } = turn;
    let id = backend.id();

    // 1. Context: earlier answers without their reasoning, the documents,
    // then fitting.
    let request = context::without_earlier_reasoning(request);
    let grounding = match documents {
        Some((app, conversation)) => app.ground(conversation, Some(backend), &request)?,
        None => None,
    };
    let request = match &grounding {
        Some(g) => g.apply(request),
        None => request,
    };
    let fitted = if fit {
        context::fit_request(backend, request)?
    } else {
        context::FittedRequest::whole(request)
    };
    // 2. Guard: nothing is stored or sent before it passes.
    let (request, redactor) = match &outbound {
        Some(guard) => {
            let (request, redactor) = guard.redact(fitted.request);
            guard.admit(&request)?;
            (request, Some(redactor))
        }
        None => (fitted.request, None),
    };
    let prompt_tokens = fitted
        .prompt_tokens
        .unwrap_or_else(|| context::estimate_tokens(&request));
    let redactions = redactor.as_ref().map_or(&[][..], Redactor::redactions);
    if outbound.is_some() {
        tracing::info!(backend = %id, redacted = redactions.len(), "sending to a cloud provider");
    }

    // 3. Open.
    let prefix = record.open(&Opening {
        backend: &id,
        dropped_turns: fitted.dropped_turns,
        prompt_tokens,
        redactions,
        documents: grounding.as_ref(),
    })?;

    // 4. Stream. A checkpoint that fails stops the backend (its own token, so
    // the caller's stays as it was).
    let stop = cancel.child_token();
    let started = Instant::now();
    let mut shown = Shown {
        record: &mut *record,
        restorer: redactor.as_ref().map(Redactor::restorer),
        text: prefix,
        every: checkpoint_every,
        last_checkpoint: Instant::now(),
        failed: None,
        stop,
    };
    let mut dropped_turns = fitted.dropped_turns;
    let mut prompt_tokens = prompt_tokens;
    // A fitted cloud turn the provider still refuses as too long is sent once
    // more with fewer turns (the estimate was off, or the window set wrong).
    let mut again = (fit && outbound.is_some()).then(|| request.clone());
    let mut request = request;
    let outcome = loop {
        let outcome = attempt(backend, request, &mut shown).await;
        let refused = matches!(&outcome, Err(e) if e.kind == ErrorKind::ContextLength && e.partial.is_empty());
        let Some(sent) = again.take().filter(|_| refused && shown.failed.is_none()) else {
            break outcome;
        };
        let count = |m: &[hearth_backend::Message]| {
            let probe = ChatRequest {
                messages: m.to_vec(),
                ..sent.clone()
            };
            match backend.count_tokens(&probe) {
                Ok(Some(tokens)) => tokens,
                _ => context::estimate_tokens(&probe),
            }
        };
        let Some(trimmed) = context::trim_after_refusal(&sent.messages, count) else {
            break outcome;
        };
        dropped_turns += trimmed.dropped_turns;
        prompt_tokens = trimmed.prompt_tokens;
        tracing::info!(
            backend = %id,
            dropped_turns,
            prompt_tokens,
            "the provider refused the prompt as too long; sending it again with fewer turns"
        );
        shown.record.trimmed(dropped_turns, prompt_tokens);
        request = ChatRequest {
            messages: trimmed.messages,
            ..sent
        };
    };
    let outcome = outcome.map_err(|err| match err.kind {
        // Refused again after trimming: say so.
        ErrorKind::ContextLength if dropped_turns > fitted.dropped_turns => BackendError::new(
            ErrorKind::ContextLength,
            format!(
                "{} (also after leaving out the {dropped_turns} oldest turn(s)); start a new \
                 conversation or set a smaller context window for the provider",
                err.user_message()
            ),
        ),
        _ => err,
    });
    shown.flush();
    let latency = started.elapsed();
    let Shown { text, failed, .. } = shown;

    // 5. Finish.
    let cost = |usage: &Usage| match &outbound {
        // Nothing left the machine: nothing to pay.
        None => Some(0.0),
        Some(guard) => guard.cost(usage),
    };
    let metrics = match &outcome {
        Ok(completion) => metrics(completion, latency, cost),
        Err(_) => MessageMetrics {
            latency_ms: Some(millis(latency)),
            ..MessageMetrics::default()
        },
    };
    let (status, error, error_kind) = match (&failed, &outcome) {
        (Some(err), _) => (
            MessageStatus::Error,
            Some(err.to_string()),
            Some(ErrorKind::Local),
        ),
        (None, Err(err)) => (
            MessageStatus::Error,
            Some(err.user_message().to_owned()),
            Some(err.kind),
        ),
        (None, Ok(c)) if c.finish == FinishReason::Cancelled => {
            (MessageStatus::Cancelled, None, None)
        }
        (None, Ok(_)) => (MessageStatus::Complete, None, None),
    };
    record.finish(&Finished {
        backend: &id,
        text: &text,
        status,
        metrics: &metrics,
        error,
        error_kind,
        retries: outcome.as_ref().map_or(0, |c| c.retries),
    })?;
    if let Some(err) = failed {
        return Err(err);
    }
    let mut completion = outcome.map_err(|err| CoreError::from_backend(&id, err))?;
    if let Some(redactor) = &redactor {
        // The calls' arguments, like the text, get the user's own values back.
        for call in &mut completion.tool_calls {
            call.arguments = redactor.restore_json(&call.arguments);
        }
    }
    Ok(Answer {
        text,
        completion,
        metrics,
        dropped_turns,
        prompt_tokens,
        documents: grounding.map(|g| (g.used, g.citations)),
    })
}

/// One request to `backend`, its pieces shown as they come.
async fn attempt(
    backend: &dyn ChatBackend,
    request: ChatRequest,
    shown: &mut Shown<'_, '_>,
) -> Result<Completion, BackendError> {
    let (sink, mut pieces) = TokenSink::channel();
    let stream = backend.stream(request, sink, shown.stop.clone());
    tokio::pin!(stream);
    loop {
        tokio::select! {
            Some(piece) = pieces.recv() => shown.push(&piece),
            outcome = &mut stream => {
                while let Ok(piece) = pieces.try_recv() {
                    shown.push(&piece);
                }
                break outcome;
            }
        }
    }
}

/// The answer as it is shown: placeholders put back, pieces to the record,
/// checkpoints.
struct Shown<'r, 'x> {
    record: &'r mut (dyn Record + 'x),
    restorer: Option<Restorer<'r>>,
    text: String,
    every: Duration,
    last_checkpoint: Instant,
    /// The checkpoint that failed (the backend was stopped).
    failed: Option<CoreError>,
    stop: CancellationToken,
}

impl Shown<'_, '_> {
    fn push(&mut self, piece: &str) {
        let piece = match &mut self.restorer {
            Some(restorer) => restorer.push(piece),
            None => piece.to_owned(),
        };
        self.show(&piece);
    }

    /// The end of the stream: whatever the restorer still holds.
    fn flush(&mut self) {
        if let Some(rest) = self.restorer.as_mut().map(Restorer::finish) {
            self.show(&rest);
        }
    }

    fn show(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.text.push_str(piece);
        self.record.text(piece);
        if self.failed.is_none() && self.last_checkpoint.elapsed() >= self.every {
            match self.record.checkpoint(&self.text) {
                Ok(()) => self.last_checkpoint = Instant::now(),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot checkpoint the answer; stopping it");
                    self.failed = Some(err);
                    self.stop.cancel();
                }
            }
        }
    }
}

/// Speed, size and cost of an answer. The local engine measures its own
/// speed; a cloud provider's is worked out from its usage and the clock.
fn metrics(
    completion: &Completion,
    latency: Duration,
    cost: impl Fn(&Usage) -> Option<f64>,
) -> MessageMetrics {
    let usage = completion.usage;
    let ttft = completion.time_to_first_token;
    let decode_tok_s = match (&completion.engine, usage, ttft) {
        (Some(engine), _, _) => Some(engine.decode_tok_s),
        (None, Some(u), Some(ttft)) if u.output_tokens > 1 && latency > ttft => {
            Some((u.output_tokens - 1) as f64 / (latency - ttft).as_secs_f64())
        }
        _ => None,
    };
    MessageMetrics {
        tokens_in: usage.map(|u| u.input_tokens),
        tokens_out: usage.map(|u| u.output_tokens),
        prompt_tokens_reused: completion.engine.as_ref().map(|e| e.prompt_tokens_reused),
        ttft_ms: ttft.map(millis),
        decode_tok_s,
        latency_ms: Some(millis(latency)),
        cost_usd: usage.as_ref().and_then(cost),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
