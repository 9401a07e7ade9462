//! Tools in a chat (`App::send_with_tools`): a cloud model (the OpenAI
//! stand-in) calls the real mcp-server-time (installed by `.ci/run`; see
//! `HEARTH_TEST_MCP_DIR`), each call approved first, every step stored.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hearth_backend::Role;
use hearth_core::hearth_providers::ProviderKind;
use hearth_core::{Approval, Approver, ChatEvent, ChatTools, PendingCall, ToolPick, TurnOptions};
use hearth_store::{MessageStatus, NewConversation, PrivacyPolicy};
use hearth_testkit::providers::{Scripted, ScriptedCall, StandIn, Wire};
use hearth_tools::{Limits, McpHost, McpServerConfig, Registry};
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin};

const KEY: &str = "sk-planted-chat-tools-key-0099";
const CLOUD: &str = "openai:gpt-4o-mini";

/// mcp-server-time, or `None` (a failure under `CI=true`) when missing.
#[allow(clippy::print_stderr)] // a skipped test says why
pub(crate) fn time_server() -> Option<PathBuf> {
    let dir = std::env::var_os("HEARTH_TEST_MCP_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/hearth/mcp")))?;
    let bin = dir.join("venv/bin/mcp-server-time");
    if bin.exists() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing; .ci/run installs it",
        bin.display()
    );
    eprintln!("skipped: {} is missing", bin.display());
    None
}

/// Answers every call with `answer`, remembering what it was shown.
struct Recorder {
    answer: Approval,
    asked: Arc<Mutex<Vec<PendingCall>>>,
}

impl Approver for Recorder {
    fn approve<'a>(
        &'a mut self,
        call: &'a PendingCall,
    ) -> Pin<Box<dyn std::future::Future<Output = Approval> + Send + 'a>> {
        self.asked.lock().unwrap().push(call.clone());
        let answer = self.answer;
        Box::pin(async move { answer })
    }
}

struct World {
    _home: Home,
    app: hearth_core::App,
    standin: StandIn,
    host: Arc<McpHost>,
    conv: hearth_store::ConversationId,
}

/// An MCP host for `home` with one server, `time` (mcp-server-time at `bin`,
/// in UTC).
pub(crate) fn time_host(home: &Home, bin: &Path) -> Arc<McpHost> {
    let registry = Registry::in_home(home.dir.path());
    registry
        .add(McpServerConfig::stdio(
            "time",
            bin.to_string_lossy(),
            ["--local-timezone", "UTC"],
        ))
        .unwrap();
    Arc::new(McpHost::new(
        registry,
        Limits::default(),
        Arc::new(|_: &str| None),
    ))
}

async fn world(time_bin: &Path) -> World {
    let standin = StandIn::start(Wire::OpenAi).await;
    standin.expect_key(KEY);
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, "openai", ProviderKind::OpenAi, &standin, KEY);
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            backend: Some(CLOUD.into()),
            privacy: PrivacyPolicy::CloudFallback {
                chain: vec![CLOUD.into()],
            },
            ..NewConversation::default()
        })
        .unwrap()
        .id;
    let host = time_host(&home, time_bin);
    World {
        _home: home,
        app,
        standin,
        host,
        conv,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_approved_run_stored_and_answered_and_bad_arguments_are_told_to_the_model() {
    let Some(bin) = time_server() else { return };
    let w = world(&bin).await;
    w.standin.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new(
            "get_current_time",
            r#"{"timezone": "Asia/Tokyo"}"#,
        )],
    });
    w.standin.push_answer(Scripted::ToolCalls {
        text: "Let me check again.".into(),
        calls: vec![ScriptedCall::new("get_current_time", r#"{"timezone": 3}"#)],
    });
    w.standin
        .push_answer(Scripted::Text("It is morning in Tokyo.".into()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let picks = vec!["time:get_current_time".parse::<ToolPick>().unwrap()];
    let mut tools = ChatTools::connect(w.host.clone(), &picks)
        .await
        .unwrap()
        .approver(Box::new(Recorder {
            answer: Approval::ForThisChat,
            asked: asked.clone(),
        }));
    assert_eq!(tools.specs().len(), 1);
    let mut results = 0;
    let turn = w
        .app
        .send_with_tools(
            &w.conv,
            "What time is it in Tokyo?",
            &TurnOptions::default(),
            &mut tools,
            CancellationToken::new(),
            |event| {
                if let ChatEvent::ToolResult { .. } = event {
                    results += 1;
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(turn.answer.content, "It is morning in Tokyo.");
    assert_eq!(results, 2);
    // The user was shown the call, with its arguments, before it ran.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "allowed for this chat: asked once");
    assert_eq!(asked[0].tool, "get_current_time");
    assert_eq!(asked[0].server, "time");
    assert!(asked[0].arguments.contains("Asia/Tokyo"));

    // Every step is in the conversation, in order.
    let path = w.app.store().active_path(&w.conv).unwrap();
    let roles: Vec<Role> = path.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::Tool,
            Role::Assistant
        ]
    );
    assert_eq!(path[1].tool_calls[0].name, "get_current_time");
    assert_eq!(
        path[2].tool_call_id.as_deref(),
        Some(path[1].tool_calls[0].id.as_str())
    );
    assert_eq!(path[2].status, MessageStatus::Complete);
    assert!(
        path[2].content.contains("Asia/Tokyo"),
        "{}",
        path[2].content
    );
    assert_eq!(path[4].status, MessageStatus::Error);
    // Why it failed is kept with the result (one write).
    assert!(
        path[4]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("`timezone` must be string")),
        "{:?}",
        path[4].error
    );
    assert!(
        path[4].content.contains("`timezone` must be string"),
        "{}",
        path[4].content
    );
    assert_eq!(turn.user_message.as_ref().map(|m| &m.id), Some(&path[0].id));

    // The model was offered the tool and read the result as a tool message.
    let bodies = w.standin.chat_bodies();
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[0]["tools"][0]["function"]["name"],
        "get_current_time"
    );
    let second = &bodies[1]["messages"];
    assert_eq!(second[2]["role"], "tool");
    assert!(
        second[2]["content"]
            .as_str()
            .unwrap()
            .contains("Asia/Tokyo")
    );
    // And it is searchable history.
    assert!(
        !w.app
            .store()
            .search("get_current_time", 5)
            .unwrap()
            .is_empty()
    );
    w.host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_call_does_not_run_and_the_round_cap_ends_in_words() {
    let Some(bin) = time_server() else { return };
    let w = world(&bin).await;
    for _ in 0..2 {
        w.standin.push_answer(Scripted::ToolCalls {
            text: String::new(),
            calls: vec![ScriptedCall::new(
                "get_current_time",
                r#"{"timezone": "Europe/Paris"}"#,
            )],
        });
    }
    w.standin
        .push_answer(Scripted::Text("I could not check.".into()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut tools = ChatTools::connect(w.host.clone(), &["time".parse().unwrap()])
        .await
        .unwrap()
        .approver(Box::new(Recorder {
            answer: Approval::Deny,
            asked: asked.clone(),
        }));
    tools.max_rounds = 2;
    let mut capped = None;
    let turn = w
        .app
        .send_with_tools(
            &w.conv,
            "What time is it in Paris?",
            &TurnOptions::default(),
            &mut tools,
            CancellationToken::new(),
            |event| {
                if let ChatEvent::ToolLimit { rounds } = event {
                    capped = Some(rounds);
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(turn.answer.content, "I could not check.");
    assert_eq!(capped, Some(2));
    assert_eq!(asked.lock().unwrap().len(), 2);
    let path = w.app.store().active_path(&w.conv).unwrap();
    let results: Vec<_> = path.iter().filter(|m| m.role == Role::Tool).collect();
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r.content.contains("declined"), "{}", r.content);
        assert!(
            !r.content.contains("Europe/Paris"),
            "the tool ran: {}",
            r.content
        );
    }
    // After the cap the model is not offered the tools.
    let bodies = w.standin.chat_bodies();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[0].get("tools").is_some());
    let last = &bodies[2];
    assert!(
        last.get("tools").is_none() || last["tool_choice"] == "none",
        "{last}"
    );
    w.host.shutdown().await;
}

/// Issue 22: an answer making two calls at once gets both results, stored
/// one under the other, and the model reads both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_in_one_answer_both_run_and_are_answered_in_order() {
    let Some(bin) = time_server() else { return };
    let w = world(&bin).await;
    w.standin.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![
            ScriptedCall::new("get_current_time", r#"{"timezone": "Asia/Tokyo"}"#),
            ScriptedCall::new("get_current_time", r#"{"timezone": "Europe/Lisbon"}"#),
        ],
    });
    w.standin
        .push_answer(Scripted::Text("Tokyo is ahead.".into()));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut tools = ChatTools::connect(w.host.clone(), &["time".parse().unwrap()])
        .await
        .unwrap()
        .approver(Box::new(Recorder {
            answer: Approval::Once,
            asked: asked.clone(),
        }));
    let turn = w
        .app
        .send_with_tools(
            &w.conv,
            "Tokyo and Lisbon?",
            &TurnOptions::default(),
            &mut tools,
            CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(turn.answer.content, "Tokyo is ahead.");
    assert_eq!(asked.lock().unwrap().len(), 2);
    let path = w.app.store().active_path(&w.conv).unwrap();
    let roles: Vec<Role> = path.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::Assistant
        ]
    );
    let calls = &path[1].tool_calls;
    assert_eq!(calls.len(), 2);
    for (result, (call, zone)) in path[2..4]
        .iter()
        .zip(calls.iter().zip(["Asia/Tokyo", "Europe/Lisbon"]))
    {
        assert_eq!(result.tool_call_id.as_deref(), Some(call.id.as_str()));
        assert_eq!(result.status, MessageStatus::Complete, "{}", result.content);
        assert!(result.content.contains(zone), "{}", result.content);
    }
    let told: Vec<_> = w.standin.chat_bodies()[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .cloned()
        .collect();
    assert_eq!(told.len(), 2);
    w.host.shutdown().await;
}
