//! Issue 19: web pages, clients and model files that attack the user through
//! the API. Each test is named after what it stops.

use std::time::Duration;

use hearth_server::ServerConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{TestServer, error_of};

/// No usage record was written: nothing was generated.
fn nothing_generated(server: &TestServer) {
    let usage = server.app.store().usage_records(None).unwrap();
    assert!(usage.is_empty(), "a generation ran: {usage:?}");
}

#[tokio::test]
async fn a_request_from_a_page_not_on_the_allow_list_is_refused_before_any_work() {
    let server = TestServer::start_with(ServerConfig {
        cors_origins: vec!["http://localhost:5173".into()],
        ..ServerConfig::default()
    })
    .await;
    // The "simple" request a page can send without a preflight: text/plain.
    let body = server.chat_body("Hi", 4).to_string();
    let simple = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let error = error_of(simple, 403).await;
    assert!(
        error["message"].as_str().unwrap().contains("--cors-origin"),
        "{error}"
    );
    assert!(
        server
            .client
            .post(server.url("/v1/chat/completions"))
            .header("origin", "http://evil.example")
            .json(&server.chat_body("Hi", 4))
            .send()
            .await
            .unwrap()
            .status()
            == 403
    );
    // Reading is refused too, and `null` (sandboxed frames, files) is no origin.
    for origin in ["http://evil.example", "null", "http://localhost:5174"] {
        let models = server
            .client
            .get(server.url("/v1/models"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(models.status(), 403, "{origin}");
        assert!(
            models
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }
    // A preflight from such a page is refused as well.
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/chat/completions"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    // Browsers say where requests without an Origin come from (an <img>, a
    // link followed from another site).
    let img = server
        .client
        .get(server.url("/v1/models"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(img.status(), 403);
    nothing_generated(&server);

    // The allowed page, and clients that are not browsers, are served.
    let allowed = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("origin", "http://localhost:5173")
        .json(&server.chat_body("Hi", 2))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    for site in [None, Some("none"), Some("same-origin")] {
        let mut request = server.client.get(server.url("/v1/models"));
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        assert_eq!(request.send().await.unwrap().status(), 200, "{site:?}");
    }
}

#[tokio::test]
async fn generation_routes_take_json_only() {
    let server = TestServer::start().await;
    let body = server.chat_body("Hi", 2).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        None,
    ] {
        for route in ["/v1/chat/completions", "/v1/completions"] {
            let mut request = server.client.post(server.url(route)).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let error = error_of(request.send().await.unwrap(), 415).await;
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .contains("application/json"),
                "{error}"
            );
        }
    }
    nothing_generated(&server);
    let ok = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// The message clients see for a model they may not use.
async fn not_found_message(server: &TestServer, model: &str) -> String {
    let mut body = server.chat_body("Hi", 2);
    body["model"] = json!(model);
    let error = error_of(server.post("/v1/chat/completions", &body).await, 404).await;
    assert_eq!(error["code"], "model_not_found", "{model}: {error}");
    error["message"].as_str().unwrap().replace(model, "MODEL")
}

#[tokio::test]
async fn models_are_named_by_library_id_and_paths_tell_nothing() {
    let server = TestServer::start().await;
    let outside = tempfile::tempdir().unwrap();
    let gguf = outside.path().join("real.gguf");
    std::fs::copy(hearth_testkit::models::smollm2(), &gguf).unwrap();
    let existing_gguf = gguf.display().to_string();
    let missing = outside.path().join("missing.gguf").display().to_string();
    let cargo_toml = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let messages: Vec<String> = futures_util::future::join_all(
        [
            "no-such-model",
            existing_gguf.as_str(),
            missing.as_str(),
            "/etc/passwd",
            cargo_toml,
            "../../../../../etc/passwd",
            "Cargo.toml",
        ]
        .map(|model| not_found_message(&server, model)),
    )
    .await;
    assert!(
        messages.iter().all(|m| m == &messages[0]),
        "the answers differ: {messages:#?}"
    );
    nothing_generated(&server);
    // The library id and a unique prefix of it work.
    let prefix = &server.model[..6];
    for model in [server.model.as_str(), prefix] {
        let mut body = server.chat_body("Hi", 2);
        body["model"] = json!(model);
        assert_eq!(
            server.post("/v1/chat/completions", &body).await.status(),
            200
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn paths_work_only_inside_the_folders_the_user_allowed() {
    let allowed = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let inside = allowed.path().join("model.gguf");
    std::os::unix::fs::symlink(
        hearth_testkit::models::smollm2(),
        outside.path().join("x.gguf"),
    )
    .unwrap();
    std::fs::copy(hearth_testkit::models::smollm2(), &inside).unwrap();
    // A link inside the allowed folder that leads out of it.
    std::os::unix::fs::symlink(
        outside.path().join("x.gguf"),
        allowed.path().join("link.gguf"),
    )
    .unwrap();
    let server = TestServer::start_with(ServerConfig {
        allow_model_dirs: vec![allowed.path().to_path_buf()],
        ..ServerConfig::default()
    })
    .await;
    let mut body = server.chat_body("Hi", 2);
    body["model"] = json!(inside.display().to_string());
    assert_eq!(
        server.post("/v1/chat/completions", &body).await.status(),
        200
    );
    let escape = format!("{}/../{}", allowed.path().display(), "x.gguf");
    let refused = [
        outside.path().join("x.gguf").display().to_string(),
        allowed.path().join("link.gguf").display().to_string(),
        escape,
    ];
    let first = not_found_message(&server, &refused[0]).await;
    for model in &refused[1..] {
        assert_eq!(not_found_message(&server, model).await, first, "{model}");
    }
}

#[tokio::test]
async fn a_folder_that_does_not_exist_cannot_be_allowed() {
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
            port: 0,
            allow_model_dirs: vec![home.path().join("nowhere")],
            ..ServerConfig::default()
        },
    )
    .await;
    assert!(
        matches!(refused, Err(hearth_server::ServerError::ModelDirs(_))),
        "{refused:?}"
    );
}

/// Reads until the server closes the connection (`None`: it did not within
/// a minute, which only guards against a hang).
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = TestServer::start_with(ServerConfig {
        header_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slow).await.is_some(),
        "the server kept waiting for the rest of the headers"
    );
    // An idle keep-alive connection is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    idle.write_all(
        format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            server.port
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = closed_by_server(&mut idle)
        .await
        .expect("the idle connection stayed open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_one() {
    let server = TestServer::start_with(ServerConfig {
        max_connections: 1,
        header_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    })
    .await;
    // One silent client takes the only connection...
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    // ...so a request is answered only after the server dropped it.
    let request = tokio::spawn({
        let url = server.url("/health");
        let client = server.client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    });
    // Halfway through the silent client's header timeout it still holds the
    // cap, so the request cannot have been answered yet.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !request.is_finished(),
        "a second connection was served while the cap was taken"
    );
    assert!(closed_by_server(&mut silent).await.is_some());
    assert_eq!(request.await.unwrap(), 200);
}

#[tokio::test]
async fn a_generation_is_stopped_at_the_time_limit() {
    let server = TestServer::start_with(ServerConfig {
        max_generation: Some(Duration::from_millis(200)),
        ..ServerConfig::default()
    })
    .await;
    let body = server.chat_body("Count from 1 to 5000, separated by commas.", 4000);
    let answer: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "length", "{answer}");
    assert!(
        answer["usage"]["completion_tokens"].as_u64().unwrap() < 4000,
        "{answer}"
    );
}

/// The bomb from issue 19: a string doubled inside two nested
/// `range(100000)` loops (it took `hearth run` to 4 GiB and an abort).
pub(crate) const TEMPLATE_BOMB: &str = "{% set ns = namespace(s='x') %}\
    {% for i in range(100000) %}{% for j in range(100000) %}\
    {% set ns.s = ns.s + ns.s %}{% endfor %}{% endfor %}{{ ns.s }}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_bomb_fails_fast_and_the_server_keeps_answering() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bomb = hearth_testkit::models::smollm2_with_template(dir.path(), TEMPLATE_BOMB);
    let bomb_id = server.app.models().import(&bomb, false).unwrap().id;
    let mut body = server.chat_body("Hi", 4);
    body["model"] = json!(bomb_id);
    let (bombed, health, models) = tokio::join!(
        server.post("/v1/chat/completions", &body),
        server.client.get(server.url("/health")).send(),
        server.client.get(server.url("/v1/models")).send(),
    );
    let error = error_of(bombed, 500).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("chat template is too expensive"),
        "{error}"
    );
    assert_eq!(health.unwrap().status(), 200);
    assert_eq!(models.unwrap().status(), 200);
    // The model lock was given back: the good model still answers.
    let good = server
        .post("/v1/chat/completions", &server.chat_body("Hi", 2))
        .await;
    assert_eq!(good.status(), 200);
}
