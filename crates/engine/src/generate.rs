//! One generation: prompt in, streamed text and a [`Completion`] out.
//!
//! Runs on the engine's worker thread. The cache-reuse rule lives here: the
//! model's cache holds the tokens of the previous request (prompt and answer);
//! the new prompt's longest common prefix with them is kept and only the rest is
//! processed, which turns a follow-up chat turn into the cost of its new message.
//!
//! Context shift (issue 17): the engine never writes past its window and
//! never shifts or discards cache entries on its own. A prompt that leaves no
//! room for one token is refused ([`EngineError::PromptTooLong`]); an answer
//! that fills the window stops with [`StopReason::ContextFull`] (`context_full`
//! to the caller, OpenAI's `length`), never with text computed from positions
//! the model was not given. A chat that outgrows the window is fitted by the
//! chat service (hearth-core's `turn/context.rs`): the oldest turns are left
//! out, the front ends say how many, and the prompt changes from the first
//! left-out turn on, so the cache keeps what is still a common prefix (the
//! system prompt and anything before it) and recomputes the rest. llama.cpp's
//! in-place shift (dropping half the cache and re-rotating the keys) is not
//! done: it keeps answering from a context no template produced.

use std::fmt;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use candle_core::Tensor;
use hearth_backend::{MAX_TOP_LOGPROBS, Message, TokenLogprob, ToolCall, ToolChoice, ToolSpec};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::detok::{StopStrings, Utf8Stream};
use crate::error::EngineError;
use crate::json_mode::{JsonMode, LazyJson};
use crate::logprobs;
use crate::models::{Model, SeqCache};
use crate::sampler::{Sampler, SamplingParams};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;
use crate::tools::{ToolPlan, ToolPrompt};
use crate::vocab::Vocab;

/// Prompt tokens processed per forward pass: bounds the attention scratch memory
/// for long prompts and lets a cancel land between chunks. (hearth-hub's fit
/// estimate counts one chunk's activations: keep the two in step.)
pub(crate) const PREFILL_CHUNK: usize = 512;

/// What to continue.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<Message>),
    /// Raw text, tokenized as is (BOS added if the model wants it).
    Text(String),
    /// A conversation whose assistant answer was cut short: rendered like
    /// [`Prompt::Chat`], then `partial` (the answer so far) is appended, so the
    /// model carries on where it stopped instead of starting over.
    Continue {
        messages: Vec<Message>,
        partial: String,
    },
    /// A conversation with tools the model may call (rendered as its
    /// template shows tools, see `tools/`), and whether it must.
    Tools {
        messages: Vec<Message>,
        tools: Vec<ToolSpec>,
        choice: ToolChoice,
    },
}

/// A generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    /// Stop after this many tokens (`None`: until EOS or the context is full).
    pub max_tokens: Option<usize>,
    /// Stop when the output contains one of these (not included in the output).
    pub stop: Vec<String>,
    /// The shape of the answer.
    pub format: OutputFormat,
    /// Report each generated token's log-probability with this many of the
    /// most likely alternatives (at most [`hearth_backend::MAX_TOP_LOGPROBS`]).
    pub logprobs: Option<usize>,
    /// Whether a reasoning model thinks first, for templates that read
    /// `enable_thinking` (Qwen3); `None`: the template's default.
    pub thinking: Option<bool>,
}

/// The shape an answer must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Free text.
    #[default]
    Text,
    /// One JSON object, enforced while sampling; generation ends when it closes.
    JsonObject,
}

impl GenerateRequest {
    /// A chat request with default sampling.
    pub fn chat(messages: Vec<Message>) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            sampling: SamplingParams::default(),
            max_tokens: None,
            stop: Vec::new(),
            format: OutputFormat::Text,
            logprobs: None,
            thinking: None,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (EOS / end-of-turn token).
    Eos,
    /// A stop string appeared.
    StopString,
    /// `max_tokens` reached.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// Cancelled by the caller.
    Cancelled,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eos => "eos",
            Self::StopString => "stop-string",
            Self::MaxTokens => "max-tokens",
            Self::ContextFull => "context-full",
            Self::Cancelled => "cancelled",
        })
    }
}

/// What the tokens are held to while they are drawn (beyond the request's
/// own [`OutputFormat`], which the plain [`Run::generate`] turns into one).
#[derive(Debug)]
pub(crate) enum Constraint {
    /// Nothing.
    Free,
    /// One JSON value (under a schema, when the mode has one), from the first
    /// token; generation ends when it closes.
    Json(JsonMode),
    /// Free text, each tool call's JSON held to the tools' schemas from its
    /// marker on (`json_mode/lazy.rs`).
    Lazy(LazyJson),
}

impl Constraint {
    pub(crate) fn of_format(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Text => Self::Free,
            OutputFormat::JsonObject => Self::Json(JsonMode::default()),
        }
    }

    fn mask(&mut self, logits: &mut [f32], vocab: &dyn Vocab, tokens_left: usize) {
        match self {
            Self::Free => {}
            Self::Json(json) => json.mask(logits, vocab, tokens_left),
            Self::Lazy(lazy) => lazy.mask(logits, vocab, tokens_left),
        }
    }

    /// Records the drawn token; `true`: the answer is complete.
    fn accept(&mut self, bytes: &[u8]) -> bool {
        match self {
            Self::Free => false,
            Self::Json(json) => {
                json.accept(bytes);
                json.complete()
            }
            Self::Lazy(lazy) => {
                lazy.accept(bytes);
                false
            }
        }
    }

    /// Whether a mask is applied to every token.
    fn masks(&self) -> bool {
        match self {
            Self::Free => false,
            Self::Json(_) => true,
            Self::Lazy(lazy) => lazy.is_active(),
        }
    }

    /// Tokens the masks tried against the constraint.
    fn tried(&self) -> usize {
        match self {
            Self::Free => 0,
            Self::Json(json) => json.tried(),
            Self::Lazy(lazy) => lazy.counts().1,
        }
    }
}

/// Measurements of one generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationStats {
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens whose cache entries were reused from the previous request.
    pub prompt_tokens_reused: usize,
    /// Prompt tokens processed now (`prompt_tokens - prompt_tokens_reused`).
    pub prompt_tokens_new: usize,
    /// Tokens generated (the end-of-turn token not counted).
    pub completion_tokens: usize,
    /// New prompt tokens per second.
    pub prefill_tok_s: f64,
    /// Generated tokens per second after the first.
    pub decode_tok_s: f64,
    /// From the request reaching the worker to the first generated token.
    pub time_to_first_token: Duration,
    pub total_time: Duration,
    /// How long loading the model took (once per engine, repeated here so every
    /// completion carries the full picture).
    pub load_time: Duration,
    /// `cpu`, `cuda:0`, `metal:0`.
    pub device: String,
    /// The sampling seed used (given or random), to reproduce the run.
    pub seed: u64,
    /// Tokens a draft model proposed (0 without one; see `generate/draft.rs`).
    pub draft_tokens: usize,
    /// Of those, the ones the model chose too, and so were emitted without
    /// a forward pass of their own.
    pub draft_accepted: usize,
    /// The most generations any of this one's decode steps ran with, itself
    /// included, on an engine that batches them (`EngineOptions::parallel`);
    /// 1 when every step ran alone.
    pub max_batch: usize,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// Everything streamed, concatenated.
    pub text: String,
    /// The generated token ids.
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
    pub stats: GenerationStats,
    /// Each generated token's log-probability, when the request asked.
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// The tools the model called ([`Prompt::Tools`]); their text is not in
    /// [`Self::text`].
    pub tool_calls: Vec<ToolCall>,
}

/// Token ids for a prompt: chat prompts are rendered with the template and their
/// special-token text parsed; BOS is added when the model wants it, unless the
/// template already wrote it (no double BOS).
pub(crate) fn prompt_tokens(
    prompt: &Prompt,
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
) -> Result<Vec<u32>, EngineError> {
    match prompt {
        Prompt::Chat(messages) => chat_tokens(messages, tokenizer, template),
        Prompt::Continue { messages, partial } => {
            let mut tokens = chat_tokens(messages, tokenizer, template)?;
            // The answer so far is model text: no BOS, no special-token parsing.
            tokens.extend(tokenizer.encode(partial, false, false)?);
            Ok(tokens)
        }
        Prompt::Text(text) => tokenizer.encode(text, true, false),
        Prompt::Tools {
            messages,
            tools,
            choice,
        } => {
            let prompt = ToolPlan::prompt(template, messages, tools, choice)?;
            tool_tokens(&prompt, tokenizer)
        }
    }
}

/// The tokens of a prompt with tools: the rendered text, then a forced call's
/// opening (its marker a special token, the rest model text).
pub(crate) fn tool_tokens(
    prompt: &ToolPrompt,
    tokenizer: &Tokenizer,
) -> Result<Vec<u32>, EngineError> {
    let mut tokens = rendered_tokens(&prompt.text, tokenizer)?;
    if !prompt.marker.is_empty() || !prompt.opening.is_empty() {
        tokens.extend(tokenizer.encode(prompt.marker, false, true)?);
        tokens.extend(tokenizer.encode(&prompt.opening, false, false)?);
    }
    Ok(tokens)
}

fn chat_tokens(
    messages: &[Message],
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
) -> Result<Vec<u32>, EngineError> {
    let text = template.render(messages, true)?;
    rendered_tokens(&text, tokenizer)
}

fn rendered_tokens(text: &str, tokenizer: &Tokenizer) -> Result<Vec<u32>, EngineError> {
    let bos_text = tokenizer.bos_id().and_then(|id| tokenizer.token_text(id));
    let has_bos = bos_text.is_some_and(|b| !b.is_empty() && text.starts_with(b));
    tokenizer.encode(text, !has_bos, true)
}

/// One sequence's KV cache and what it holds, kept in step with every
/// forward: one of the engine's KV slots (`engine/slots.rs`).
#[derive(Debug)]
pub(crate) struct Cached {
    /// The keys and values.
    pub(crate) kv: SeqCache,
    /// The tokens whose keys and values are in the cache, in order.
    pub(crate) tokens: Vec<u32>,
    /// The logits at the end of the last prompt, which was the first `.0` of
    /// `tokens`. The same prompt again (a regenerate, a retried request)
    /// starts from them: nothing to compute, and the same numbers, where
    /// recomputing the last token alone could round differently from the
    /// prompt's batch and change a seeded answer.
    pub(crate) prompt_logits: Option<(usize, Tensor)>,
}

impl Cached {
    pub(crate) fn new(kv: SeqCache) -> Self {
        Self {
            kv,
            tokens: Vec::new(),
            prompt_logits: None,
        }
    }

    /// Forgets every position (the memory stays allocated).
    pub(crate) fn clear(&mut self) {
        self.kv.truncate(0);
        self.tokens.clear();
        self.prompt_logits = None;
    }
}

/// The state one generation works on (borrowed from the worker).
pub(crate) struct Run<'a> {
    pub(crate) model: &'a dyn Model,
    pub(crate) cached: &'a mut Cached,
    pub(crate) tokenizer: &'a dyn Vocab,
    pub(crate) context_length: usize,
    /// A draft model proposing tokens for the target to check (see `draft.rs`).
    pub(crate) draft: Option<Drafter<'a>>,
}

impl Run<'_> {
    pub(crate) fn generate(
        &mut self,
        prompt: &[u32],
        request: &GenerateRequest,
        cancel: &CancellationToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion, EngineError> {
        let constraint = Constraint::of_format(request.format);
        self.generate_with(prompt, request, constraint, cancel, on_text)
    }

    /// [`Self::generate`] under `constraint` instead of the request's format.
    pub(crate) fn generate_with(
        &mut self,
        prompt: &[u32],
        request: &GenerateRequest,
        constraint: Constraint,
        cancel: &CancellationToken,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Completion, EngineError> {
        let started = Instant::now();
        let mut sampler = Sampler::new(request.sampling.clone())?;
        if prompt.is_empty() {
            return Err(EngineError::InvalidRequest("the prompt is empty".into()));
        }
        // Room for at least one generated token, checked before any compute.
        if prompt.len() >= self.context_length {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: prompt.len(),
                context_length: self.context_length,
            });
        }
        if request
            .logprobs
            .is_some_and(|n| n > usize::from(MAX_TOP_LOGPROBS))
        {
            return Err(EngineError::InvalidRequest(format!(
                "top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}"
            )));
        }
        if request.max_tokens == Some(0) {
            return Err(EngineError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }

        // Keep the common prefix. The answer starts from the logits of the
        // prompt's last token: kept from last time for the same prompt, else
        // at least that token is processed.
        let common = self
            .cached
            .tokens
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count();
        let kept = match self.cached.prompt_logits.take() {
            Some((len, logits)) if len == prompt.len() && common >= len => Some(logits),
            _ => None,
        };
        let reused = if kept.is_some() {
            prompt.len()
        } else {
            common.min(prompt.len() - 1)
        };
        self.cached.kv.truncate(reused);
        self.cached.tokens.truncate(reused);

        let result = self.run(
            prompt,
            reused,
            kept,
            request,
            constraint,
            &mut sampler,
            cancel,
            on_text,
            started,
        );
        if result.is_err() {
            // A failed forward may leave the cache half-written: start clean next time.
            self.cached.clear();
            if let Some(draft) = self.draft.as_mut() {
                draft.truncate(0);
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        prompt: &[u32],
        reused: usize,
        kept: Option<Tensor>,
        request: &GenerateRequest,
        constraint: Constraint,
        sampler: &mut Sampler,
        cancel: &CancellationToken,
        on_text: &mut dyn FnMut(&str),
        started: Instant,
    ) -> Result<Completion, EngineError> {
        let mut stats = GenerationStats {
            prompt_tokens: prompt.len(),
            prompt_tokens_reused: reused,
            prompt_tokens_new: prompt.len() - reused,
            completion_tokens: 0,
            prefill_tok_s: 0.0,
            decode_tok_s: 0.0,
            time_to_first_token: Duration::ZERO,
            total_time: Duration::ZERO,
            load_time: Duration::ZERO,
            device: String::new(),
            seed: sampler.seed(),
            draft_tokens: 0,
            draft_accepted: 0,
            max_batch: 1,
        };
        let mut pos = reused;
        let mut logits = kept;
        for chunk in prompt[reused..].chunks(PREFILL_CHUNK) {
            if cancel.is_cancelled() {
                stats.total_time = started.elapsed();
                return Ok(Completion {
                    text: String::new(),
                    tokens: Vec::new(),
                    stop_reason: StopReason::Cancelled,
                    stats,
                    logprobs: request.logprobs.map(|_| Vec::new()),
                    tool_calls: Vec::new(),
                });
            }
            logits = Some(self.model.forward(&mut self.cached.kv, chunk, pos)?);
            pos += chunk.len();
            self.cached.tokens.extend_from_slice(chunk);
        }
        self.cached.prompt_logits = logits.clone().map(|l| (prompt.len(), l));
        let prefill_time = started.elapsed();
        stats.prefill_tok_s = per_second(stats.prompt_tokens_new, prefill_time);

        let mut emit = Emit {
            request,
            tokenizer: self.tokenizer,
            sampler,
            constraint,
            cancel,
            on_text,
            context_length: self.context_length,
            history: prompt.to_vec(),
            tokens: Vec::new(),
            text: String::new(),
            utf8: Utf8Stream::default(),
            stops: StopStrings::new(&request.stop),
            first_token_at: None,
            masked_tokens: 0,
            logprobs: request.logprobs.map(|_| Vec::new()),
        };
        // Drafting needs the target's choice to be a plain draw from its
        // logits: a constraint's mask and per-token log-probabilities decode
        // one token at a time as before.
        let mut draft = match self.draft.as_mut() {
            Some(draft)
                if matches!(emit.constraint, Constraint::Free) && request.logprobs.is_none() =>
            {
                Some(draft)
            }
            _ => None,
        };
        // A token drawn and handled but not yet in the cache: the target's
        // own choice where it rejected a drafted token.
        let mut pending = None;
        let stop_reason = loop {
            let token = match pending.take() {
                Some(token) => token,
                None => {
                    let Some(current) = logits.take() else {
                        return Err(EngineError::InvalidRequest(
                            "no logits to sample from".into(),
                        ));
                    };
                    match emit.draw(&current, pos)? {
                        ControlFlow::Continue(token) => token,
                        ControlFlow::Break(reason) => break reason,
                    }
                }
            };
            let room = self.context_length - pos - 1;
            let budget = request
                .max_tokens
                .map_or(usize::MAX, |max| max.saturating_sub(emit.tokens.len()));
            let proposal = match draft.as_mut() {
                Some(draft) => {
                    draft.propose(&self.cached.tokens, token, room.min(budget), self.tokenizer)?
                }
                None => Vec::new(),
            };
            if proposal.is_empty() {
                logits = Some(self.model.forward(&mut self.cached.kv, &[token], pos)?);
                pos += 1;
                self.cached.tokens.push(token);
                continue;
            }
            // One forward over the token and the draft: row `i` is the
            // target's logits after the `i`-th of them.
            let mut batch = Vec::with_capacity(proposal.len() + 1);
            batch.push(token);
            batch.extend_from_slice(&proposal);
            let rows = self
                .model
                .forward_tail(&mut self.cached.kv, &batch, pos, batch.len())?;
            pos += 1;
            self.cached.tokens.push(token);
            stats.draft_tokens += proposal.len();
            let mut ended = None;
            for (i, &drafted) in proposal.iter().enumerate() {
                // The target's choice here, drawn exactly as plain decoding
                // would draw it; the drafted token only saves the forward.
                match emit.draw(&rows.get(i)?, pos)? {
                    ControlFlow::Continue(choice) if choice == drafted => {
                        stats.draft_accepted += 1;
                        pos += 1;
                        self.cached.tokens.push(choice);
                    }
                    ControlFlow::Continue(choice) => {
                        pending = Some(choice);
                        break;
                    }
                    ControlFlow::Break(reason) => {
                        ended = Some(reason);
                        break;
                    }
                }
            }
            if pending.is_none() && ended.is_none() {
                // All accepted: the last row predicts the next token.
                logits = Some(rows.get(proposal.len())?);
            }
            // Drop what was computed past the accepted tokens, in both caches.
            self.cached.kv.truncate(pos);
            if let Some(draft) = draft.as_mut() {
                draft.truncate(pos);
            }
            if let Some(reason) = ended {
                break reason;
            }
        };
        let Emit {
            mut text,
            tokens,
            utf8,
            stops,
            first_token_at,
            masked_tokens,
            logprobs: token_logprobs,
            constraint,
            on_text,
            ..
        } = emit;
        finish_text(stop_reason, utf8, stops, &mut text, on_text);

        let done = Instant::now();
        stats.completion_tokens = tokens.len();
        if let Some(first) = first_token_at {
            stats.time_to_first_token = first - started;
            stats.decode_tok_s = per_second(tokens.len().saturating_sub(1), done - first);
        }
        stats.total_time = done - started;
        if masked_tokens > 0 {
            // The cost of a constraint is the candidates it tried per token.
            tracing::debug!(
                masked_tokens,
                candidates_tried = constraint.tried(),
                "constrained generation"
            );
        }
        Ok(Completion {
            text,
            tokens,
            stop_reason,
            stats,
            logprobs: token_logprobs,
            tool_calls: Vec::new(),
        })
    }
}

/// Flushes what the UTF-8 stream and the stop-string check still hold once
/// generation has ended (nothing after a stop string).
fn finish_text(
    stop_reason: StopReason,
    mut utf8: Utf8Stream,
    mut stops: StopStrings,
    text: &mut String,
    on_text: &mut dyn FnMut(&str),
) {
    if stop_reason == StopReason::StopString {
        return;
    }
    let mut emit = |piece: &str| {
        if !piece.is_empty() {
            on_text(piece);
            text.push_str(piece);
        }
    };
    let tail = utf8.finish();
    let checked = stops.push(&tail);
    emit(&checked.emit);
    if !checked.stopped {
        emit(&stops.finish());
    }
}

/// The handling every generated token goes through, one token at a time,
/// whether it was decoded alone or checked against a draft: the sampler, the
/// constraint, log-probabilities, EOS, stop strings, `max_tokens`, the
/// context's end and cancellation.
struct Emit<'r> {
    request: &'r GenerateRequest,
    tokenizer: &'r dyn Vocab,
    sampler: &'r mut Sampler,
    constraint: Constraint,
    cancel: &'r CancellationToken,
    on_text: &'r mut dyn FnMut(&str),
    context_length: usize,
    /// The prompt and the tokens generated so far (the sampler's penalties).
    history: Vec<u32>,
    tokens: Vec<u32>,
    text: String,
    utf8: Utf8Stream,
    stops: StopStrings,
    first_token_at: Option<Instant>,
    masked_tokens: usize,
    logprobs: Option<Vec<TokenLogprob>>,
}

impl Emit<'_> {
    /// Draws the token for position `pos` from the target's `logits` there
    /// and handles it: `Continue(token)` when it was emitted and goes into
    /// the cache at `pos`, `Break(reason)` when generation ends (the token,
    /// if any, is not cached).
    fn draw(
        &mut self,
        logits: &Tensor,
        pos: usize,
    ) -> Result<ControlFlow<StopReason, u32>, EngineError> {
        if self.cancel.is_cancelled() {
            return Ok(ControlFlow::Break(StopReason::Cancelled));
        }
        let mut scores: Vec<f32> = logits.to_dtype(candle_core::DType::F32)?.to_vec1()?;
        // Log-probabilities of the model's own distribution, before the
        // JSON mask and the sampler's filters change the scores.
        let position = self
            .request
            .logprobs
            .map(|top| logprobs::Position::new(&scores, top));
        if self.constraint.masks() {
            let context_left = self.context_length.saturating_sub(pos);
            let budget_left = self
                .request
                .max_tokens
                .map_or(usize::MAX, |max| max.saturating_sub(self.tokens.len()));
            self.constraint
                .mask(&mut scores, self.tokenizer, context_left.min(budget_left));
            self.masked_tokens += 1;
        }
        let token = self.sampler.sample(&mut scores, &self.history);
        self.first_token_at.get_or_insert_with(Instant::now);
        if self.tokenizer.is_stop(token) {
            return Ok(ControlFlow::Break(StopReason::Eos));
        }
        if let (Some(all), Some(position)) = (&mut self.logprobs, position) {
            all.push(position.of(token, self.tokenizer));
        }
        self.tokens.push(token);
        self.history.push(token);
        let piece = self.utf8.push(self.tokenizer.bytes(token));
        let checked = self.stops.push(&piece);
        if !checked.emit.is_empty() {
            (self.on_text)(&checked.emit);
            self.text.push_str(&checked.emit);
        }
        if checked.stopped {
            return Ok(ControlFlow::Break(StopReason::StopString));
        }
        if self.constraint.accept(self.tokenizer.bytes(token)) {
            return Ok(ControlFlow::Break(StopReason::Eos));
        }
        if self
            .request
            .max_tokens
            .is_some_and(|max| self.tokens.len() >= max)
        {
            return Ok(ControlFlow::Break(StopReason::MaxTokens));
        }
        if pos >= self.context_length {
            return Ok(ControlFlow::Break(StopReason::ContextFull));
        }
        Ok(ControlFlow::Continue(token))
    }
}

fn per_second(count: usize, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

pub(crate) mod draft;

pub(crate) use draft::{Draft, Drafter, check_vocabularies};

#[cfg(test)]
mod tests;
