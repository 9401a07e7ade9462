//! `hearth mcp` as a user types it, against the real mcp-server-time and
//! server-filesystem (installed by `.ci/run`; see `HEARTH_TEST_MCP_DIR`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Home, run_ok, texts};

/// The folder holding the test MCP servers (`venv/`, `npm/node_modules/`),
/// or `None` with the reason printed. Under CI (`CI=true`) missing servers
/// fail the test.
#[allow(clippy::print_stderr)] // a skipped test says why
pub(crate) fn mcp_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HEARTH_TEST_MCP_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hearth/mcp")))?;
    let needed = [time_bin(&dir), filesystem_js(&dir)];
    match needed.iter().find(|p| !p.exists()) {
        None => Some(dir),
        Some(missing) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{} is missing; .ci/run installs the MCP test servers and sets HEARTH_TEST_MCP_DIR",
                missing.display()
            );
            eprintln!(
                "skipped: {} is missing (run .ci/run or set HEARTH_TEST_MCP_DIR)",
                missing.display()
            );
            None
        }
    }
}

pub(crate) fn time_bin(dir: &Path) -> PathBuf {
    dir.join("venv/bin/mcp-server-time")
}

fn filesystem_js(dir: &Path) -> PathBuf {
    dir.join("npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js")
}

#[test]
fn add_list_tools_call_and_rm_a_stdio_server() {
    let Some(dir) = mcp_dir() else { return };
    let home = Home::new();
    run_ok(
        home.hearth()
            .args(["mcp", "add", "time", "--env", "SOME_KEY=hidden-value", "--"])
            .arg(time_bin(&dir))
            .args(["--local-timezone", "UTC"]),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("mcp.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (list, _) = run_ok(home.hearth().args(["mcp", "list"]));
    assert!(list.starts_with("time\tstdio\t"), "{list}");
    assert!(list.contains("(env: SOME_KEY)"), "{list}");
    assert!(!list.contains("hidden-value"), "{list}");

    let (tools, _) = run_ok(home.hearth().args(["mcp", "tools", "time", "--json"]));
    let tools: Value = serde_json::from_str(&tools).unwrap();
    let get = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "get_current_time")
        .unwrap();
    assert_eq!(get["input_schema"]["required"][0], "timezone");
    let (human, _) = run_ok(home.hearth().args(["mcp", "tools", "time"]));
    assert!(human.contains("get_current_time\n"), "{human}");
    assert!(human.contains("args: timezone: string"), "{human}");

    let (answer, _) = run_ok(home.hearth().args([
        "mcp",
        "call",
        "time",
        "get_current_time",
        "--args",
        r#"{"timezone": "Asia/Tokyo"}"#,
    ]));
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["timezone"], "Asia/Tokyo");

    // Bad input: clear errors, non-zero exit.
    for (args, expected) in [
        ("{}", "missing required property `timezone`"),
        ("not json", "--args is not JSON"),
        (r#"{"timezone": 3}"#, "`timezone` must be string"),
    ] {
        let out = home
            .hearth()
            .args(["mcp", "call", "time", "get_current_time", "--args", args])
            .output()
            .unwrap();
        let (_, stderr) = texts(&out);
        assert!(!out.status.success(), "{args}");
        assert!(stderr.contains(expected), "{args}: {stderr}");
    }
    let out = home
        .hearth()
        .args(["mcp", "call", "time", "no_such_tool"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("has no tool `no_such_tool`"));

    run_ok(home.hearth().args(["mcp", "rm", "time"]));
    let out = home.hearth().args(["mcp", "rm", "time"]).output().unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("no MCP server named `time`"));
    let (list, _) = run_ok(home.hearth().args(["mcp", "list"]));
    assert!(list.is_empty(), "{list}");
}

#[test]
fn a_claude_desktop_file_is_imported_and_its_filesystem_server_works() {
    let Some(dir) = mcp_dir() else { return };
    let home = Home::new();
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().canonicalize().unwrap();
    std::fs::write(root_path.join("note.txt"), "remember the milk").unwrap();
    let file = home.path().join("claude_desktop_config.json");
    let config = serde_json::json!({"mcpServers": {
        "files": {"command": "node", "args": [filesystem_js(&dir), root_path]},
        "remote": {"url": "https://mcp.example.com/mcp"}
    }});
    std::fs::write(&file, config.to_string()).unwrap();
    let (out, _) = run_ok(home.hearth().args(["mcp", "import"]).arg(&file));
    assert_eq!(out, "added files\nadded remote\n");
    // A second import changes nothing.
    let (out, err) = run_ok(home.hearth().args(["mcp", "import"]).arg(&file));
    assert_eq!(out, "");
    assert!(err.contains("skipped files"), "{err}");

    let (text, _) = run_ok(
        home.hearth()
            .args(["mcp", "call", "files", "read_text_file", "--args"])
            .arg(serde_json::json!({"path": root_path.join("note.txt")}).to_string()),
    );
    assert_eq!(text, "remember the milk\n");
    let out = home
        .hearth()
        .args(["mcp", "call", "files", "read_text_file", "--json", "--args"])
        .arg(r#"{"path": "/etc/passwd"}"#)
        .output()
        .unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("reported an error"), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["is_error"], true);

    // Offline: the remote server is refused before any connection.
    run_ok(home.hearth().args(["network", "offline"]));
    let out = home
        .hearth()
        .args(["mcp", "tools", "remote"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        texts(&out).1.contains("Hearth is offline"),
        "{:?}",
        texts(&out)
    );
}

#[test]
fn add_refuses_bad_names_and_missing_commands() {
    let home = Home::new();
    for args in [
        &["mcp", "add", "bad name", "--", "x"][..],
        &["mcp", "add", "nothing"][..],
        &["mcp", "add", "web", "--url", "ftp://x"][..],
    ] {
        let out = home.hearth().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!texts(&out).1.is_empty(), "{args:?}");
    }
    assert!(!home.path().join("mcp.json").exists());
    run_ok(home.hearth().args([
        "mcp",
        "add",
        "web",
        "--url",
        "http://127.0.0.1:9/mcp",
        "--bearer-token-env",
        "HEARTH_TEST_MCP_TOKEN",
    ]));
    let (list, _) = run_ok(home.hearth().args(["mcp", "list", "--json"]));
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["bearer_token_env"], "HEARTH_TEST_MCP_TOKEN");
    let out = home
        .hearth()
        .env_remove("HEARTH_TEST_MCP_TOKEN")
        .args(["mcp", "tools", "web"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("HEARTH_TEST_MCP_TOKEN"));
}
