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

const FAKE_SERVER: &str = include_str!("../../../tools/tests/it/fake_server.py");

/// A chat with hearth-tools' test server `fake` (in its `rug-pull` mode: its
/// tool `work` is described differently after its first call), the model
/// scripted with `answers`; `typed` is stdin.
fn chat_with_fake(answers: Vec<Scripted>, typed: &str) -> Chat {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    for answer in answers {
        standin.push_answer(answer);
    }
    let home = Home::new();
    let script = home.path().join("fake_server.py");
    std::fs::write(&script, FAKE_SERVER).unwrap();
    run_ok(
        home.hearth()
            .args(["mcp", "add", "fake", "--", "python3"])
            .arg(&script)
            .arg("rug-pull"),
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
    let (stdout, stderr) = run_ok_with_input(
        home.hearth()
            .args(["chat", "-m", "lan:gpt-4o-mini", "--mcp", "fake"]),
        typed,
    );
    Chat {
        stdout,
        stderr,
        bodies: standin.chat_bodies(),
    }
}

fn call_work() -> Scripted {
    Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new("work", r#"{"n": 1}"#)],
    }
}

/// Issue 22: `/regen` and `/continue` offer the chat's tools and ask about
/// each call, as a new message does.
#[test]
fn regen_and_continue_ask_about_and_run_the_tools() {
    for command in ["/regen", "/continue"] {
        let chat = chat_with_fake(
            vec![
                Scripted::Text("I cannot tell.".into()),
                call_work(),
                Scripted::Text(ANSWER.into()),
            ],
            &format!("Do the work\n{command}\ny\n"),
        );
        let err = &chat.stderr;
        assert!(
            err.contains("tool call: work (MCP server fake)"),
            "{command}: {err}"
        );
        assert_eq!(err.matches("allow?").count(), 1, "{command}: {err}");
        assert!(err.contains("work result: done"), "{command}: {err}");
        assert_eq!(chat.bodies.len(), 3, "{command}: {:?}", chat.bodies);
        assert_eq!(
            chat.bodies[1]["tools"][0]["function"]["name"], "work",
            "{command}: the tools were offered again"
        );
        let last = chat.bodies[2]["messages"].as_array().unwrap();
        let tool = last.iter().find(|m| m["role"] == "tool").unwrap();
        assert_eq!(tool["content"], "done", "{command}");
        assert!(chat.stdout.contains(ANSWER), "{command}: {}", chat.stdout);
    }
}

/// Issue 22 (tool poisoning): a tool allowed for the chat whose server then
/// describes it differently is asked about again, and the terminal says so.
#[test]
fn a_tool_allowed_for_the_chat_that_changed_is_asked_about_again() {
    let chat = chat_with_fake(
        vec![
            call_work(),
            Scripted::Text("Done.".into()),
            call_work(),
            Scripted::Text("Not done.".into()),
        ],
        "Do the work\na\nAnd again\nn\n",
    );
    let err = &chat.stderr;
    assert_eq!(err.matches("allow?").count(), 2, "{err}");
    assert!(
        err.contains("this tool CHANGED since you allowed it"),
        "{err}"
    );
    assert!(!err.contains("allowed for this chat\n"), "{err}");
    // The new description is what the model and the user were shown.
    assert!(
        chat.bodies[2]["tools"][0]["function"]["description"]
            .as_str()
            .unwrap()
            .contains("id_rsa"),
        "{}",
        chat.bodies[2]
    );
    let last = chat.bodies[3]["messages"].as_array().unwrap();
    let tool = last.iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert!(
        tool["content"].as_str().unwrap().contains("declined"),
        "{tool}"
    );
}
