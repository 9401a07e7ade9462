//! A stateless turn for the OpenAI-compatible API server: messages in, an
//! answer out, nothing stored but a usage record.
//!
//! The model is a library id (or unique prefix), a file inside a folder the
//! user allowed ([`crate::Models::allow_api_model_dirs`]), or — only when the
//! setting [`CLOUD_MODELS_SETTING`] is `"1"` — `provider:model` for a
//! configured provider. Loading any other file by path is a CLI/app action. Conversations are stored in the history only when the
//! setting [`STORE_CONVERSATIONS_SETTING`] is `"1"` (one conversation per
//! request, titled after its first user message and marked as from the API).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hearth_backend::{BackendId, ChatRequest, ErrorKind, FinishReason, Message, Role, TokenSink};
use hearth_engine::{
    Completion, EngineError, GenerateRequest, GenerationEvent, OutputFormat, Prompt,
    SamplingParams, StopReason,
};
use hearth_store::{
    MessageFinish, MessageMetrics, MessageStatus, NewConversation, NewMessage, UsageRecord,
};
use tokio_util::sync::CancellationToken;

use crate::chat::{LOCAL_BACKEND, now_millis};
use crate::context::{self, TooLong};
use crate::redact::Redactor;
use crate::{App, CoreError};

/// The setting that lets API clients use configured cloud providers
/// (`"1"`: yes; anything else or unset: local models only).
pub const CLOUD_MODELS_SETTING: &str = "api.cloud_models";

/// The setting that keeps API requests and answers in the chat history
/// (`"1"`: yes; anything else or unset: nothing but a usage record).
pub const STORE_CONVERSATIONS_SETTING: &str = "api.store_conversations";

/// The title prefix of conversations stored from the API.
pub const API_TITLE_PREFIX: &str = "API: ";

/// What to continue: a conversation (chat completions) or raw text (completions).
#[derive(Debug, Clone, PartialEq)]
pub enum ApiInput {
    Chat(Vec<Message>),
    Text(String),
}

/// One API request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiChat {
    /// A library id / unique prefix, a file in an allowed folder, or `provider:model`.
    pub model: String,
    pub input: ApiInput,
    pub max_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// `response_format`: free text or one JSON object.
    pub format: OutputFormat,
}

/// Where a request's model lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiTarget {
    Local(PathBuf),
    Cloud(BackendId),
}

/// Why an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFinish {
    /// The model finished or a stop sequence appeared.
    Stop,
    /// `max_tokens` or the context window.
    Length,
    /// The caller cancelled (the client went away).
    Cancelled,
}

impl ApiFinish {
    /// OpenAI's `finish_reason` (a cancelled answer is reported as `stop`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Stop | Self::Cancelled => "stop",
        }
    }
}

/// A finished API answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiAnswer {
    pub text: String,
    pub finish: ApiFinish,
    /// `local` or the provider's name.
    pub backend: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub ttft: Option<Duration>,
    pub decode_tok_s: Option<f64>,
}

/// What the user allows API clients to do beyond using local models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiSettings {
    /// Configured cloud providers' models can be named (and are listed).
    pub cloud_models: bool,
    /// Requests and answers are kept in the chat history.
    pub store_conversations: bool,
}

impl App {
    /// The API settings (both off unless the user turned them on).
    pub fn api_settings(&self) -> Result<ApiSettings, CoreError> {
        let on = |key| -> Result<bool, CoreError> {
            Ok(self.store().setting(key)?.as_deref() == Some("1"))
        };
        Ok(ApiSettings {
            cloud_models: on(CLOUD_MODELS_SETTING)?,
            store_conversations: on(STORE_CONVERSATIONS_SETTING)?,
        })
    }

    /// Saves the API settings (kept across restarts; a running server sees them
    /// on its next request).
    pub fn set_api_settings(&self, settings: ApiSettings) -> Result<(), CoreError> {
        let flag = |on: bool| if on { "1" } else { "0" };
        self.store()
            .set_setting(CLOUD_MODELS_SETTING, flag(settings.cloud_models))?;
        self.store().set_setting(
            STORE_CONVERSATIONS_SETTING,
            flag(settings.store_conversations),
        )?;
        Ok(())
    }

    /// The models API clients can name: the library's ids, owned by `hearth`.
    /// Cloud models, when allowed, are listed by the server from each
    /// provider's own list (see [`App::provider_models`]).
    pub fn api_models(&self) -> Result<Vec<(String, String)>, CoreError> {
        // The library alone: `Models::list` would also probe the machine for fit.
        Ok(self
            .models()
            .library()?
            .list()
            .iter()
            .map(|m| (m.id.clone(), "hearth".to_owned()))
            .collect())
    }

    /// Where `model` lives: a library id (or unique prefix), a file in a folder
    /// the user allowed ([`crate::Models::resolve_for_api`]), or — only when
    /// cloud models are allowed — `provider:model`. Anything else is
    /// [`CoreError::UnknownApiModel`], worded the same whatever the reason.
    pub fn api_target(&self, model: &str) -> Result<ApiTarget, CoreError> {
        let local = self.models().resolve_for_api(model);
        if !matches!(local, Err(CoreError::UnknownApiModel(_))) {
            return local.map(ApiTarget::Local);
        }
        let unknown = || CoreError::UnknownApiModel(model.to_owned());
        let cloud_allowed = self.api_settings()?.cloud_models;
        match BackendId::parse(model) {
            Some(id) if cloud_allowed && !id.is_local() => match self.provider(&id.provider) {
                Ok(_) => Ok(ApiTarget::Cloud(id)),
                Err(CoreError::UnknownProvider(_)) => Err(unknown()),
                Err(err) => Err(err),
            },
            _ => Err(unknown()),
        }
    }

    /// Answers one API request, streaming text through `on_text`. Records a
    /// usage record whether it succeeds or not; stores no conversation.
    pub async fn api_chat(
        &self,
        req: ApiChat,
        cancel: CancellationToken,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<ApiAnswer, CoreError> {
        if let ApiInput::Chat(messages) = &req.input
            && messages.is_empty()
        {
            return Err(CoreError::Invalid("messages must not be empty".into()));
        }
        let started = Instant::now();
        let store = self.api_settings()?.store_conversations;
        let input = store.then(|| req.input.clone());
        let (backend, model, outcome) = match self.api_target(&req.model)? {
            ApiTarget::Local(path) => {
                let outcome = self.api_local(path, &req, cancel, on_text).await;
                (LOCAL_BACKEND.to_owned(), req.model.clone(), outcome)
            }
            ApiTarget::Cloud(id) => {
                let outcome = self.api_cloud(&id, req, cancel, on_text).await;
                (id.provider, id.model, outcome)
            }
        };
        if let (Some(input), Ok((answer, cost))) = (input, &outcome) {
            let latency = started.elapsed();
            self.store_api_turn(input, answer, &backend, &model, *cost, latency)?;
        }
        let latency = started.elapsed();
        let record = match &outcome {
            Ok((answer, cost)) => UsageRecord {
                at: now_millis(),
                conversation_id: None,
                message_id: None,
                backend,
                model,
                tokens_in: answer.prompt_tokens,
                tokens_out: answer.completion_tokens,
                ttft_ms: answer.ttft.map(|t| t.as_secs_f64() * 1000.0),
                latency_ms: Some(latency.as_secs_f64() * 1000.0),
                cost_usd: *cost,
                fallback_reason: None,
                error_kind: None,
                retries: 0,
            },
            Err(err) => UsageRecord {
                at: now_millis(),
                conversation_id: None,
                message_id: None,
                backend,
                model,
                tokens_in: 0,
                tokens_out: 0,
                ttft_ms: None,
                latency_ms: Some(latency.as_secs_f64() * 1000.0),
                cost_usd: None,
                fallback_reason: None,
                error_kind: Some(match err {
                    CoreError::Backend(e) => e.kind.as_str().to_owned(),
                    _ => ErrorKind::Local.as_str().to_owned(),
                }),
                retries: 0,
            },
        };
        self.store().record_usage(&record)?;
        outcome.map(|(answer, _)| answer)
    }

    /// Keeps one API request and its answer as a conversation of their own.
    fn store_api_turn(
        &self,
        input: ApiInput,
        answer: &ApiAnswer,
        backend: &str,
        model: &str,
        cost: Option<f64>,
        latency: Duration,
    ) -> Result<(), CoreError> {
        let messages = match input {
            ApiInput::Chat(messages) => messages,
            ApiInput::Text(text) => vec![Message::user(text)],
        };
        let system: Vec<&str> = messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        let first_user = messages
            .iter()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());
        let title = crate::title::title_from_message(first_user);
        let conversation = self.store().create_conversation(&NewConversation {
            title: Some(format!("{API_TITLE_PREFIX}{title}")),
            model: Some(model.to_owned()),
            backend: Some(backend.to_owned()),
            system_prompt: (!system.is_empty()).then(|| system.join("\n\n")),
            ..NewConversation::default()
        })?;
        let mut parent = None;
        let turns = messages.into_iter().filter(|m| m.role != Role::System);
        for m in turns {
            let stored = self.store().append_message(&NewMessage {
                conversation_id: conversation.id.clone(),
                parent_id: parent.take(),
                role: m.role,
                content: m.content,
                status: MessageStatus::Complete,
                backend: None,
                model: None,
            })?;
            parent = Some(stored.id);
        }
        let reply = self.store().append_message(&NewMessage {
            conversation_id: conversation.id,
            parent_id: parent,
            role: Role::Assistant,
            content: String::new(),
            status: MessageStatus::Streaming,
            backend: Some(backend.to_owned()),
            model: Some(model.to_owned()),
        })?;
        self.store().finish_message(
            &reply.id,
            &MessageFinish {
                content: answer.text.clone(),
                status: match answer.finish {
                    ApiFinish::Cancelled => MessageStatus::Cancelled,
                    ApiFinish::Stop | ApiFinish::Length => MessageStatus::Complete,
                },
                metrics: MessageMetrics {
                    tokens_in: Some(answer.prompt_tokens),
                    tokens_out: Some(answer.completion_tokens),
                    prompt_tokens_reused: None,
                    ttft_ms: answer.ttft.map(|t| t.as_secs_f64() * 1000.0),
                    decode_tok_s: answer.decode_tok_s,
                    latency_ms: Some(latency.as_secs_f64() * 1000.0),
                    cost_usd: cost,
                },
                error: None,
                fallback_reason: None,
                backend: Some(backend.to_owned()),
                model: Some(model.to_owned()),
            },
        )?;
        Ok(())
    }

    async fn api_local(
        &self,
        path: PathBuf,
        req: &ApiChat,
        cancel: CancellationToken,
        mut on_text: impl FnMut(&str) + Send,
    ) -> Result<(ApiAnswer, Option<f64>), CoreError> {
        let engine = self.local.get(&path).await?;
        let context_length = engine.info().context_length;
        let reserve = context::reserve_for_answer(context_length, req.max_tokens);
        // Rendering the model's chat template (several times while fitting)
        // runs off the async threads: a slow or hostile template cannot stall
        // the server's other requests.
        let (fitter, input) = (engine.clone(), req.input.clone());
        let prompt = tokio::task::spawn_blocking(move || -> Result<Prompt, CoreError> {
            match input {
                ApiInput::Chat(messages) => {
                    let fitted = context::fit(&messages, context_length, reserve, |kept| {
                        fitter
                            .prompt_tokens(&Prompt::Chat(kept.to_vec()))
                            .map(|t| t.len())
                    })??;
                    Ok(Prompt::Chat(fitted.messages))
                }
                ApiInput::Text(text) => {
                    let prompt = Prompt::Text(text);
                    let needed = fitter.prompt_tokens(&prompt)?.len();
                    let available = context_length.saturating_sub(reserve);
                    if needed > available {
                        return Err(TooLong {
                            needed,
                            available,
                            context: context_length,
                            reserved: reserve,
                        }
                        .into());
                    }
                    Ok(prompt)
                }
            }
        })
        .await
        .map_err(|_| CoreError::WorkerGone)??;
        let defaults = SamplingParams::default();
        let request = GenerateRequest {
            prompt,
            sampling: SamplingParams {
                temperature: req.temperature.unwrap_or(defaults.temperature),
                top_p: req.top_p.unwrap_or(defaults.top_p),
                seed: req.seed,
                ..defaults
            },
            max_tokens: req.max_tokens,
            stop: req.stop.clone(),
            format: req.format,
        };
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
        let mut completion: Option<Completion> = None;
        while let Some(event) = rx.recv().await {
            match event {
                GenerationEvent::Token(piece) => on_text(&piece),
                GenerationEvent::Done(result) => {
                    completion = Some(result?);
                    break;
                }
            }
        }
        let completion = completion.ok_or(CoreError::Engine(EngineError::WorkerGone))?;
        let stats = &completion.stats;
        let answer = ApiAnswer {
            finish: match completion.stop_reason {
                StopReason::Eos | StopReason::StopString => ApiFinish::Stop,
                StopReason::MaxTokens | StopReason::ContextFull => ApiFinish::Length,
                StopReason::Cancelled => ApiFinish::Cancelled,
            },
            backend: LOCAL_BACKEND.to_owned(),
            prompt_tokens: stats.prompt_tokens as u64,
            completion_tokens: stats.completion_tokens as u64,
            ttft: Some(stats.time_to_first_token),
            decode_tok_s: Some(stats.decode_tok_s),
            text: completion.text,
        };
        Ok((answer, Some(0.0)))
    }

    async fn api_cloud(
        &self,
        id: &BackendId,
        req: ApiChat,
        cancel: CancellationToken,
        mut on_text: impl FnMut(&str) + Send,
    ) -> Result<(ApiAnswer, Option<f64>), CoreError> {
        let provider = self.provider(&id.provider)?;
        if req.format == OutputFormat::JsonObject && !provider.kind().has_json_mode() {
            return Err(CoreError::Invalid(format!(
                "{} has no JSON mode; ask for the JSON in the prompt instead",
                id.provider
            )));
        }
        // Redacted before sending when the user asked for it, like chat turns.
        let settings = self.redaction()?;
        let mut redactor = Redactor::new(&settings);
        let messages = match req.input {
            ApiInput::Chat(messages) => messages,
            ApiInput::Text(text) => vec![Message::user(text)],
        };
        let messages = messages
            .into_iter()
            .map(|m| {
                let content = if settings.enabled {
                    redactor.redact(&m.content)
                } else {
                    m.content
                };
                Message::new(m.role, content)
            })
            .collect::<Vec<_>>();
        let prompt_chars: usize = messages.iter().map(|m| m.content.len()).sum();
        let request = ChatRequest {
            model: id.model.clone(),
            messages,
            max_tokens: req.max_tokens.and_then(|t| u32::try_from(t).ok()),
            temperature: req.temperature,
            top_p: req.top_p,
            stop: req.stop,
            json: req.format == OutputFormat::JsonObject,
        };
        let price = self.price(&id.provider, &id.model)?;
        let estimate = price.map_or(0.0, |p| {
            p.cost(&hearth_backend::Usage {
                input_tokens: (prompt_chars / 4) as u64,
                output_tokens: 0,
            })
        });
        self.check_budget(estimate, now_millis())?;
        tracing::info!(backend = %id, "API request sent to a cloud provider");

        let started = Instant::now();
        let (sink, mut pieces) = TokenSink::channel();
        let chat = provider.chat(request, sink, cancel);
        tokio::pin!(chat);
        let mut restorer = redactor.restorer();
        let mut text = String::new();
        let mut show = |piece: String, text: &mut String| {
            if !piece.is_empty() {
                on_text(&piece);
                text.push_str(&piece);
            }
        };
        let outcome = loop {
            tokio::select! {
                Some(piece) = pieces.recv() => show(restorer.push(&piece), &mut text),
                outcome = &mut chat => {
                    while let Ok(piece) = pieces.try_recv() {
                        show(restorer.push(&piece), &mut text);
                    }
                    break outcome;
                }
            }
        };
        show(restorer.finish(), &mut text);
        let completion = outcome?;
        let latency = started.elapsed();
        let usage = completion.usage.unwrap_or_default();
        let ttft = completion.time_to_first_token;
        let decode_tok_s = match ttft {
            Some(ttft) if usage.output_tokens > 1 && latency > ttft => {
                Some((usage.output_tokens - 1) as f64 / (latency - ttft).as_secs_f64())
            }
            _ => None,
        };
        let answer = ApiAnswer {
            text,
            finish: match completion.finish {
                FinishReason::Length => ApiFinish::Length,
                FinishReason::Cancelled => ApiFinish::Cancelled,
                _ => ApiFinish::Stop,
            },
            backend: id.provider.clone(),
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            ttft,
            decode_tok_s,
        };
        Ok((answer, price.map(|p| p.cost(&usage))))
    }
}
