//! The chat service: a turn from the user's message to a finished answer.
//!
//! The user's message is in the database before generation starts. The answer
//! is a message of its own from the first moment (status `streaming`), its text
//! written to the database at least every [`CHECKPOINT_EVERY`] while tokens
//! arrive, and finished with its metrics. Cancel keeps the text so far (status
//! `cancelled`); a crash keeps the last checkpoint, which the next start marks
//! `partial`; [`App::continue_answer`] carries on from there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hearth_backend::{ErrorKind, Message as Turn, Role};
use hearth_engine::{
    Completion, EngineError, GenerateRequest, GenerationEvent, OutputFormat, Prompt,
    SamplingParams, StopReason,
};
use hearth_store::{
    Conversation, ConversationId, ConversationPatch, Message, MessageFinish, MessageId,
    MessageMetrics, MessageStatus, NewMessage, Sampling, UsageRecord,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cloud_turn::CloudTurn;
use crate::context::{self, Fitted};
use crate::router::{Consent, LocalHealth};
use crate::turn_route::Plan;
use crate::{App, CoreError, title};

/// How often a growing answer is written to the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The backend id recorded on answers from the local engine.
pub const LOCAL_BACKEND: &str = "local";

/// What a turn reports while it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// Generation is about to start.
    Started {
        /// The user's message (`None` when regenerating or continuing).
        user_message: Option<MessageId>,
        /// The answer being written.
        assistant_message: MessageId,
        /// Older turns left out to fit the context window; front ends say so.
        dropped_turns: usize,
        /// Tokens of the prompt sent to the model.
        prompt_tokens: usize,
    },
    /// The next piece of the answer.
    Token { text: String },
    /// The answer as stored, with its status and metrics.
    Finished { message: Box<Message> },
}

/// Per-turn settings on top of the conversation's own.
#[derive(Debug, Clone, Default)]
pub struct TurnOptions {
    /// Longest answer in tokens (default: the conversation's, else until the
    /// model stops or the context is full).
    pub max_tokens: Option<usize>,
    /// Stop when the answer contains one of these.
    pub stop: Vec<String>,
    /// The user's answer to a consent request for this turn (policy "ask
    /// before cloud").
    pub consent: Consent,
}

/// The outcome of a turn.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub user_message: Option<Message>,
    pub answer: Message,
    pub dropped_turns: usize,
}

/// Where the answer goes.
pub(crate) enum Target {
    /// A new assistant message under this (user) message.
    New { parent: MessageId },
    /// More text for an existing, unfinished answer.
    Continue { message: Box<Message> },
}

impl App {
    /// Sends `text` as the user's next message in `conversation` and streams
    /// the answer through `on_event`.
    pub async fn send(
        &self,
        conversation: &ConversationId,
        text: &str,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        if text.trim().is_empty() {
            return Err(CoreError::Invalid("the message is empty".into()));
        }
        let conv = self.store().conversation(conversation)?;
        let plan = self.plan_turn(&conv, options.consent)?;
        let (conv, user, history) = {
            let store = self.store();
            let path = store.active_path(conversation)?;
            let user = store.append_message(&NewMessage {
                conversation_id: conversation.clone(),
                parent_id: path.last().map(|m| m.id.clone()),
                role: Role::User,
                content: text.to_owned(),
                status: MessageStatus::Complete,
                backend: None,
                model: None,
            })?;
            if !path.iter().any(|m| m.role == Role::User) && is_default_title(&conv.title) {
                store.update_conversation(
                    conversation,
                    &ConversationPatch {
                        title: Some(title::title_from_message(text)),
                        ..ConversationPatch::default()
                    },
                )?;
            }
            let mut history = path;
            history.push(user.clone());
            (conv, user, history)
        };
        let target = Target::New {
            parent: user.id.clone(),
        };
        let mut result = self
            .answer(
                &conv,
                history,
                target,
                options,
                cancel,
                on_event,
                Some(user.id.clone()),
                plan,
            )
            .await?;
        result.user_message = Some(user);
        Ok(result)
    }

    /// Writes a new answer to the same user message as `assistant`, as a
    /// sibling branch that becomes the active one.
    pub async fn regenerate(
        &self,
        assistant: &MessageId,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let (conv, parent) = {
            let store = self.store();
            let message = store.message(assistant)?;
            let parent = match (&message.role, &message.parent_id) {
                (Role::Assistant, Some(parent)) => parent.clone(),
                _ => {
                    return Err(CoreError::Invalid(
                        "only an answer can be regenerated".into(),
                    ));
                }
            };
            (store.conversation(&message.conversation_id)?, parent)
        };
        let plan = self.plan_turn(&conv, options.consent)?;
        let history = path_through(self.store().switch_branch(&parent)?, &parent);
        self.answer(
            &conv,
            history,
            Target::New { parent },
            options,
            cancel,
            on_event,
            None,
            plan,
        )
        .await
    }

    /// Replaces the user message `user` with `text` as a sibling branch (the
    /// original stays, reachable with the branch switcher) and answers it.
    pub async fn edit_and_resend(
        &self,
        user: &MessageId,
        text: &str,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        if text.trim().is_empty() {
            return Err(CoreError::Invalid("the message is empty".into()));
        }
        let original = self.store().message(user)?;
        if original.role != Role::User {
            return Err(CoreError::Invalid(
                "only a user message can be edited".into(),
            ));
        }
        let conv = self.store().conversation(&original.conversation_id)?;
        let plan = self.plan_turn(&conv, options.consent)?;
        let (conv, history, edited) = {
            let store = self.store();
            let edited = store.edit_message(user, text)?;
            let conv = store.conversation(&original.conversation_id)?;
            let path = store.active_path(&original.conversation_id)?;
            (conv, path_through(path, &edited.id), edited)
        };
        let target = Target::New {
            parent: edited.id.clone(),
        };
        let mut result = self
            .answer(
                &conv,
                history,
                target,
                options,
                cancel,
                on_event,
                Some(edited.id.clone()),
                plan,
            )
            .await?;
        result.user_message = Some(edited);
        Ok(result)
    }

    /// Carries on writing an answer that was cut short (partial after a crash,
    /// cancelled, or stopped at the token limit), in the same message.
    pub async fn continue_answer(
        &self,
        assistant: &MessageId,
        options: &TurnOptions,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let message = self.store().message(assistant)?;
        if message.role != Role::Assistant || message.status == MessageStatus::Streaming {
            return Err(CoreError::Invalid(
                "only a finished or interrupted answer can be continued".into(),
            ));
        }
        let conv = self.store().conversation(&message.conversation_id)?;
        let plan = self.plan_turn(&conv, options.consent)?;
        let (conv, history, message) = {
            let store = self.store();
            let mut path = store.switch_branch(assistant)?;
            let at = path
                .iter()
                .position(|m| &m.id == assistant)
                .unwrap_or(path.len());
            path.truncate(at);
            (conv, path, message)
        };
        let target = Target::Continue {
            message: Box::new(message),
        };
        self.answer(
            &conv, history, target, options, cancel, on_event, None, plan,
        )
        .await
    }

    /// Asks the conversation's model for a short title and stores it.
    pub async fn suggest_title(&self, conversation: &ConversationId) -> Result<String, CoreError> {
        let (conv, first) = {
            let store = self.store();
            let conv = store.conversation(conversation)?;
            let path = store.active_path(conversation)?;
            let first = path.into_iter().find(|m| m.role == Role::User);
            (conv, first)
        };
        let Some(first) = first else {
            return Err(CoreError::Invalid(
                "the conversation has no message yet".into(),
            ));
        };
        let engine = self.local.get(&self.model_path(&conv)?).await?;
        let excerpt: String = first.content.chars().take(1000).collect();
        let request = GenerateRequest {
            prompt: Prompt::Chat(vec![
                Turn::system("You write short titles. Answer with the title only."),
                Turn::user(format!(
                    "Write a title of at most six words for a chat that starts with:\n\n{excerpt}"
                )),
            ]),
            sampling: SamplingParams {
                temperature: 0.0,
                ..SamplingParams::default()
            },
            max_tokens: Some(20),
            stop: vec!["\n\n".into()],
            format: OutputFormat::Text,
        };
        let completion = tokio::task::spawn_blocking(move || {
            engine.generate_blocking(request, CancellationToken::new(), |_| {})
        })
        .await
        .map_err(|_| CoreError::WorkerGone)??;
        let title = title::clean_generated_title(&completion.text)
            .unwrap_or_else(|| title::title_from_message(&first.content));
        self.store().update_conversation(
            conversation,
            &ConversationPatch {
                title: Some(title.clone()),
                ..ConversationPatch::default()
            },
        )?;
        Ok(title)
    }

    #[allow(clippy::too_many_arguments)]
    async fn answer(
        &self,
        conv: &Conversation,
        history: Vec<Message>,
        target: Target,
        options: &TurnOptions,
        cancel: CancellationToken,
        mut on_event: impl FnMut(ChatEvent) + Send,
        user_message: Option<MessageId>,
        plan: Plan,
    ) -> Result<TurnResult, CoreError> {
        if !plan.backend.is_local() {
            let turn = CloudTurn {
                conv,
                history,
                target,
                options,
                user_message,
                plan,
            };
            return self.answer_cloud(turn, cancel, on_event).await;
        }
        let model_path = self.model_path(conv)?;
        let engine = match self.local.get(&model_path).await {
            Ok(engine) => engine,
            Err(err) => {
                // Loading failed: the policy may allow another backend.
                let health = match &err {
                    CoreError::Engine(e) if e.is_out_of_memory() => LocalHealth::OutOfMemory,
                    _ => LocalHealth::Failed {
                        kind: "it could not be loaded".into(),
                    },
                };
                match self.plan_with(conv, options.consent, &health) {
                    Ok(plan) if !plan.backend.is_local() => {
                        tracing::info!(backend = %plan.backend, "local model failed to load; falling back");
                        let turn = CloudTurn {
                            conv,
                            history,
                            target,
                            options,
                            user_message,
                            plan,
                        };
                        return self.answer_cloud(turn, cancel, on_event).await;
                    }
                    _ => return Err(err),
                }
            }
        };
        let fallback_reason = plan.fallback.as_ref().map(ToString::to_string);
        let model_name = engine
            .info()
            .name
            .clone()
            .or_else(|| conv.model.clone())
            .unwrap_or_else(|| "local model".into());

        let mut turns: Vec<Turn> = conv
            .system_prompt
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(Turn::system)
            .collect();
        turns.extend(
            history
                .iter()
                .filter(|m| !(m.role == Role::Assistant && m.content.is_empty()))
                .map(|m| Turn::new(m.role, m.content.clone())),
        );
        let partial = match &target {
            Target::Continue { message } => Some(message.content.clone()),
            Target::New { .. } => None,
        };
        let max_tokens = options.max_tokens.or(conv.sampling.max_tokens);
        let context_length = engine.info().context_length;
        let reserve = context::reserve_for_answer(context_length, max_tokens);
        // The chat template renders (several times while fitting) off the
        // async threads: a slow or hostile template cannot stall the app.
        let (fitter, continued) = (engine.clone(), partial.clone());
        let Fitted {
            messages,
            dropped_turns,
            prompt_tokens,
        } = tokio::task::spawn_blocking(move || {
            context::fit(&turns, context_length, reserve, |kept| {
                let prompt = match &continued {
                    Some(partial) => Prompt::Continue {
                        messages: kept.to_vec(),
                        partial: partial.clone(),
                    },
                    None => Prompt::Chat(kept.to_vec()),
                };
                fitter.prompt_tokens(&prompt).map(|t| t.len())
            })
        })
        .await
        .map_err(|_| CoreError::WorkerGone)???;
        if dropped_turns > 0 {
            tracing::info!(
                dropped_turns,
                prompt_tokens,
                "older turns left out to fit the context"
            );
        }

        let (message, prefix) = self.open_answer(
            conv,
            target,
            LOCAL_BACKEND,
            &model_name,
            fallback_reason.clone(),
        )?;
        on_event(ChatEvent::Started {
            user_message,
            assistant_message: message.id.clone(),
            dropped_turns,
            prompt_tokens,
        });

        let request = GenerateRequest {
            prompt: match partial {
                Some(partial) => Prompt::Continue { messages, partial },
                None => Prompt::Chat(messages),
            },
            sampling: sampling_params(&conv.sampling),
            max_tokens,
            stop: options.stop.clone(),
            format: OutputFormat::Text,
        };
        let started = Instant::now();
        let mut text = prefix;
        let outcome = self
            .stream(
                &engine,
                request,
                cancel,
                &message.id,
                &mut text,
                &mut on_event,
            )
            .await;

        let (status, metrics, error) = match &outcome {
            Ok(completion) => (
                if completion.stop_reason == StopReason::Cancelled {
                    MessageStatus::Cancelled
                } else {
                    MessageStatus::Complete
                },
                metrics(completion, started.elapsed()),
                None,
            ),
            Err(err) => (
                MessageStatus::Error,
                MessageMetrics::default(),
                Some(err.to_string()),
            ),
        };
        let finished = {
            let store = self.store();
            let finished = store.finish_message(
                &message.id,
                &MessageFinish {
                    content: text,
                    status,
                    metrics: metrics.clone(),
                    error,
                    fallback_reason: fallback_reason.clone(),
                    backend: Some(LOCAL_BACKEND.into()),
                    model: Some(model_name.clone()),
                },
            )?;
            store.record_usage(&UsageRecord {
                at: now_millis(),
                conversation_id: Some(conv.id.clone()),
                message_id: Some(message.id.clone()),
                backend: LOCAL_BACKEND.into(),
                model: model_name,
                tokens_in: metrics.tokens_in.unwrap_or(0),
                tokens_out: metrics.tokens_out.unwrap_or(0),
                ttft_ms: metrics.ttft_ms,
                latency_ms: metrics.latency_ms,
                cost_usd: metrics.cost_usd,
                fallback_reason,
                error_kind: outcome
                    .as_ref()
                    .err()
                    .map(|_| ErrorKind::Local.as_str().to_owned()),
                retries: 0,
            })?;
            finished
        };
        self.after_turn(&conv.id, &plan)?;
        if let Ok(completion) = &outcome {
            let speed =
                (completion.stats.completion_tokens >= 4).then_some(completion.stats.decode_tok_s);
            self.models()
                .record_run(&model_path, engine.load_time().as_secs_f64(), speed);
        }
        on_event(ChatEvent::Finished {
            message: Box::new(finished.clone()),
        });
        outcome?;
        Ok(TurnResult {
            user_message: None,
            answer: finished,
            dropped_turns,
        })
    }

    /// The answer's message, streaming: a new one under the user's message,
    /// or the interrupted one reopened. Returns it with the text it already has.
    pub(crate) fn open_answer(
        &self,
        conv: &Conversation,
        target: Target,
        backend: &str,
        model: &str,
        fallback_reason: Option<String>,
    ) -> Result<(Message, String), CoreError> {
        let store = self.store();
        match target {
            Target::New { parent } => Ok((
                store.append_message(&NewMessage {
                    conversation_id: conv.id.clone(),
                    parent_id: Some(parent),
                    role: Role::Assistant,
                    content: String::new(),
                    status: MessageStatus::Streaming,
                    backend: Some(backend.to_owned()),
                    model: Some(model.to_owned()),
                })?,
                String::new(),
            )),
            Target::Continue { message } => {
                let reopened = store.finish_message(
                    &message.id,
                    &MessageFinish {
                        content: message.content.clone(),
                        status: MessageStatus::Streaming,
                        metrics: message.metrics.clone(),
                        error: None,
                        fallback_reason,
                        backend: Some(backend.to_owned()),
                        model: Some(model.to_owned()),
                    },
                )?;
                let prefix = reopened.content.clone();
                Ok((reopened, prefix))
            }
        }
    }

    /// Runs the engine, forwarding text to `on_event` and checkpointing it.
    async fn stream(
        &self,
        engine: &std::sync::Arc<hearth_engine::Engine>,
        request: GenerateRequest,
        cancel: CancellationToken,
        message: &MessageId,
        text: &mut String,
        on_event: &mut (impl FnMut(ChatEvent) + Send),
    ) -> Result<Completion, CoreError> {
        // The engine streams over a std channel from its worker thread; a
        // blocking task relays the events to this async task.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let events = engine.generate(request, cancel);
        tokio::task::spawn_blocking(move || {
            for event in events {
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let mut last_checkpoint = Instant::now();
        while let Some(event) = rx.recv().await {
            match event {
                GenerationEvent::Token(piece) => {
                    text.push_str(&piece);
                    on_event(ChatEvent::Token { text: piece });
                    if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                        self.store().checkpoint_message(message, text)?;
                        last_checkpoint = Instant::now();
                    }
                }
                GenerationEvent::Done(result) => return Ok(result?),
            }
        }
        Err(CoreError::Engine(EngineError::WorkerGone))
    }

    /// The file of the conversation's model.
    pub(crate) fn model_path(&self, conv: &Conversation) -> Result<PathBuf, CoreError> {
        let reference = conv.model.as_deref().ok_or(CoreError::NoModel)?;
        self.resolve_model(reference)
    }
}

/// The path from the root to `through`, inclusive.
fn path_through(mut path: Vec<Message>, through: &MessageId) -> Vec<Message> {
    if let Some(at) = path.iter().position(|m| &m.id == through) {
        path.truncate(at + 1);
    }
    path
}

fn is_default_title(title: &str) -> bool {
    title.trim().is_empty() || title == "New chat"
}

fn sampling_params(sampling: &Sampling) -> SamplingParams {
    let defaults = SamplingParams::default();
    SamplingParams {
        temperature: sampling.temperature.unwrap_or(defaults.temperature),
        top_k: sampling.top_k.map_or(defaults.top_k, |k| k as usize),
        top_p: sampling.top_p.unwrap_or(defaults.top_p),
        min_p: sampling.min_p.unwrap_or(defaults.min_p),
        repeat_penalty: sampling.repeat_penalty.unwrap_or(defaults.repeat_penalty),
        repeat_last_n: defaults.repeat_last_n,
        seed: sampling.seed,
    }
}

fn metrics(completion: &Completion, latency: Duration) -> MessageMetrics {
    let stats = &completion.stats;
    MessageMetrics {
        tokens_in: Some(stats.prompt_tokens as u64),
        tokens_out: Some(stats.completion_tokens as u64),
        prompt_tokens_reused: Some(stats.prompt_tokens_reused as u64),
        ttft_ms: Some(stats.time_to_first_token.as_secs_f64() * 1000.0),
        decode_tok_s: Some(stats.decode_tok_s),
        latency_ms: Some(latency.as_secs_f64() * 1000.0),
        cost_usd: Some(0.0),
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
