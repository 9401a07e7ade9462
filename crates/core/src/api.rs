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

use hearth_backend::{
    BackendId, ChatBackend, ChatRequest, ErrorKind, Message, PromptMode, Role, TokenLogprob,
    ToolCall, ToolChoice, ToolSpec,
};
use hearth_engine::OutputFormat;
use hearth_store::{
    MessageFinish, MessageMetrics, MessageStatus, NewConversation, NewMessage, UsageRecord,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::local::{LOCAL_BACKEND, LocalBackend};
use crate::turn::{self, Answer, Forward, Turn};
use crate::turn_route::Chosen;
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
    /// `top_logprobs` when `logprobs` is on (0 when only the token's own).
    pub logprobs: Option<u8>,
    /// Functions the model may call (local models only, for now).
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    /// Whether a reasoning model thinks first (`chat_template_kwargs:
    /// {"enable_thinking": …}`, as llama.cpp's server and vLLM take it);
    /// `None`: the model's default.
    pub thinking: Option<bool>,
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
    /// The model called tools ([`ApiAnswer::tool_calls`]).
    ToolCalls,
}

impl ApiFinish {
    /// OpenAI's `finish_reason` (a cancelled answer is reported as `stop`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::Stop | Self::Cancelled => "stop",
        }
    }
}

/// A finished API answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiAnswer {
    pub text: String,
    /// The tools the model called.
    pub tool_calls: Vec<ToolCall>,
    pub finish: ApiFinish,
    /// `local` or the provider's name.
    pub backend: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub ttft: Option<Duration>,
    pub decode_tok_s: Option<f64>,
    /// The tokens' log-probabilities, when asked and the backend has them.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// What the user allows API clients to do beyond using local models (both
/// off by default; a running server applies them from its next request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
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
        let target = self.api_target(&req.model)?;
        let (backend, model) = match &target {
            ApiTarget::Local(_) => (LOCAL_BACKEND.to_owned(), req.model.clone()),
            ApiTarget::Cloud(id) => (id.provider.clone(), id.model.clone()),
        };
        let outcome = match self.api_backend(target, &req).await {
            Ok(chosen) => {
                self.api_answer_with(chosen.backend(), req, cancel, on_text)
                    .await
            }
            Err(err) => Err(err),
        };
        if let (Some(input), Ok((answer, cost))) = (input, &outcome) {
            let latency = started.elapsed();
            self.store_api_turn(input, answer, &backend, &model, *cost, latency)?;
        }
        let latency = started.elapsed();
        let record = match &outcome {
            Ok((answer, cost)) => UsageRecord {
                at: hearth_store::now(),
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
                at: hearth_store::now(),
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
                    ApiFinish::Stop | ApiFinish::Length | ApiFinish::ToolCalls => {
                        MessageStatus::Complete
                    }
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

    /// The backend a request's model names, ready to answer.
    async fn api_backend(&self, target: ApiTarget, req: &ApiChat) -> Result<Chosen, CoreError> {
        match target {
            ApiTarget::Local(path) => {
                let engine = self.local_engine(&path).await?;
                let backend = LocalBackend::new(engine, req.model.clone());
                Ok(Chosen::Local { backend, path })
            }
            ApiTarget::Cloud(id) => {
                let provider = self.provider(&id.provider)?;
                if req.format == OutputFormat::JsonObject && !provider.kind().has_json_mode() {
                    return Err(CoreError::Invalid(format!(
                        "{} has no JSON mode; ask for the JSON in the prompt instead",
                        id.provider
                    )));
                }
                Ok(Chosen::Cloud(provider.model(&id.model)))
            }
        }
    }

    /// Answers `req` with `backend` through the one turn path (redacted and
    /// budgeted like a chat turn when it goes to a cloud provider); the
    /// answer and its cost.
    pub(crate) async fn api_answer_with(
        &self,
        backend: &dyn ChatBackend,
        req: ApiChat,
        cancel: CancellationToken,
        on_text: impl FnMut(&str) + Send,
    ) -> Result<(ApiAnswer, Option<f64>), CoreError> {
        let id = backend.id();
        let turn = Turn {
            outbound: self.outbound(&id)?,
            ..Turn::new(backend, req.into_request())
        };
        let answer = turn::run(turn, &mut Forward(on_text), cancel).await?;
        let cost = answer.metrics.cost_usd;
        Ok((ApiAnswer::new(answer, &id), cost))
    }
}

impl ApiChat {
    /// The request the backend is asked: a chat, or text to complete as it is.
    fn into_request(self) -> ChatRequest {
        let (messages, mode) = match self.input {
            ApiInput::Chat(messages) => (messages, PromptMode::Chat),
            ApiInput::Text(text) => (vec![Message::user(text)], PromptMode::Text),
        };
        ChatRequest {
            messages,
            mode,
            max_tokens: self.max_tokens.and_then(|t| u32::try_from(t).ok()),
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            stop: self.stop,
            json: self.format == OutputFormat::JsonObject,
            logprobs: self.logprobs,
            tools: self.tools,
            tool_choice: self.tool_choice,
            thinking: self.thinking,
            ..ChatRequest::default()
        }
    }
}

impl ApiAnswer {
    fn new(answer: Answer, backend: &BackendId) -> Self {
        let completion = &answer.completion;
        let usage = completion.usage.unwrap_or_default();
        Self {
            finish: if !completion.tool_calls.is_empty() {
                ApiFinish::ToolCalls
            } else if completion.finish.is_length() {
                ApiFinish::Length
            } else if completion.finish == hearth_backend::FinishReason::Cancelled {
                ApiFinish::Cancelled
            } else {
                ApiFinish::Stop
            },
            backend: backend.provider.clone(),
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            ttft: completion.time_to_first_token,
            decode_tok_s: answer.metrics.decode_tok_s,
            logprobs: answer.completion.logprobs.clone(),
            tool_calls: answer.completion.tool_calls.clone(),
            text: answer.text,
        }
    }
}
