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
