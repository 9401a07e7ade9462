//! Real third-party MCP servers, offline: mcp-server-time (PyPI),
//! server-filesystem and server-everything (npm).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_tools::{HttpExchange, Limits, McpServerConfig, ToolsError};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{Servers, host_with};

#[tokio::test]
async fn mcp_server_time_lists_its_tools_and_tells_the_time() {
    let Some(servers) = Servers::find() else {
        return;
    };
    let t = host_with(
        vec![McpServerConfig::stdio(
            "time",
            servers.time_bin().display().to_string(),
            ["--local-timezone", "UTC"],
        )],
        Limits::default(),
    );
    let tools = t.host.list_tools("time").await.unwrap();
    let get = tools.iter().find(|t| t.name == "get_current_time").unwrap();
    assert!(!get.description.is_empty());
    assert_eq!(get.input_schema["type"], "object");
    let answer = t
        .host
        .call(
            "time",
            "get_current_time",
            json!({"timezone": "Europe/Paris"}),
        )
        .await
        .unwrap();
    assert!(!answer.is_error, "{}", answer.text);
    assert!(answer.text.contains("Europe/Paris"), "{}", answer.text);
    // Checked before the call: the schema requires `timezone`.
    let err = t
        .host
        .call("time", "get_current_time", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolsError::InvalidArgs { reason, .. } if reason.contains("timezone")),
        "{err}"
    );
    // The server's own refusal comes back as an error result or a server error.
    match t
        .host
        .call(
            "time",
            "get_current_time",
            json!({"timezone": "Mars/Olympus"}),
        )
        .await
    {
        Ok(answer) => assert!(answer.is_error, "{}", answer.text),
        Err(err) => assert!(matches!(err, ToolsError::Server { .. }), "{err}"),
    }
}

#[tokio::test]
async fn server_filesystem_reads_inside_its_root_caps_big_files_and_refuses_outside() {
    let Some(servers) = Servers::find() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    std::fs::write(root_path.join("hello.txt"), "hello from a file").unwrap();
    std::fs::write(root_path.join("big.txt"), "y".repeat(300_000)).unwrap();
    let t = host_with(
        vec![McpServerConfig::stdio(
            "fs",
            "node",
            [
                servers.filesystem_js().display().to_string(),
                root_path.display().to_string(),
            ],
        )],
        Limits {
            max_result_bytes: 10_000,
            ..Limits::default()
        },
    );
    let tools = t.host.list_tools("fs").await.unwrap();
    assert!(tools.iter().any(|t| t.name == "read_text_file"));
    let listing = t
        .host
        .call("fs", "list_directory", json!({"path": root_path}))
        .await
        .unwrap();
    assert!(listing.text.contains("hello.txt"), "{}", listing.text);
    let file = t
        .host
        .call(
            "fs",
            "read_text_file",
            json!({"path": root_path.join("hello.txt")}),
        )
        .await
        .unwrap();
    assert_eq!(file.text, "hello from a file");
    let big = t
        .host
        .call(
            "fs",
            "read_text_file",
            json!({"path": root_path.join("big.txt")}),
        )
        .await
        .unwrap();
    assert!(big.truncated);
    assert!(big.text.starts_with(&"y".repeat(10_000)));
    assert!(big.text.contains("truncated by Hearth"));
    let outside = t
        .host
        .call("fs", "read_text_file", json!({"path": "/etc/hostname"}))
        .await
        .unwrap();
    assert!(outside.is_error, "{}", outside.text);
}

#[tokio::test]
async fn server_everything_over_streamable_http_echoes() {
    let Some(servers) = Servers::find() else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new("node")
        .arg(servers.everything_js())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // It says on stderr when it listens.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(listening, "server-everything did not start");
    let t = host_with(
        vec![McpServerConfig::http(
            "everything",
            format!("http://127.0.0.1:{port}/mcp"),
        )],
        Limits::default(),
    );
    // Every exchange is reported for the network ledger.
    let seen: Arc<Mutex<Vec<HttpExchange>>> = Arc::default();
    let log = seen.clone();
    let host = t.host.observe_http(Arc::new(move |e: &HttpExchange| {
        log.lock().unwrap().push(e.clone())
    }));
    let tools = host.list_tools("everything").await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    let answer = host
        .call("everything", "echo", json!({"message": "over http"}))
        .await
        .unwrap();
    assert!(answer.text.contains("over http"), "{}", answer.text);
    let seen = seen.lock().unwrap().clone();
    let whats: Vec<&str> = seen.iter().map(|e| e.what).collect();
    assert_eq!(whats, ["connect", "tool list", "tool call"], "{seen:?}");
    for e in &seen {
        assert_eq!(e.server, "everything");
        assert_eq!(e.host, "127.0.0.1");
        assert!(e.ok, "{e:?}");
    }
    assert!(seen[1].bytes_received > 0, "{seen:?}");
    assert_eq!(
        seen[2].bytes_sent,
        json!({"message": "over http"}).to_string().len() as u64
    );
    assert!(seen[2].bytes_received > 0, "{seen:?}");
    host.shutdown().await;
    child.kill().await.unwrap();
}
