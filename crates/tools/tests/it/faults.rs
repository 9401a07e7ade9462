//! Servers that crash, hang, write garbage or answer too much: each a clear
//! error (or a capped result), never a hang, and the next use works again.

use hearth_tools::{Limits, McpServerConfig, ToolsError};
use serde_json::json;

use crate::support::{fake_server, host_with, short_limits};

#[tokio::test]
async fn a_server_that_crashes_mid_call_is_a_clear_error_and_restarts_on_next_use() {
    let scripts = tempfile::tempdir().unwrap();
    let t = host_with(
        vec![fake_server(scripts.path(), "crashy", "crash-once")],
        short_limits(),
    );
    let err = t.host.call("crashy", "work", json!({})).await.unwrap_err();
    assert!(matches!(err, ToolsError::Crashed { .. }), "{err}");
    assert!(err.to_string().contains("out of cheese"), "{err}");
    assert!(err.is_retryable());
    let answer = t
        .host
        .call("crashy", "work", json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(answer.text, "done after a restart");
    assert!(!answer.is_error && !answer.truncated);
}

#[tokio::test]
async fn a_server_that_hangs_is_stopped_after_the_call_timeout_and_started_again() {
    let scripts = tempfile::tempdir().unwrap();
    let t = host_with(
        vec![fake_server(scripts.path(), "stuck", "hang")],
        short_limits(),
    );
    let err = t.host.call("stuck", "work", json!({})).await.unwrap_err();
    assert!(
        matches!(
            err,
            ToolsError::Timeout {
                what: "the tool call",
                ..
            }
        ),
        "{err}"
    );
    // A fresh process answers what does not hang.
    let tools = t.host.list_tools("stuck").await.unwrap();
    assert_eq!(tools[0].name, "work");
}

#[tokio::test]
async fn a_server_that_writes_garbage_at_start_is_a_clear_error() {
    let scripts = tempfile::tempdir().unwrap();
    let t = host_with(
        vec![fake_server(scripts.path(), "chatty", "garbage")],
        short_limits(),
    );
    let err = t.host.list_tools("chatty").await.unwrap_err();
    let ToolsError::Garbage { sample, .. } = &err else {
        panic!("expected garbage, got {err}")
    };
    assert_eq!(sample, "Welcome to my server! Type help for help.");
}

#[tokio::test]
async fn a_server_that_writes_garbage_during_a_call_is_a_clear_error() {
    let scripts = tempfile::tempdir().unwrap();
    let t = host_with(
        vec![fake_server(scripts.path(), "broken", "garbage-on-call")],
        short_limits(),
    );
    let err = t.host.call("broken", "work", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, ToolsError::Garbage { sample, .. } if sample.starts_with("Traceback")),
        "{err}"
    );
}

#[tokio::test]
async fn a_huge_result_is_capped_and_says_so() {
    let scripts = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_result_bytes: 1000,
        ..short_limits()
    };
    let t = host_with(vec![fake_server(scripts.path(), "big", "huge")], limits);
    let answer = t.host.call("big", "work", json!({})).await.unwrap();
    assert!(answer.truncated);
    let (kept, note) = answer.text.split_once('\n').unwrap();
    assert_eq!(kept, "x".repeat(1000));
    assert!(note.contains("truncated by Hearth"), "{note}");
    assert!(note.contains("2000000 bytes"), "{note}");
}

#[tokio::test]
async fn unknown_servers_commands_and_tools_are_clear_errors() {
    let scripts = tempfile::tempdir().unwrap();
    let t = host_with(
        vec![
            McpServerConfig::stdio("nowhere", "/nonexistent/mcp-server", ["x"]),
            fake_server(scripts.path(), "fake", "huge"),
        ],
        short_limits(),
    );
    let err = t.host.list_tools("absent").await.unwrap_err();
    assert!(matches!(err, ToolsError::UnknownServer { .. }), "{err}");
    let err = t.host.list_tools("nowhere").await.unwrap_err();
    assert!(matches!(err, ToolsError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/mcp-server"), "{err}");
    let err = t.host.call("fake", "nope", json!({})).await.unwrap_err();
    assert!(matches!(err, ToolsError::UnknownTool { .. }), "{err}");
    let err = t
        .host
        .call("fake", "work", json!({"n": "three"}))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolsError::InvalidArgs { .. }), "{err}");
    let err = t
        .host
        .call("fake", "work", json!([1, 2]))
        .await
        .unwrap_err();
    assert!(matches!(err, ToolsError::InvalidArgs { .. }), "{err}");
}

#[tokio::test]
async fn an_http_server_that_needs_a_missing_token_says_which_variable() {
    let mut server = McpServerConfig::http("remote", "http://127.0.0.1:9/mcp");
    if let hearth_tools::McpTransport::Http {
        bearer_token_env, ..
    } = &mut server.transport
    {
        *bearer_token_env = Some("HEARTH_TEST_NO_SUCH_TOKEN".to_owned());
    }
    let t = host_with(vec![server], short_limits());
    let err = t.host.list_tools("remote").await.unwrap_err();
    assert!(matches!(err, ToolsError::MissingToken { .. }), "{err}");
    assert!(
        err.to_string().contains("HEARTH_TEST_NO_SUCH_TOKEN"),
        "{err}"
    );
}

#[tokio::test]
async fn an_http_server_that_is_not_there_is_a_connect_error() {
    // Port 9 (discard) on this machine: nothing listens.
    let t = host_with(
        vec![McpServerConfig::http("gone", "http://127.0.0.1:9/mcp")],
        short_limits(),
    );
    let err = t.host.list_tools("gone").await.unwrap_err();
    let ToolsError::Connect { reason, .. } = &err else {
        panic!("expected a connect error, got {err}")
    };
    // The cause, not rmcp's type names.
    assert!(!reason.contains("rmcp::"), "{reason}");
}

#[tokio::test]
async fn the_offline_switch_refuses_remote_http_servers_only() {
    let dir = tempfile::tempdir().unwrap();
    let registry = hearth_tools::Registry::in_home(dir.path());
    registry
        .add(McpServerConfig::http(
            "remote",
            "https://mcp.example.com/mcp",
        ))
        .unwrap();
    registry
        .add(McpServerConfig::http("local", "http://127.0.0.1:9/mcp"))
        .unwrap();
    let host = hearth_tools::McpHost::new(
        registry,
        short_limits(),
        std::sync::Arc::new(|_: &str| None),
    )
    .offline(true);
    let err = host.list_tools("remote").await.unwrap_err();
    assert!(
        matches!(
            err,
            ToolsError::Offline { .. } | ToolsError::InvalidConfig { .. }
        ),
        "{err}"
    );
    registry_add_http(&host, "plain-remote", "http://mcp.example.com/mcp");
    let err = host.list_tools("plain-remote").await.unwrap_err();
    assert!(matches!(err, ToolsError::Offline { .. }), "{err}");
    // This machine's server is tried (and is not there).
    let err = host.list_tools("local").await.unwrap_err();
    assert!(matches!(err, ToolsError::Connect { .. }), "{err}");
}

fn registry_add_http(host: &hearth_tools::McpHost, name: &str, url: &str) {
    host.registry()
        .add(McpServerConfig::http(name, url))
        .unwrap();
}

#[tokio::test]
async fn https_servers_are_refused_plainly_for_now() {
    let t = host_with(
        vec![McpServerConfig::http("tls", "https://127.0.0.1:9/mcp")],
        short_limits(),
    );
    let err = t.host.list_tools("tls").await.unwrap_err();
    assert!(
        matches!(&err, ToolsError::InvalidConfig { reason, .. } if reason.contains("https")),
        "{err}"
    );
}
