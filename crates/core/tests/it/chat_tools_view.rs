//! The app's side of tools (`view/tools.rs`, `mcp.rs`): MCP servers added,
//! listed and removed through views (secrets never shown), a chat's picks
//! kept across a restart, and turns of a chat with tools through
//! `App::turn_view`: each call shown (`toolApproval`) and waiting for
//! `answer_tool_call`, Stop denying a waiting call, the always-allow list.

use std::sync::{Arc, Mutex};

use hearth_core::hearth_providers::ProviderKind;
use hearth_core::view::{
    ApprovalView, ChatEventView, ConsentView, EnvVarView, McpStatusView, McpTransportView,
    NewMcpServerView, RoleView, TurnRequest,
};
use hearth_core::{App, CoreError, token_name};
use hearth_secrets::{ExposeSecret, SecretStore};
use hearth_store::NewConversation;
use hearth_testkit::providers::{Scripted, ScriptedCall, StandIn, Wire};
use tokio_util::sync::CancellationToken;

use crate::chat_tools::time_server;
use crate::{Home, add_standin, cloud_fallback_chat};

const KEY: &str = "sk-planted-tools-view-key-0042";
const CLOUD: &str = "openai:gpt-4o-mini";

fn stdio(name: &str, command: &str, args: &[&str]) -> NewMcpServerView {
    NewMcpServerView::Stdio {
        name: name.into(),
        command: command.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
    }
}

#[test]
fn servers_are_added_listed_and_removed_and_their_secrets_never_shown() {
    let home = Home::new();
    let app = home.open_for_standins();
    assert!(app.mcp_servers_view().unwrap().is_empty());
    let list = app
        .add_mcp_server_view(NewMcpServerView::Stdio {
            name: "files".into(),
            command: "npx".into(),
            args: vec!["-y".into(), "server-filesystem".into()],
            env: vec![EnvVarView {
                key: "API_KEY".into(),
                value: "env-secret-value-77".into(),
            }],
        })
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].transport,
        McpTransportView::Stdio {
            command: "npx".into(),
            args: vec!["-y".into(), "server-filesystem".into()],
            env_keys: vec!["API_KEY".into()],
        }
    );
    assert_eq!(list[0].status, McpStatusView::NotStarted);
    let list = app
        .add_mcp_server_view(NewMcpServerView::Http {
            name: "remote".into(),
            url: "http://127.0.0.1:9/mcp".into(),
            token: Some("bearer-secret-value-88".into()),
        })
        .unwrap();
    assert_eq!(
        list[1].transport,
        McpTransportView::Http {
            url: "http://127.0.0.1:9/mcp".into(),
            has_token: true
        }
    );
    // The token is a secret like an API key: in the secret store, not in mcp.json.
    let stored = home.secrets.get(&token_name("remote")).unwrap().unwrap();
    assert_eq!(stored.expose_secret(), "bearer-secret-value-88");
    let file = std::fs::read_to_string(home.dir.path().join("mcp.json")).unwrap();
    assert!(!file.contains("bearer-secret-value-88"), "{file}");
    let shown = serde_json::to_string(&app.mcp_servers_view().unwrap()).unwrap();
    assert!(!shown.contains("env-secret-value-77"), "{shown}");
    assert!(!shown.contains("bearer-secret-value-88"), "{shown}");

    // A taken name and a bad one are refused.
    let again = app.add_mcp_server_view(stdio("files", "other", &[]));
    assert!(matches!(again, Err(CoreError::Invalid(_))), "{again:?}");
    assert!(app.add_mcp_server_view(stdio("../x", "cmd", &[])).is_err());
    assert!(app.add_mcp_server_view(stdio("empty", "  ", &[])).is_err());

    // Removing takes the token too.
    let list = app.remove_mcp_server_view("remote").unwrap();
    assert_eq!(list.len(), 1);
    assert!(home.secrets.get(&token_name("remote")).unwrap().is_none());
    assert!(app.remove_mcp_server_view("remote").is_err());
}

#[test]
fn a_claude_desktop_file_is_imported_and_taken_names_are_skipped() {
    let home = Home::new();
    let app = home.open_for_standins();
    app.add_mcp_server_view(stdio("time", "mcp-server-time", &[]))
        .unwrap();
    let file = home.dir.path().join("claude_desktop_config.json");
    std::fs::write(
        &file,
        r#"{"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"]},
            "fetch": {"command": "uvx", "args": ["mcp-server-fetch"]}}}"#,
    )
    .unwrap();
    let report = app.import_mcp_servers_view(&file).unwrap();
    assert_eq!(report.added, ["fetch"]);
    assert_eq!(report.skipped, ["time"]);
    assert_eq!(app.mcp_servers_view().unwrap().len(), 2);
    std::fs::write(&file, "not json").unwrap();
    assert!(app.import_mcp_servers_view(&file).is_err());
}

#[test]
fn a_chats_tools_and_the_always_allow_list_survive_a_restart() {
    let home = Home::new();
    let conv = {
        let app = home.open_for_standins();
        app.add_mcp_server_view(stdio("time", "mcp-server-time", &[]))
            .unwrap();
        let conv = app
            .store()
            .create_conversation(&NewConversation::default())
            .unwrap()
            .id
            .to_string();
        assert!(app.chat_tools_view(&conv).unwrap().is_empty());
        let picks = app
            .set_chat_tools_view(&conv, &["time:get_current_time".into()])
            .unwrap();
        assert_eq!(picks, ["time:get_current_time"]);
        // A server that is not configured, and a malformed pick, are refused.
        assert!(app.set_chat_tools_view(&conv, &["nope".into()]).is_err());
        assert!(app.set_chat_tools_view(&conv, &["time:".into()]).is_err());
        app.set_always_allowed_view("time", "get_current_time", true, None)
            .unwrap();
        conv
    };
    let app = home.open_for_standins();
    assert_eq!(
        app.chat_tools_view(&conv).unwrap(),
        ["time:get_current_time"]
    );
    assert_eq!(app.always_allowed().unwrap(), ["time:get_current_time"]);
    assert!(app.set_chat_tools_view(&conv, &[]).unwrap().is_empty());
    assert!(app.chat_tools_view(&conv).unwrap().is_empty());
    assert!(
        app.set_always_allowed_view("time", "get_current_time", false, None)
            .unwrap()
            .is_empty()
    );
}

struct Chat {
    _home: Home,
    app: App,
    standin: StandIn,
    conv: String,
}

async fn chat_with_time(time: &std::path::Path) -> Chat {
    let standin = StandIn::start(Wire::OpenAi).await;
    standin.expect_key(KEY);
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, "openai", ProviderKind::OpenAi, &standin, KEY);
    let conv = cloud_fallback_chat(&app, CLOUD);
    app.add_mcp_server_view(stdio(
        "time",
        &time.to_string_lossy(),
        &["--local-timezone", "UTC"],
    ))
    .unwrap();
    app.set_chat_tools_view(&conv, &["time".into()]).unwrap();
    Chat {
        _home: home,
        app,
        standin,
        conv,
    }
}

/// Runs a turn, answering each `toolApproval` with `answer` (`None`: Stop).
async fn turn(chat: &Chat, text: &str, answer: Option<ApprovalView>) -> Vec<ChatEventView> {
    turn_in(&chat.app, &chat.conv, text, answer).await
}

async fn turn_in(
    app: &App,
    conv: &str,
    text: &str,
    answer: Option<ApprovalView>,
) -> Vec<ChatEventView> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let cancel = CancellationToken::new();
    let (seen, stop) = (events.clone(), cancel.clone());
    let asked = app.clone();
    app.turn_view(
        TurnRequest::Send {
            conversation_id: conv.to_owned(),
            text: text.into(),
        },
        ConsentView::NotAsked,
        cancel,
        move |event| {
            if let ChatEventView::ToolApproval { call } = &event {
                match answer {
                    Some(answer) => {
                        assert!(asked.answer_tool_call_view(&call.approval_id, answer))
                    }
                    None => stop.cancel(),
                }
            }
            seen.lock().unwrap().push(event);
        },
    )
    .await
    .unwrap();
    events.lock().unwrap().clone()
}

fn approvals(events: &[ChatEventView]) -> Vec<hearth_core::view::PendingCallView> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEventView::ToolApproval { call } => Some(call.clone()),
            _ => None,
        })
        .collect()
}

fn results(events: &[ChatEventView]) -> Vec<hearth_core::view::MessageView> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEventView::ToolResult { message } => Some((**message).clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_shown_before_it_runs_and_runs_once_allowed() {
    let Some(bin) = time_server() else { return };
    let chat = chat_with_time(&bin).await;
    chat.standin.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new(
            "get_current_time",
            r#"{"timezone":"Asia/Tokyo"}"#,
        )],
    });
    chat.standin
        .push_answer(Scripted::Text("It is noon in Tokyo.".into()));
    let events = turn(&chat, "What time is it in Tokyo?", Some(ApprovalView::Once)).await;
    let asked = approvals(&events);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].tool, "get_current_time");
    assert_eq!(asked[0].server, "time");
    assert_eq!(asked[0].arguments, "{\n  \"timezone\": \"Asia/Tokyo\"\n}");
    assert!(!asked[0].description.is_empty());
    let done = results(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].role, RoleView::Tool);
    assert!(
        done[0].content.contains("Asia/Tokyo"),
        "{}",
        done[0].content
    );
    assert_eq!(
        done[0].tool_call_id.as_deref(),
        Some(asked[0].call_id.as_str())
    );

    // The conversation as the app opens it: the call on the answer, its
    // result after it, the final answer last.
    let view = chat.app.conversation_view(&chat.conv).unwrap();
    let roles: Vec<RoleView> = view.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            RoleView::User,
            RoleView::Assistant,
            RoleView::Tool,
            RoleView::Assistant
        ]
    );
    assert_eq!(view.messages[1].tool_calls[0].name, "get_current_time");
    assert_eq!(view.messages[3].content, "It is noon in Tokyo.");
    // Listing the tools now says the server is ready.
    let tools = chat.app.mcp_tools_view("time").await.unwrap();
    assert!(tools.iter().any(|t| t.name == "get_current_time"));
    assert_eq!(
        chat.app.mcp_servers_view().unwrap()[0].status,
        McpStatusView::Ready {
            tools: u32::try_from(tools.len()).unwrap()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_and_stop_never_run_the_call_and_always_allow_never_asks() {
    let Some(bin) = time_server() else { return };
    let chat = chat_with_time(&bin).await;
    let call = || Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new(
            "get_current_time",
            r#"{"timezone":"Asia/Tokyo"}"#,
        )],
    };

    // Deny: the model is told, and answers.
    chat.standin.push_answer(call());
    chat.standin
        .push_answer(Scripted::Text("I may not.".into()));
    let events = turn(&chat, "Time?", Some(ApprovalView::Deny)).await;
    assert_eq!(approvals(&events).len(), 1);
    let done = results(&events);
    assert!(done[0].content.contains("declined"), "{}", done[0].content);
    assert!(!done[0].content.contains("datetime"));

    // Stop while the call waits: it is denied, and no answer follows.
    chat.standin.push_answer(call());
    let events = turn(&chat, "Time again?", None).await;
    assert_eq!(approvals(&events).len(), 1);
    let done = results(&events);
    assert!(done[0].content.contains("declined"), "{}", done[0].content);
    assert!(
        !chat
            .app
            .answer_tool_call_view(&approvals(&events)[0].approval_id, ApprovalView::Once),
        "nothing waits after Stop"
    );
    let view = chat.app.conversation_view(&chat.conv).unwrap();
    assert_eq!(view.messages.last().map(|m| m.role), Some(RoleView::Tool));

    // Allowed for this chat: later answers of the chat do not ask again.
    chat.standin.push_answer(call());
    chat.standin.push_answer(Scripted::Text("Noon.".into()));
    let events = turn(&chat, "Time, please?", Some(ApprovalView::ForThisChat)).await;
    assert_eq!(approvals(&events).len(), 1);
    assert!(results(&events)[0].content.contains("Asia/Tokyo"));
    chat.standin.push_answer(call());
    chat.standin
        .push_answer(Scripted::Text("Still noon.".into()));
    let events = turn(&chat, "Once more?", Some(ApprovalView::Deny)).await;
    assert!(
        approvals(&events).is_empty(),
        "allowed for this chat already"
    );
    assert!(results(&events)[0].content.contains("Asia/Tokyo"));
    // Another chat is asked.
    let other = cloud_fallback_chat(&chat.app, CLOUD);
    chat.app
        .set_chat_tools_view(&other, &["time".into()])
        .unwrap();
    chat.standin.push_answer(call());
    chat.standin.push_answer(Scripted::Text("No.".into()));
    let events = turn_in(&chat.app, &other, "Time?", Some(ApprovalView::Deny)).await;
    assert_eq!(approvals(&events).len(), 1);

    // On the always-allow list: runs without asking.
    chat.app
        .set_always_allowed_view("time", "get_current_time", true, None)
        .unwrap();
    chat.standin.push_answer(call());
    chat.standin.push_answer(Scripted::Text("Noon.".into()));
    let events = turn(&chat, "And now?", Some(ApprovalView::Deny)).await;
    assert!(approvals(&events).is_empty());
    let done = results(&events);
    assert!(
        done[0].content.contains("Asia/Tokyo"),
        "{}",
        done[0].content
    );
}
