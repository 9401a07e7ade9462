//! The chat service: a turn from the user's message to a finished answer.
//!
//! The user's message is in the database before generation starts. The answer
//! is a message of its own from the first moment (status `streaming`), its text
//! written to the database at least every [`crate::CHECKPOINT_EVERY`] while
//! tokens arrive, and finished with its metrics (all through the one turn
//! path, `turn/`; this file is the chat's side of it: the user's message,
//! branches, and the answer as a stored message). Cancel keeps the text so far (status
//! `cancelled`); a crash keeps the last checkpoint, which the next start marks
//! `partial`; [`App::continue_answer`] carries on from there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hearth_backend::{self as backend, ChatBackend, ChatRequest, PromptMode, Role};
use hearth_store::{
    Citation, Conversation, ConversationId, ConversationPatch, Message, MessageFinish, MessageId,
    MessageStatus, NewMessage, UsageRecord,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::local::LocalBackend;
use crate::router::Consent;
use crate::turn::documents::DocumentsUsed;
use crate::turn::{self, Finished, Opening, Record, Turn};
use crate::turn_route::Plan;
use crate::{App, CoreError, title};

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
    /// The provider refused the prompt as longer than the model's window;
    /// it is sent again without the `dropped_turns` oldest turns (in all).
    /// Front ends say so, as for [`ChatEvent::Started`]'s `dropped_turns`.
    Trimmed {
        dropped_turns: usize,
        /// Tokens of the prompt sent again (estimated).
        prompt_tokens: usize,
    },
    /// Documents attached to the conversation went into the turn (sent just
    /// before [`ChatEvent::Started`]); front ends say which way.
    Documents { used: DocumentsUsed },
    /// The next piece of the answer.
    Token { text: String },
    /// The answer as stored, with its status and metrics.
    Finished { message: Box<Message> },
    /// A tool call's result, stored under the answer that made the call
    /// ([`App::send_with_tools`]); the next answer follows.
    ToolResult { message: Box<Message> },
    /// The answer took this many rounds of tool calls, the most allowed: the
    /// model is asked to answer without tools.
    ToolLimit { rounds: usize },
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
    /// Tools the model may call ([`App::send_with_tools`] fills these in).
    pub tools: Vec<backend::ToolSpec>,
    pub tool_choice: backend::ToolChoice,
}

/// The outcome of a turn.
#[derive(Debug, Clone)]
pub struct TurnResult {
    pub user_message: Option<Message>,
    pub answer: Message,
    pub dropped_turns: usize,
    /// The documents the turn was given (a conversation with a collection).
    pub documents: Option<DocumentsUsed>,
    /// Their sources, numbered as the model was asked to cite them.
    pub citations: Vec<Citation>,
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
        let plan = self.plan_chat_turn(&conv, options.consent, Some(text))?;
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
        let pending = Pending {
            conv: &conv,
            history,
            target: Target::New {
                parent: user.id.clone(),
            },
            options,
            user_message: Some(user.id.clone()),
        };
        let mut result = self.answer(pending, plan, cancel, on_event).await?;
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
        let question = self.store().message(&parent)?.content;
        let plan = self.plan_chat_turn(&conv, options.consent, Some(&question))?;
        let history = path_through(self.store().switch_branch(&parent)?, &parent);
        let pending = Pending {
            conv: &conv,
            history,
            target: Target::New { parent },
            options,
            user_message: None,
        };
        self.answer(pending, plan, cancel, on_event).await
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
        let plan = self.plan_chat_turn(&conv, options.consent, Some(text))?;
        let (conv, history, edited) = {
            let store = self.store();
            let edited = store.edit_message(user, text)?;
            let conv = store.conversation(&original.conversation_id)?;
            let path = store.active_path(&original.conversation_id)?;
            (conv, path_through(path, &edited.id), edited)
        };
        let pending = Pending {
            conv: &conv,
            history,
            target: Target::New {
                parent: edited.id.clone(),
            },
            options,
            user_message: Some(edited.id.clone()),
        };
        let mut result = self.answer(pending, plan, cancel, on_event).await?;
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
        let plan = self.plan_chat_turn(&conv, options.consent, None)?;
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
        let pending = Pending {
            conv: &conv,
            history,
            target: Target::Continue {
                message: Box::new(message),
            },
            options,
            user_message: None,
        };
        self.answer(pending, plan, cancel, on_event).await
    }

    /// [`App::plan_turn`] for a chat turn: a consent request says how much
    /// document text would go with `question` (the conversation's attached
    /// collection; the whole collection's estimate when no question is known).
    pub(crate) fn plan_chat_turn(
        &self,
        conv: &Conversation,
        consent: crate::router::Consent,
        question: Option<&str>,
    ) -> Result<Plan, CoreError> {
        self.plan_turn(conv, consent).map_err(|err| {
            let mut messages: Vec<backend::Message> = conv
                .system_prompt
                .iter()
                .map(backend::Message::system)
                .collect();
            messages.push(backend::Message::user(question.unwrap_or_default()));
            let request = ChatRequest {
                messages,
                ..ChatRequest::default()
            };
            self.consent_with_documents(err, &conv.id, &request)
        })
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
        let engine = self.local_engine(&self.model_path(&conv)?).await?;
        let name = engine.info().name.clone().unwrap_or_default();
        let local = LocalBackend::new(engine, name);
        let excerpt: String = first.content.chars().take(1000).collect();
        let request = ChatRequest {
            messages: vec![
                backend::Message::system("You write short titles. Answer with the title only."),
                backend::Message::user(format!(
                    "Write a title of at most six words for a chat that starts with:\n\n{excerpt}"
                )),
            ],
            temperature: Some(0.0),
            max_tokens: Some(20),
            stop: vec!["\n\n".into()],
            ..ChatRequest::default()
        };
        let completion = turn::answer(&local, request, CancellationToken::new(), |_| {}).await?;
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

    /// Answers `pending` with the backend the plan names (loading the local
    /// model; falling back when it cannot load and the policy allows it).
    pub(crate) async fn answer(
        &self,
        pending: Pending<'_>,
        plan: Plan,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let (chosen, plan) = self
            .choose_backend(pending.conv, plan, pending.options.consent)
            .await?;
        self.answer_with(
            chosen.backend(),
            chosen.local_run(),
            pending,
            &plan,
            cancel,
            on_event,
        )
        .await
    }

    /// Answers `pending` with `backend` through the one turn path, keeping the
    /// answer in the conversation. `local` is the model file and its load
    /// time when the backend is the local engine (its measured speed goes to
    /// the library).
    pub(crate) async fn answer_with(
        &self,
        backend: &dyn ChatBackend,
        local: Option<(&Path, Duration)>,
        pending: Pending<'_>,
        plan: &Plan,
        cancel: CancellationToken,
        on_event: impl FnMut(ChatEvent) + Send,
    ) -> Result<TurnResult, CoreError> {
        let Pending {
            conv,
            history,
            target,
            options,
            user_message,
        } = pending;
        let request = ChatRequest {
            json: self.json_output(&conv.id)?,
            ..chat_request(conv, &history, &target, options)
        };
        let mut record = Conversational {
            app: self,
            conv,
            plan,
            fallback_reason: plan.fallback.as_ref().map(ToString::to_string),
            target: Some(target),
            user_message,
            local,
            on_event,
            message: None,
            finished: None,
        };
        let turn = Turn {
            outbound: self.outbound(&backend.id())?,
            documents: Some((self, &conv.id)),
            ..Turn::new(backend, request)
        };
        let answer = turn::run(turn, &mut record, cancel).await?;
        let mut answer_message = record.finished.take().ok_or(CoreError::WorkerGone)?;
        if !answer.completion.tool_calls.is_empty() {
            answer_message = self
                .store()
                .set_tool_calls(&answer_message.id, &answer.completion.tool_calls)?;
        }
        let (documents, citations) = match answer.documents {
            Some((used, citations)) => (Some(used), citations),
            None => (None, Vec::new()),
        };
        Ok(TurnResult {
            user_message: None,
            answer: answer_message,
            dropped_turns: answer.dropped_turns,
            documents,
            citations,
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

    /// Whether the conversation's model lets its thinking be switched on and
    /// off: a local model whose chat template reads `enable_thinking`
    /// (Qwen3). Cloud models, and a model that cannot be found or read, do
    /// not (the switch is then not offered).
    pub fn supports_thinking(&self, conv: &Conversation) -> bool {
        if conv
            .backend
            .as_deref()
            .is_some_and(|b| b != crate::LOCAL_BACKEND)
        {
            return false;
        }
        let Ok(path) = self.model_path(conv) else {
            return false;
        };
        match hearth_hub::chat_template(&path) {
            Ok(template) => template.is_some_and(|t| hearth_engine::supports_thinking(&t)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the model's chat template");
                false
            }
        }
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

/// What the backend is asked for a chat turn: the conversation's system
/// prompt and the path to the message being answered (answers without text
/// left out), the answer so far when continuing, and the conversation's
/// sampling.
fn chat_request(
    conv: &Conversation,
    history: &[Message],
    target: &Target,
    options: &TurnOptions,
) -> ChatRequest {
    let mut messages: Vec<backend::Message> = conv
        .system_prompt
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(backend::Message::system)
        .collect();
    messages.extend(
        history
            .iter()
            .filter(|m| {
                !(m.role == Role::Assistant && m.content.is_empty() && m.tool_calls.is_empty())
            })
            .map(|m| backend::Message {
                tool_calls: m.tool_calls.clone(),
                tool_call_id: m.tool_call_id.clone(),
                ..backend::Message::new(m.role, m.content.clone())
            }),
    );
    let mode = match target {
        Target::Continue { message } => {
            messages.push(backend::Message::assistant(message.content.clone()));
            PromptMode::Continue
        }
        Target::New { .. } => PromptMode::Chat,
    };
    let sampling = &conv.sampling;
    ChatRequest {
        messages,
        mode,
        max_tokens: options
            .max_tokens
            .or(sampling.max_tokens)
            .and_then(|t| u32::try_from(t).ok()),
        temperature: sampling.temperature,
        top_p: sampling.top_p,
        top_k: sampling.top_k,
        min_p: sampling.min_p,
        repeat_penalty: sampling.repeat_penalty,
        seed: sampling.seed,
        stop: options.stop.clone(),
        tools: options.tools.clone(),
        tool_choice: options.tool_choice.clone(),
        thinking: sampling.thinking,
        ..ChatRequest::default()
    }
}

/// A chat turn before its backend is known.
pub(crate) struct Pending<'a> {
    pub(crate) conv: &'a Conversation,
    /// The active path up to the message being answered, root first.
    pub(crate) history: Vec<Message>,
    pub(crate) target: Target,
    pub(crate) options: &'a TurnOptions,
    /// The user's message this turn stored (`None`: regenerate, continue).
    pub(crate) user_message: Option<MessageId>,
}

/// A chat turn's record: the answer is a message of the conversation,
/// checkpointed while it streams and finished with its metrics and a usage
/// record; events go to the front end.
struct Conversational<'a, F> {
    app: &'a App,
    conv: &'a Conversation,
    plan: &'a Plan,
    fallback_reason: Option<String>,
    /// Where the answer goes (taken when it opens).
    target: Option<Target>,
    user_message: Option<MessageId>,
    /// The local model's file and load time, for the library's speed record.
    local: Option<(&'a Path, Duration)>,
    on_event: F,
    message: Option<MessageId>,
    finished: Option<Message>,
}

impl<F: FnMut(ChatEvent) + Send> Record for Conversational<'_, F> {
    fn open(&mut self, opening: &Opening<'_>) -> Result<String, CoreError> {
        let target = self.target.take().ok_or(CoreError::WorkerGone)?;
        let (message, prefix) = self.app.open_answer(
            self.conv,
            target,
            &opening.backend.provider,
            &opening.backend.model,
            self.fallback_reason.clone(),
        )?;
        if !opening.redactions.is_empty() {
            self.app
                .store()
                .record_redactions(&message.id, opening.redactions)?;
        }
        if let Some(documents) = opening.documents {
            self.app
                .store()
                .record_citations(&message.id, &documents.citations)?;
            (self.on_event)(ChatEvent::Documents {
                used: documents.used.clone(),
            });
        }
        (self.on_event)(ChatEvent::Started {
            user_message: self.user_message.take(),
            assistant_message: message.id.clone(),
            dropped_turns: opening.dropped_turns,
            prompt_tokens: opening.prompt_tokens,
        });
        self.message = Some(message.id);
        Ok(prefix)
    }

    fn trimmed(&mut self, dropped_turns: usize, prompt_tokens: usize) {
        (self.on_event)(ChatEvent::Trimmed {
            dropped_turns,
            prompt_tokens,
        });
    }

    fn text(&mut self, piece: &str) {
        (self.on_event)(ChatEvent::Token {
            text: piece.to_owned(),
        });
    }

    fn checkpoint(&mut self, text: &str) -> Result<(), CoreError> {
        if let Some(id) = &self.message {
            self.app.store().checkpoint_message(id, text)?;
        }
        Ok(())
    }

    fn finish(&mut self, finished: &Finished<'_>) -> Result<(), CoreError> {
        let id = self.message.clone().ok_or(CoreError::WorkerGone)?;
        let metrics = finished.metrics;
        let message = {
            let store = self.app.store();
            let message = store.finish_message(
                &id,
                &MessageFinish {
                    content: finished.text.to_owned(),
                    status: finished.status,
                    metrics: metrics.clone(),
                    error: finished.error.clone(),
                    fallback_reason: self.fallback_reason.clone(),
                    backend: Some(finished.backend.provider.clone()),
                    model: Some(finished.backend.model.clone()),
                },
            )?;
            store.record_usage(&UsageRecord {
                at: hearth_store::now(),
                conversation_id: Some(self.conv.id.clone()),
                message_id: Some(id),
                backend: finished.backend.provider.clone(),
                model: finished.backend.model.clone(),
                tokens_in: metrics.tokens_in.unwrap_or(0),
                tokens_out: metrics.tokens_out.unwrap_or(0),
                ttft_ms: metrics.ttft_ms,
                latency_ms: metrics.latency_ms,
                cost_usd: metrics.cost_usd,
                fallback_reason: self.fallback_reason.clone(),
                error_kind: finished.error_kind.map(|k| k.as_str().to_owned()),
                retries: finished.retries,
            })?;
            message
        };
        self.app.after_turn(&self.conv.id, self.plan)?;
        if let Some((path, load_time)) = self.local
            && finished.status != MessageStatus::Error
        {
            // The measured speed feeds the router's "too slow" check.
            let speed = metrics
                .decode_tok_s
                .filter(|_| metrics.tokens_out.unwrap_or(0) >= 4);
            self.app
                .models()
                .record_run(path, load_time.as_secs_f64(), speed);
        }
        (self.on_event)(ChatEvent::Finished {
            message: Box::new(message.clone()),
        });
        self.finished = Some(message);
        Ok(())
    }
}
