//! `hearth chat --mcp time` as a user types it: the OpenAI stand-in (added
//! as an OpenAI-compatible provider) is scripted to call the real
//! mcp-server-time's `get_current_time`; the user answers the question
//! before the call on the chat's own stdin.

use hearth_testkit::providers::{Scripted, ScriptedCall, StandIn, Wire};
use serde_json::Value;

use crate::mcp::{mcp_dir, time_bin};
use crate::{Home, run_ok, run_ok_with_input};

const ANSWER: &str = "It is morning in Tokyo.";

struct Chat {
    stdout: String,
    stderr: String,
    /// The chat requests the stand-in saw.
    bodies: Vec<Value>,
}

/// A chat with the time server's tools, the model scripted to call
/// `get_current_time` for Tokyo and then answer; `typed` is stdin.
fn chat_with_time(typed: &str, extra: &[&str]) -> Option<Chat> {
    let dir = mcp_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new(
            "get_current_time",
            r#"{"timezone": "Asia/Tokyo"}"#,
        )],
    });
    standin.push_answer(Scripted::Text(ANSWER.into()));
    let home = Home::new();
    run_ok(
        home.hearth()
            .args(["mcp", "add", "time", "--"])
            .arg(time_bin(&dir))
            .args(["--local-timezone", "UTC"]),
    );
    run_ok(
        home.hearth()
            .args([
                "provider",
                "add",
                "compat",
                "--name",
                "lan",
                "--no-key",
                "--base-url",
            ])
            .arg(standin.base_url()),
    );
    // stdin is closed after the script: Ctrl-D.
    let (stdout, stderr) = run_ok_with_input(
        home.hearth()
            .args(["chat", "-m", "lan:gpt-4o-mini", "--mcp", "time"])
            .args(extra),
        typed,
    );
    Some(Chat {
        stdout,
        stderr,
        bodies: standin.chat_bodies(),
    })
}

/// The tool message the model was sent after its call.
fn tool_message(bodies: &[Value]) -> &Value {
    assert_eq!(bodies.len(), 2, "a call, then the answer: {bodies:?}");
    assert_eq!(
        bodies[0]["tools"][0]["function"]["name"], "get_current_time",
        "the tools were offered: {}",
        bodies[0]
    );
    let messages = bodies[1]["messages"].as_array().unwrap();
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    let call = messages
        .iter()
        .find_map(|m| m["tool_calls"].as_array())
        .unwrap();
    assert_eq!(tool["tool_call_id"], call[0]["id"]);
    tool
}

#[test]
fn a_call_answered_yes_runs_its_result_is_shown_and_the_answer_printed() {
    let Some(chat) = chat_with_time("What time is it in Tokyo?\ny\n/tools\n", &[]) else {
        return;
    };
    let err = &chat.stderr;
    // The call was shown with its server and arguments, then asked about.
    let call = err
        .lines()
        .find_map(|l| l.split_once("tool call: get_current_time (MCP server time) "))
        .unwrap_or_else(|| panic!("the call was not shown: {err}"))
        .1;
    let args: Value = serde_json::from_str(call.split("allow?").next().unwrap()).unwrap();
    assert_eq!(args, serde_json::json!({"timezone": "Asia/Tokyo"}));
    assert!(
        err.contains("allow? [y]es once / [a]lways in this chat / [n]o"),
        "{err}"
    );
    // It ran: the real server's answer, folded to one line, and sent back.
    let result = err
        .lines()
        .find(|l| l.contains("get_current_time result:"))
        .unwrap_or_else(|| panic!("no result line: {err}"));
    assert!(
        result.contains(r#""timezone": "Asia/Tokyo""#) && result.contains("datetime"),
        "{result}"
    );
    let tool = tool_message(&chat.bodies);
    let content = tool["content"].as_str().unwrap();
    assert!(content.contains("+09:00"), "{content}");
    assert!(chat.stdout.contains(ANSWER), "{}", chat.stdout);
    // The question took the line after the message; `/tools` came next.
    assert!(
        err.contains("get_current_time (time)\n    Get current time in a specific timezone"),
        "{err}"
    );
}

#[test]
fn a_call_answered_no_never_runs_and_the_model_is_told() {
    let Some(chat) = chat_with_time("What time is it in Tokyo?\nn\n", &[]) else {
        return;
    };
    let err = &chat.stderr;
    assert!(err.contains("tool call: get_current_time"), "{err}");
    assert!(err.contains("denied"), "{err}");
    let tool = tool_message(&chat.bodies);
    let content = tool["content"].as_str().unwrap();
    assert!(content.contains("declined"), "{content}");
    assert!(!content.contains("+09:00"), "the tool ran: {content}");
    assert!(chat.stdout.contains(ANSWER), "{}", chat.stdout);
}

#[test]
fn allow_tools_runs_calls_without_asking_and_still_shows_them() {
    let Some(chat) = chat_with_time("What time is it in Tokyo?\n", &["--allow-tools"]) else {
        return;
    };
    let err = &chat.stderr;
    assert!(err.contains("tool call: get_current_time"), "{err}");
    assert!(err.contains("allowed (--allow-tools)"), "{err}");
    assert!(!err.contains("allow?"), "{err}");
    let tool = tool_message(&chat.bodies);
    assert!(tool["content"].as_str().unwrap().contains("+09:00"));
    assert!(chat.stdout.contains(ANSWER), "{}", chat.stdout);
}
