//! hearth-server end to end: a real server on 127.0.0.1:0 driven with reqwest,
//! answering with the real SmolLM2 test model.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod cloud;
mod embeddings;
mod guards;
mod hostile;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use hearth_core::{App, Config, OpenOptions, Secrets};
use hearth_engine::EngineOptions;
use hearth_secrets::MemoryStore;
use hearth_server::ServerConfig;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running server with its own Hearth home (SmolLM2 in its library).
pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) port: u16,
    /// The library id of SmolLM2.
    pub(crate) model: String,
    pub(crate) client: reqwest::Client,
    /// The server's app (a clone: it shares the database).
    pub(crate) app: App,
    /// The server's request log.
    pub(crate) log: hearth_server::RequestLog,
    _home: TempDir,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub(crate) async fn start_with(config: ServerConfig) -> Self {
        Self::start_with_engine(config, EngineOptions::default()).await
    }

    /// A server whose local models load with `engine` (the context set to
    /// 1024 tokens).
    pub(crate) async fn start_with_engine(config: ServerConfig, engine: EngineOptions) -> Self {
        let home = tempfile::tempdir().unwrap();
        let app = App::open_with(
            Config::with_home(home.path()),
            OpenOptions {
                secrets: Secrets::Store(Arc::new(MemoryStore::default())),
                engine: EngineOptions {
                    context_length: Some(1024),
                    ..engine
                },
                ..OpenOptions::default()
            },
        )
        .unwrap();
        let model = app
            .models()
            .import(&hearth_testkit::models::smollm2(), false)
            .unwrap()
            .id;
        let bound = hearth_server::bind(app.clone(), ServerConfig { port: 0, ..config })
            .await
            .unwrap();
        let addr = bound.local_addr();
        let log = bound.log();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(bound.serve(async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            port: addr.port(),
            model,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            app,
            log,
            _home: home,
            _stop: stop,
        }
    }

    /// The body of `GET /v1/models`.
    pub(crate) async fn models(&self) -> String {
        let response = self
            .client
            .get(self.url("/v1/models"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A short greedy chat request for SmolLM2.
    pub(crate) fn chat_body(&self, text: &str, max_tokens: u32) -> Value {
        json!({
            "model": self.model,
            "messages": [{"role": "user", "content": text}],
            "temperature": 0,
            "max_tokens": max_tokens,
        })
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts OpenAI's error shape and returns the `error` object.
pub(crate) async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error
}
