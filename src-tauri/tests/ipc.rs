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
