//! hearth-providers against the provider stand-ins of hearth-testkit.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hostile;
mod matrix;
mod proxy;
mod secrets;
mod tools;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_backend::{BackendError, ChatRequest, Completion, Message, TokenSink};
use hearth_net::Net;
use hearth_providers::{
    HttpPolicy, Network, NetworkEvent, NetworkObserver, Provider, ProviderConfig, ProviderKind,
};
use hearth_testkit::providers::{StandIn, Wire};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// The key every test provider uses; no message may ever show it.
pub(crate) const KEY: &str = "sk-planted-0042";

/// One provider kind against its stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    OpenAi,
    Anthropic,
    Gemini,
    /// An OpenAI-compatible server without a key.
    Compat,
}

impl Case {
    pub(crate) fn wire(self) -> Wire {
        match self {
            Case::OpenAi | Case::Compat => Wire::OpenAi,
            Case::Anthropic => Wire::Anthropic,
            Case::Gemini => Wire::Gemini,
        }
    }

    pub(crate) fn kind(self) -> ProviderKind {
        match self {
            Case::OpenAi => ProviderKind::OpenAi,
            Case::Anthropic => ProviderKind::Anthropic,
            Case::Gemini => ProviderKind::Gemini,
            Case::Compat => ProviderKind::Compat,
        }
    }

    /// The configured provider name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Case::OpenAi => "work-openai",
            Case::Anthropic => "claude",
            Case::Gemini => "google",
            Case::Compat => "my-ollama",
        }
    }

    /// How messages name the provider.
    pub(crate) fn shown(self) -> &'static str {
        match self {
            Case::Compat => self.name(),
            _ => self.kind().label(),
        }
    }

    pub(crate) fn model(self) -> &'static str {
        match self {
            Case::OpenAi => "gpt-4o-mini",
            Case::Anthropic => "claude-sonnet-4-5",
            Case::Gemini => "gemini-2.5-flash",
            Case::Compat => "llama3.2:1b",
        }
    }
}

/// Tiny timeouts and backoffs: every test finishes in about a second.
pub(crate) fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(3),
        total_timeout: Duration::from_secs(15),
        max_retries: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(300),
        // Small caps, so the hostile servers' endless bodies end quickly.
        max_stream_bytes: 1 << 20,
        max_event_bytes: 64 << 10,
        max_list_bytes: 256 << 10,
        max_tool_arguments_bytes: 64 << 10,
    }
}

/// Records every network event.
#[derive(Default)]
pub(crate) struct Ledger(Mutex<Vec<NetworkEvent>>);

impl NetworkObserver for Ledger {
    fn record(&self, event: &NetworkEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Ledger {
    pub(crate) fn events(&self) -> Vec<NetworkEvent> {
        self.0.lock().unwrap().clone()
    }
}

pub(crate) struct Setup {
    pub(crate) server: StandIn,
    pub(crate) provider: Arc<Provider>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) offline: Arc<AtomicBool>,
}

/// A stand-in for `case` (expecting [`KEY`], except the keyless compatible
/// server) and a provider pointed at it.
pub(crate) async fn setup(case: Case, policy: HttpPolicy) -> Setup {
    let server = StandIn::start(case.wire()).await;
    let key = (case != Case::Compat).then_some(KEY);
    if let Some(key) = key {
        server.expect_key(key);
    }
    let (provider, ledger, offline) = provider_for(case, &server, key, policy);
    Setup {
        server,
        provider,
        ledger,
        offline,
    }
}

pub(crate) fn provider_for(
    case: Case,
    server: &StandIn,
    key: Option<&str>,
    policy: HttpPolicy,
) -> (Arc<Provider>, Arc<Ledger>, Arc<AtomicBool>) {
    provider_at(case, server.base_url(), key, policy, Net::default())
}

/// A provider of `case` at `base_url`, with the network settings `net`.
pub(crate) fn provider_at(
    case: Case,
    base_url: &str,
    key: Option<&str>,
    policy: HttpPolicy,
    net: Net,
) -> (Arc<Provider>, Arc<Ledger>, Arc<AtomicBool>) {
    let mut config = ProviderConfig::new(case.name(), case.kind()).with_base_url(base_url);
    if let Some(key) = key {
        config = config.with_api_key(SecretString::from(key.to_owned()));
    }
    let ledger = Arc::new(Ledger::default());
    let offline = Arc::new(AtomicBool::new(false));
    let network = Network {
        observer: Some(ledger.clone()),
        offline: offline.clone(),
        net,
    };
    let provider = Provider::new(config, policy, network).unwrap();
    (Arc::new(provider), ledger, offline)
}

/// A system prompt and some history.
pub(crate) fn request(case: Case) -> ChatRequest {
    ChatRequest {
        model: case.model().to_owned(),
        messages: vec![
            Message::system("You are terse."),
            Message::user("Capital of France?"),
            Message::assistant("Paris."),
            Message::user("Say it again, with feeling."),
        ],
        max_tokens: Some(50),
        temperature: Some(0.2),
        top_p: None,
        stop: Vec::new(),
        json: false,
        ..ChatRequest::default()
    }
}

/// Runs one chat; returns its result and the text the sink received.
pub(crate) async fn chat(
    provider: &Provider,
    req: ChatRequest,
    cancel: CancellationToken,
) -> (Result<Completion, BackendError>, String) {
    let (sink, mut rx) = TokenSink::channel();
    let result = provider.chat(req, sink, cancel).await;
    let mut text = String::new();
    while let Ok(piece) = rx.try_recv() {
        text.push_str(&piece);
    }
    if let Err(e) = &result {
        assert_clean(e);
    }
    (result, text)
}

/// No error may show the key or a raw body.
pub(crate) fn assert_clean(e: &BackendError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
    assert!(
        !shown.contains("planted"),
        "a planted secret leaked: {shown}"
    );
    assert!(
        !shown.contains("injected failure"),
        "a raw body leaked: {shown}"
    );
    assert!(
        !shown.contains("Capital of France"),
        "the prompt leaked: {shown}"
    );
}
