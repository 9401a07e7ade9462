//! The commands through Tauri's real IPC path, on the mock runtime (no window,
//! no display): arguments in, views or tagged errors out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hearth_core::view::{ErrorKind, ErrorView};
use hearth_core::{App, Config, OpenOptions, Secrets};
use hearth_secrets::MemoryStore;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

fn window(app: Result<App, ErrorView>) -> WebviewWindow<tauri::test::MockRuntime> {
    let app = hearth_desktop::configure(mock_builder(), app)
        .build(mock_context(noop_assets()))
        .unwrap();
    WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap()
}

fn invoke(
    window: &WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
    body: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().unwrap())
}

fn open(home: &std::path::Path) -> App {
    App::open_with(
        Config::with_home(home),
        OpenOptions {
            secrets: Secrets::Store(Arc::new(MemoryStore::default())),
            ..OpenOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn a_failed_start_is_reported_not_blank() {
    let w = window(Err(ErrorView::new(
        ErrorKind::Locked,
        "the database is locked",
    )));
    let startup = invoke(&w, "startup", json!({})).unwrap();
    assert_eq!(startup["kind"], "failed");
    assert_eq!(startup["error"]["kind"], "locked");
    // Every other command says the same, as a tagged error.
    let err = invoke(&w, "list_conversations", json!({})).unwrap_err();
    assert_eq!(err["kind"], "locked");
    assert_eq!(err["message"], "the database is locked");
}

#[test]
#[ignore = "hangs under tauri's mock runtime since the merge of the split commands: startup never sees the app opened on the setup thread; to be found (the real window is covered by cargo xtask e2e)"]
fn the_window_comes_first_and_startup_waits_for_the_data() {
    let (release, opening) = std::sync::mpsc::channel::<()>();
    let home = tempfile::tempdir().unwrap();
    let path = home.path().to_owned();
    let app = hearth_desktop::configure_opening(mock_builder(), move || {
        // Opening waits, as it does on a locked keychain's unlock prompt.
        let _ = opening.recv();
        Ok(open(&path))
    })
    .build(mock_context(noop_assets()))
    .unwrap();
    let w = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    // The window is there and answers while the data is still opening.
    let err = invoke(&w, "list_conversations", json!({})).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("still opening"),
        "{err}"
    );
    release.send(()).unwrap();
    let startup = invoke(&w, "startup", json!({})).unwrap();
    assert_eq!(startup, json!({"kind": "ready", "firstRun": true}));
    assert_eq!(
        invoke(&w, "list_conversations", json!({})).unwrap(),
        json!([])
    );
}

#[test]
fn conversations_round_trip_through_ipc() {
    let home = tempfile::tempdir().unwrap();
    let w = window(Ok(open(home.path())));
    let startup = invoke(&w, "startup", json!({})).unwrap();
    assert_eq!(startup, json!({"kind": "ready", "firstRun": true}));

    let conv = invoke(
        &w,
        "create_conversation",
        json!({"init": {"model": null, "systemPrompt": "Be brief.", "presetId": null}}),
    )
    .unwrap();
    let id = conv["id"].as_str().unwrap().to_owned();
    assert_eq!(conv["systemPrompt"], "Be brief.");

    let renamed = invoke(
        &w,
        "update_conversation",
        json!({"id": id, "patch": {"title": "Bread", "pinned": true}}),
    )
    .unwrap();
    assert_eq!(renamed["title"], "Bread");
    assert_eq!(renamed["pinned"], true);
    let list = invoke(&w, "list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["pinned"], true);

    let view = invoke(&w, "open_conversation", json!({"id": id})).unwrap();
    assert_eq!(view["messages"], json!([]));

    // Bad input is a tagged error, not a panic.
    let err = invoke(&w, "open_conversation", json!({"id": "../../etc/passwd"})).unwrap_err();
    assert_eq!(err["kind"], "notFound");
    let err = invoke(
        &w,
        "run_turn",
        json!({"requestId": "r1", "turn": {"kind": "send", "conversationId": id, "text": "hi"}, "onEvent": "__CHANNEL__:1"}),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "noModel", "{err}");

    invoke(&w, "delete_conversation", json!({"id": id})).unwrap();
    assert_eq!(
        invoke(&w, "list_conversations", json!({})).unwrap(),
        json!([])
    );
}

#[test]
fn settings_and_presets() {
    let home = tempfile::tempdir().unwrap();
    let w = window(Ok(open(home.path())));
    let s = invoke(&w, "update_settings", json!({"patch": {"theme": "dark"}})).unwrap();
    assert_eq!(s["theme"], "dark");
    assert_eq!(s["encrypted"], true);
    let preset = invoke(
        &w,
        "save_preset",
        json!({"preset": {"id": null, "name": "Terse", "systemPrompt": "One line.", "sampling": {"temperature": 0.2, "topK": null, "topP": null, "minP": null, "repeatPenalty": null, "seed": null, "maxTokens": 64}}}),
    )
    .unwrap();
    assert_eq!(preset["version"], 1);
    let presets = invoke(&w, "list_presets", json!({})).unwrap();
    assert_eq!(presets[0]["name"], "Terse");
    let hw = invoke(&w, "hardware", json!({})).unwrap();
    assert!(hw["cores"].as_u64().unwrap() >= 1);
    assert!(hw["ramTotal"].as_u64().unwrap() > 0);
}

#[test]
fn providers_round_trip_with_the_key_masked() {
    let home = tempfile::tempdir().unwrap();
    let w = window(Ok(open(home.path())));
    let key = "sk-test-abcdefghijklmnop1234";
    let added = invoke(
        &w,
        "add_provider",
        json!({"name": "work", "kind": "openai", "baseUrl": null, "key": key}),
    )
    .unwrap();
    assert_eq!(added["name"], "work");
    assert_eq!(added["kind"], "openai");
    assert_eq!(added["breaker"]["state"], "closed");
    let list = invoke(&w, "list_providers", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let masked = list[0]["key"].as_str().unwrap();
    assert!(masked.ends_with("1234"), "{masked}");
    assert!(!masked.contains("abcdefghijklmnop"), "{masked}");
    assert!(!list.to_string().contains(key));
    assert!(!added.to_string().contains(key));
    assert_eq!(list[0]["baseUrl"], "https://api.openai.com/v1");

    // A bad kind is a tagged error that does not echo the key.
    let err = invoke(
        &w,
        "add_provider",
        json!({"name": "x", "kind": "nope", "baseUrl": null, "key": key}),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "invalid");
    assert!(!err.to_string().contains(key));

    // Offline: the test call opens no connection and fails clearly.
    assert_eq!(
        invoke(&w, "set_offline", json!({"offline": true})).unwrap(),
        true
    );
    assert_eq!(invoke(&w, "get_offline", json!({})).unwrap(), true);
    let err = invoke(&w, "test_provider", json!({"name": "work"})).unwrap_err();
    assert!(!err.to_string().contains(key));
    assert_eq!(
        invoke(&w, "network_log", json!({"limit": 10})).unwrap(),
        json!([])
    );
    invoke(&w, "set_offline", json!({"offline": false})).unwrap();

    let stats = invoke(&w, "stats", json!({"since": null})).unwrap();
    assert_eq!(stats["backends"], json!([]));
    let budget = invoke(
        &w,
        "set_budget",
        json!({"budget": {"dailyUsd": 1.5, "monthlyUsd": null}}),
    )
    .unwrap();
    assert_eq!(budget["dailyUsd"], 1.5);
    let err = invoke(
        &w,
        "set_budget",
        json!({"budget": {"dailyUsd": -1.0, "monthlyUsd": null}}),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "invalid");
    invoke(
        &w,
        "set_price",
        json!({"provider": "work", "model": "m", "price": {"input": 1.0, "output": 2.0}}),
    )
    .unwrap();
    let price = invoke(&w, "get_price", json!({"provider": "work", "model": "m"})).unwrap();
    assert_eq!(price["output"], 2.0);
    let r = invoke(
        &w,
        "set_redaction",
        json!({"settings": {"enabled": true, "words": ["Ada"]}}),
    )
    .unwrap();
    assert_eq!(r, json!({"enabled": true, "words": ["Ada"]}));

    // A conversation's policy and cloud model.
    let conv = invoke(
        &w,
        "create_conversation",
        json!({"init": {"model": null, "systemPrompt": null, "presetId": null}}),
    )
    .unwrap();
    assert_eq!(conv["privacy"], json!({"policy": "localOnly"}));
    let id = conv["id"].as_str().unwrap().to_owned();
    let c = invoke(
        &w,
        "update_conversation",
        json!({"id": id, "patch": {"backend": "work:gpt-4o-mini", "privacy": {"policy": "askBeforeCloud", "chain": []}}}),
    )
    .unwrap();
    assert_eq!(c["backend"], "work:gpt-4o-mini");
    assert_eq!(c["privacy"]["policy"], "askBeforeCloud");

    assert_eq!(
        invoke(&w, "remove_provider", json!({"name": "work"})).unwrap(),
        true
    );
    assert_eq!(invoke(&w, "list_providers", json!({})).unwrap(), json!([]));
}

/// One plain HTTP/1.1 GET, answered with the status code.
fn http_get(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap()
}

#[test]
fn the_api_server_starts_logs_and_stops() {
    let home = tempfile::tempdir().unwrap();
    let w = window(Ok(open(home.path())));
    let status = invoke(&w, "server_status", json!({})).unwrap();
    assert_eq!(status["running"], false);
    assert_eq!(status["maskedKey"], Value::Null);

    let status = invoke(
        &w,
        "start_server",
        json!({"options": {"port": 0, "expose": false, "corsOrigins": []}}),
    )
    .unwrap();
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(status["keyRequired"], false);
    let port = u16::try_from(status["port"].as_u64().unwrap()).unwrap();
    assert_eq!(
        status["address"],
        format!("http://127.0.0.1:{port}").as_str()
    );
    assert_eq!(
        invoke(&w, "server_status", json!({})).unwrap()["running"],
        true
    );

    assert_eq!(http_get(port, "/health"), 200);
    assert_eq!(http_get(port, "/nowhere"), 404);
    let log = invoke(&w, "server_log", json!({"limit": 10})).unwrap();
    assert_eq!(log[0]["path"], "/nowhere");
    assert_eq!(log[0]["status"], 404);
    assert_eq!(log[1]["method"], "GET");
    assert_eq!(log[1]["path"], "/health");
    assert_eq!(log[1]["status"], 200);

    // A port in use is a tagged error (a running server is stopped first).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let err = invoke(
        &w,
        "start_server",
        json!({"options": {"port": busy, "expose": false, "corsOrigins": []}}),
    )
    .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");

    let stopped = invoke(&w, "stop_server", json!({})).unwrap();
    assert_eq!(stopped["running"], false);
    assert_eq!(
        invoke(&w, "server_status", json!({})).unwrap()["running"],
        false
    );
    assert_eq!(
        invoke(&w, "server_log", json!({"limit": 10})).unwrap(),
        json!([])
    );

    // The key is created on first ask, then reused; status shows it masked.
    let key = invoke(&w, "server_key", json!({})).unwrap();
    let key = key.as_str().unwrap().to_owned();
    assert!(key.starts_with("hearth-"));
    assert_eq!(invoke(&w, "server_key", json!({})).unwrap(), key.as_str());
    let status = invoke(&w, "server_status", json!({})).unwrap();
    let masked = status["maskedKey"].as_str().unwrap();
    assert!(!masked.contains(&key[7..key.len() - 4]), "{masked}");
}
