//! Tools in a chat on the real local test model (SmolLM2): with
//! `tool_choice: required` the engine forces a call (its arguments generated
//! under the tool's JSON Schema), `App::send_with_tools` runs it on the real
//! mcp-server-time, stores the result as a tool message, and the model then
//! answers. The model's words are not asserted, only the conversation's
//! shape, that every call is one the user offered with arguments its schema
//! takes, and that the server ran it.

use hearth_backend::{Role, ToolChoice};
use hearth_core::{ChatEvent, ChatTools, TurnOptions};
use hearth_store::MessageStatus;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::chat_tools::{time_host, time_server};
use crate::{Home, greedy_conversation};

/// Whether `args` (JSON text) is an object meeting `schema`'s `required`
/// and the types of its properties (what mcp-server-time's schemas use).
fn meets(schema: &Value, args: &str) -> Result<(), String> {
    let args: Value = serde_json::from_str(args).map_err(|e| format!("not JSON: {e}"))?;
    let args = args.as_object().ok_or("not an object")?;
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().ok_or("a required name that is not text")?;
        if !args.contains_key(name) {
            return Err(format!("`{name}` is missing"));
        }
    }
    for (name, value) in args {
        let ok = match schema["properties"][name]["type"].as_str() {
            Some("string") => value.is_string(),
            Some("object") => value.is_object(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !ok {
            return Err(format!("`{name}` has the wrong type: {value}"));
        }
    }
    Ok(())
}

#[test]
fn a_local_model_made_to_call_a_tool_runs_it_reads_the_result_and_answers_issue_22() {
    let Some(bin) = time_server() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let home = Home::new();
    let app = home.open();
    let conv = greedy_conversation(&app, Some("You are a helpful assistant."));
    let host = time_host(&home, &bin);
    let mut tools = runtime
        .block_on(ChatTools::connect(host.clone(), &["time".parse().unwrap()]))
        .unwrap()
        .allow_all(true);
    tools.first_choice = ToolChoice::Required;
    // Later rounds are the model's choice; two rounds at most keep it short.
    tools.max_rounds = 2;
    let specs = tools.specs();
    assert!(specs.len() >= 2, "both of the server's tools: {specs:?}");

    let mut results = 0;
    let turn = runtime
        .block_on(app.send_with_tools(
            &conv,
            "What time is it in Tokyo?",
            &TurnOptions {
                max_tokens: Some(64),
                ..TurnOptions::default()
            },
            &mut tools,
            CancellationToken::new(),
            |event| {
                if let ChatEvent::ToolResult { .. } = event {
                    results += 1;
                }
            },
        ))
        .unwrap();
    runtime.block_on(host.shutdown());

    let path = app.store().active_path(&conv).unwrap();
    let roles: Vec<Role> = path.iter().map(|m| m.role).collect();
    assert!(results >= 1, "{roles:?}");
    // The user's message, then the forced call.
    assert_eq!(roles[..3], [Role::User, Role::Assistant, Role::Tool]);
    let call_answer = &path[1];
    assert_eq!(call_answer.status, MessageStatus::Complete);
    assert!(!call_answer.tool_calls.is_empty(), "required: a call");
    // Each call is answered by a tool message naming it, in order.
    let answers: Vec<_> = path[2..]
        .iter()
        .take_while(|m| m.role == Role::Tool)
        .collect();
    assert_eq!(answers.len(), call_answer.tool_calls.len());
    for (call, answer) in call_answer.tool_calls.iter().zip(&answers) {
        let spec = specs
            .iter()
            .find(|s| s.name == call.name)
            .unwrap_or_else(|| panic!("{} was not offered", call.name));
        let args: Value = serde_json::from_str(&call.arguments)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e})", call.arguments));
        assert!(args.is_object(), "{args}");
        assert_eq!(answer.tool_call_id.as_deref(), Some(call.id.as_str()));
        // The arguments were generated under the schema: they meet it
        // (SmolLM2 once wrote `{"time": …}` for a required `timezone`).
        if let Err(why) = meets(&spec.parameters, &call.arguments) {
            panic!("{}({}): {why}", call.name, call.arguments);
        }
        // The real server ran it: its JSON answer, or its own refusal of a
        // value the schema allows but the server does not know (SmolLM2 has
        // written a list of zones as one `timezone` string).
        match answer.status {
            MessageStatus::Complete => {
                let result: Value = serde_json::from_str(&answer.content)
                    .unwrap_or_else(|e| panic!("not the server's JSON ({e}): {}", answer.content));
                assert!(result.is_object(), "{result}");
            }
            MessageStatus::Error => assert!(
                answer.content.contains("Error executing tool"),
                "{}({}): not the server's answer: {}",
                call.name,
                call.arguments,
                answer.content
            ),
            other => panic!("{}({}): {other:?}", call.name, call.arguments),
        }
    }
    // And the conversation ends in the model's answer in words.
    let last = path.last().unwrap();
    assert_eq!(last.role, Role::Assistant);
    assert!(last.tool_calls.is_empty(), "{last:?}");
    assert_eq!(last.id, turn.answer.id);
    assert_eq!(last.status, MessageStatus::Complete, "{}", last.content);
    assert!(!last.content.trim().is_empty(), "an answer in words");
}
