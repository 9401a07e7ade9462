//! The safety checks: API key, Host header, CORS, body size, bind address.

use std::net::{IpAddr, Ipv4Addr};

use hearth_server::{ServerConfig, ServerError};
use serde_json::json;

use crate::{TestServer, error_of};

#[tokio::test]
async fn with_a_key_every_v1_request_needs_it() {
    let server = TestServer::start_with(ServerConfig {
        api_key: Some("sk-local-test".into()),
        ..ServerConfig::default()
    })
    .await;
    let models = |auth: Option<&str>| {
        let mut request = server.client.get(server.url("/v1/models"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    error_of(models(None).await.unwrap(), 401).await;
    error_of(models(Some("Bearer sk-wrong")).await.unwrap(), 401).await;
    assert_eq!(
        models(Some("Bearer sk-local-test")).await.unwrap().status(),
        200
    );
    // The scheme is case-insensitive; another scheme is not a bearer key.
    assert_eq!(
        models(Some("bearer sk-local-test")).await.unwrap().status(),
        200
    );
    error_of(models(Some("Basic sk-local-test")).await.unwrap(), 401).await;
    let chat = server
        .client
        .post(server.url("/v1/chat/completions"))
        .json(&server.chat_body("Hi", 2))
        .send()
        .await
        .unwrap();
    error_of(chat, 401).await;
    // Health needs no key.
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_foreign_host_header_is_403() {
    let server = TestServer::start().await;
    let get = |host: String| {
        server
            .client
            .get(server.url("/v1/models"))
            .header("host", host)
            .send()
    };
    let foreign = get(format!("evil.example:{}", server.port)).await.unwrap();
    error_of(foreign, 403).await;
    for ok in [
        format!("localhost:{}", server.port),
        format!("127.0.0.1:{}", server.port),
    ] {
        assert_eq!(get(ok).await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn cors_headers_only_for_allowed_origins() {
    let server = TestServer::start_with(ServerConfig {
        cors_origins: vec!["http://localhost:5173".into()],
        ..ServerConfig::default()
    })
    .await;
    let with_origin = |origin: &str| {
        server
            .client
            .get(server.url("/v1/models"))
            .header("origin", origin)
            .send()
    };
    let foreign = with_origin("http://evil.example").await.unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let allowed = with_origin("http://localhost:5173").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/chat/completions"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let server = TestServer::start_with(ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let body = json!({
        "model": server.model,
        "messages": [{"role": "user", "content": "x".repeat(4096)}],
    });
    error_of(server.post("/v1/chat/completions", &body).await, 413).await;
}

#[tokio::test]
async fn a_public_address_without_a_key_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let app = hearth_core::App::open_with(
        hearth_core::Config::with_home(home.path()),
        hearth_core::OpenOptions {
            secrets: hearth_core::Secrets::Store(std::sync::Arc::new(
                hearth_secrets::MemoryStore::default(),
            )),
            ..hearth_core::OpenOptions::default()
        },
    )
    .unwrap();
    let refused = hearth_server::bind(
        app,
        ServerConfig {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            ..ServerConfig::default()
        },
    )
    .await;
    assert!(matches!(refused, Err(ServerError::NeedsKey(_))));
}

#[tokio::test]
async fn every_request_is_logged_without_its_key() {
    let server = TestServer::start_with(ServerConfig {
        api_key: Some("sk-log-secret".into()),
        ..ServerConfig::default()
    })
    .await;
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let missing = server
        .client
        .get(server.url("/nowhere?q=1"))
        .header("authorization", "Bearer sk-log-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let refused = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("authorization", "Bearer sk-wrong-secret")
        .json(&server.chat_body("Hi", 2))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let recent = server.log.recent(10);
    let seen: Vec<(&str, &str, u16)> = recent
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/chat/completions", 401),
            ("GET", "/nowhere", 404),
            ("GET", "/health", 200),
        ]
    );
    assert!(recent.iter().all(|r| r.at_ms > 0));
    assert_eq!(server.log.recent(1).len(), 1);
    let stored = format!("{recent:?}");
    assert!(!stored.contains("secret"), "{stored}");
    assert!(!stored.contains("Hi"), "{stored}");
}
