//! [`Provider`]: one configured provider, put together from its translator,
//! the HTTP layer, its circuit breaker and the app's network settings; and
//! [`ProviderModel`], one of its models as a [`ChatBackend`].

use std::sync::Arc;
use std::time::Duration;

use hearth_backend::{
    BackendError, BackendId, CancellationToken, ChatBackend, ChatRequest, Completion, ErrorKind,
    FinishReason, TokenSink,
};
use reqwest::Url;

use crate::breaker::{Breaker, BreakerState, Outcome};
use crate::config::{ConfigError, ProviderConfig, ProviderKind};
use crate::http::{Http, HttpPolicy, Who, human};
use crate::ledger::{Network, Purpose};
use crate::window::{estimate_tokens, known_window};
use crate::wire::{Payload, RemoteModel, StreamItem, Unreadable, WireRequest};
use crate::{anthropic, gemini, openai};

/// Which translator a provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi { compat: bool },
    Anthropic,
    Gemini,
}

impl Dialect {
    fn of(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenAi => Self::OpenAi { compat: false },
            ProviderKind::Compat => Self::OpenAi { compat: true },
            ProviderKind::Anthropic => Self::Anthropic,
            ProviderKind::Gemini => Self::Gemini,
        }
    }

    fn parse(self, payload: Payload<'_>) -> Result<Vec<StreamItem>, Unreadable> {
        match (self, payload) {
            (Self::OpenAi { .. }, Payload::Event { data, .. }) => openai::parse_event(data),
            (Self::Anthropic, Payload::Event { data, .. }) => anthropic::parse_event(data),
            (Self::Gemini, Payload::Event { data, .. }) => gemini::parse_event(data),
            (Self::OpenAi { .. }, Payload::Whole(body)) => openai::parse_whole(body),
            (Self::Anthropic, Payload::Whole(body)) => anthropic::parse_whole(body),
            (Self::Gemini, Payload::Whole(body)) => gemini::parse_whole(body),
        }
    }

    fn parse_models(self, body: &[u8]) -> Result<Vec<RemoteModel>, Unreadable> {
        match self {
            Self::OpenAi { .. } => openai::parse_models(body),
            Self::Anthropic => anthropic::parse_models(body),
            Self::Gemini => gemini::parse_models(body),
        }
    }
}

/// One configured cloud provider or compatible server.
pub struct Provider {
    config: ProviderConfig,
    base: Url,
    dialect: Dialect,
    http: Http,
    breaker: Breaker,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.config.name)
            .field("kind", &self.config.kind)
            .field("base_url", &hearth_net::redact_url(&self.base))
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Checks `config` and sets the provider up (no request is sent).
    pub fn new(
        config: ProviderConfig,
        policy: HttpPolicy,
        network: Network,
    ) -> Result<Self, ConfigError> {
        let base = config.checked_base_url()?;
        let who = Who {
            shown: match config.kind {
                ProviderKind::Compat => config.name.clone(),
                kind => kind.label().to_owned(),
            },
            name: config.name.clone(),
        };
        let breaker = Breaker::new(
            &config.name,
            policy.breaker_threshold,
            policy.breaker_cooldown,
        );
        let http = Http::new(policy, network, who, &base)?;
        Ok(Self {
            dialect: Dialect::of(config.kind),
            config,
            base,
            http,
            breaker,
        })
    }

    /// The configured name (`openai`, `my-ollama`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn kind(&self) -> ProviderKind {
        self.config.kind
    }

    /// The user's context window for its models (`None`: the table's).
    pub fn context_window(&self) -> Option<usize> {
        self.config.context_window
    }

    /// The circuit breaker's state.
    pub fn breaker(&self) -> BreakerState {
        self.breaker.state()
    }

    /// The provider's models. Not gated by the circuit breaker: this is what
    /// a user runs to see whether a provider works again.
    pub async fn list_models(&self) -> Result<Vec<RemoteModel>, BackendError> {
        if self.http.network().is_offline() {
            return Err(self.http.offline_error());
        }
        let key = self.config.api_key.as_ref();
        let req = match self.dialect {
            Dialect::OpenAi { .. } => openai::models_request(&self.base, key),
            Dialect::Anthropic => anthropic::models_request(&self.base, key),
            Dialect::Gemini => gemini::models_request(&self.base, key),
        };
        let body = self.http.fetch(&req, Purpose::ListModels).await?;
        self.dialect.parse_models(&body).map_err(|reason| {
            tracing::debug!(provider = %self.config.name, %reason, "unreadable model list");
            BackendError::new(
                ErrorKind::Malformed,
                format!("{} sent a model list Hearth could not read", self.shown()),
            )
        })
    }

    /// Checks the address and key by listing the models; returns how many.
    pub async fn test_connection(&self) -> Result<usize, BackendError> {
        Ok(self.list_models().await?.len())
    }

    /// Streams the answer to `req` (its `model` must be set) into `out`.
    pub async fn chat(
        &self,
        req: ChatRequest,
        out: TokenSink,
        cancel: CancellationToken,
    ) -> Result<Completion, BackendError> {
        if self.http.network().is_offline() {
            return Err(self.http.offline_error());
        }
        let permit = self
            .breaker
            .admit()
            .map_err(|wait| self.circuit_open(wait))?;
        let wire = self.chat_request(&req)?;
        tracing::debug!(
            provider = %self.config.name,
            model = %req.model,
            messages = req.messages.len(),
            tools = req.tools.len(),
            "chat request"
        );
        let dialect = self.dialect;
        let parse = move |payload: Payload<'_>| dialect.parse(payload);
        let result = self
            .http
            .stream(&wire, &parse, &req.model, &req.tools, &out, &cancel)
            .await;
        let outcome = match &result {
            // Cancelled before anything came: says nothing about the provider.
            Ok(done) if done.finish == FinishReason::Cancelled && done.text.is_empty() => {
                Outcome::Neutral
            }
            other => Outcome::of(other),
        };
        permit.record(outcome);
        result
    }

    /// One of this provider's models, as a [`ChatBackend`].
    pub fn model(self: &Arc<Self>, model: &str) -> ProviderModel {
        ProviderModel {
            provider: Arc::clone(self),
            model: model.to_owned(),
        }
    }

    fn chat_request(&self, req: &ChatRequest) -> Result<WireRequest, BackendError> {
        let key = self.config.api_key.as_ref();
        let built = match self.dialect {
            Dialect::OpenAi { compat } => openai::chat_request(&self.base, key, compat, req),
            Dialect::Anthropic => anthropic::chat_request(&self.base, key, req),
            Dialect::Gemini => gemini::chat_request(&self.base, key, req),
        };
        built.map_err(|reason| {
            BackendError::new(
                ErrorKind::Rejected,
                format!("nothing was sent to {}: {reason}", self.shown()),
            )
        })
    }

    fn shown(&self) -> &str {
        match self.config.kind {
            ProviderKind::Compat => &self.config.name,
            kind => kind.label(),
        }
    }

    fn circuit_open(&self, wait: Duration) -> BackendError {
        let message = if wait.is_zero() {
            format!(
                "{} is failing; Hearth is checking whether it works again",
                self.shown()
            )
        } else {
            format!(
                "{} is failing; Hearth paused requests to it for {}",
                self.shown(),
                human(wait)
            )
        };
        BackendError::new(ErrorKind::CircuitOpen, message).with_retry_after(Some(wait))
    }
}

/// A provider's model as a [`ChatBackend`] (`openai:gpt-4o-mini`).
#[derive(Debug, Clone)]
pub struct ProviderModel {
    provider: Arc<Provider>,
    model: String,
}

impl ProviderModel {
    pub fn provider(&self) -> &Arc<Provider> {
        &self.provider
    }
}

#[async_trait::async_trait]
impl ChatBackend for ProviderModel {
    fn id(&self) -> BackendId {
        BackendId::new(self.provider.name(), &self.model)
    }

    async fn stream(
        &self,
        mut req: ChatRequest,
        out: TokenSink,
        cancel: CancellationToken,
    ) -> Result<Completion, BackendError> {
        req.model.clone_from(&self.model);
        self.provider.chat(req, out, cancel).await
    }

    /// The user's window for this provider, else the table's for the model.
    fn context_window(&self) -> Option<usize> {
        self.provider
            .config
            .context_window
            .or_else(|| known_window(&self.model).map(|w| w.context))
    }

    fn default_max_output(&self) -> Option<usize> {
        known_window(&self.model).map(|w| w.max_output)
    }

    /// An over-estimate ([`estimate_tokens`]): Hearth has no provider's
    /// tokenizer.
    fn count_tokens(&self, req: &ChatRequest) -> Result<Option<usize>, BackendError> {
        Ok(Some(estimate_tokens(req)))
    }
}
