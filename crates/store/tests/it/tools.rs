//! Tool use in history: the calls an answer made and each call's result are
//! messages of the tree, kept, searchable, exported and imported.

use hearth_backend::{Role, ToolCall};
use hearth_store::{MessageStatus, NewMessage};

use crate::{Db, conversation, say};

fn result_of(
    store: &hearth_store::Store,
    assistant: &hearth_store::Message,
    call: &str,
    text: &str,
) -> Result<hearth_store::Message, hearth_store::StoreError> {
    store.append_tool_result(
        &NewMessage {
            conversation_id: assistant.conversation_id.clone(),
            parent_id: Some(assistant.id.clone()),
            role: Role::Tool,
            content: text.into(),
            status: MessageStatus::Complete,
            backend: None,
            model: None,
        },
        call,
        None,
    )
}

#[test]
fn calls_and_results_are_kept_in_the_active_path_searched_exported_and_imported() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "Clocks");
    let q = say(
        &store,
        &conv,
        None,
        Role::User,
        "What time is it in Lisbon?",
    );
    let a = say(&store, &conv, Some(&q.id), Role::Assistant, "");
    let call = ToolCall::new(
        "call_1",
        "get_current_time",
        r#"{"timezone":"Europe/Lisbon"}"#,
    );
    let a = store
        .set_tool_calls(&a.id, std::slice::from_ref(&call))
        .unwrap();
    assert_eq!(a.tool_calls, vec![call.clone()]);
    let r = result_of(
        &store,
        &a,
        "call_1",
        r#"{"datetime":"2026-12-06T01:00:00Z"}"#,
    )
    .unwrap();
    assert_eq!(r.role, Role::Tool);
    assert_eq!(r.tool_call_id.as_deref(), Some("call_1"));
    let f = say(
        &store,
        &conv,
        Some(&r.id),
        Role::Assistant,
        "It is 01:00 in Lisbon.",
    );

    // The whole exchange is the active path, with its calls.
    let path = store.active_path(&conv).unwrap();
    let ids: Vec<_> = path.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        ids,
        vec![q.id.clone(), a.id.clone(), r.id.clone(), f.id.clone()]
    );
    assert_eq!(path[1].tool_calls, vec![call.clone()]);
    assert_eq!(path[2].tool_call_id.as_deref(), Some("call_1"));

    // A result answers a call its parent made; nothing else.
    assert!(result_of(&store, &a, "call_2", "x").is_err());
    assert!(result_of(&store, &q, "call_1", "x").is_err());

    // Searchable by tool name, by argument, and by result text.
    let by_name = store.search("get_current_time", 10).unwrap();
    assert_eq!(by_name.len(), 1, "{by_name:?}");
    assert_eq!(by_name[0].message_id, a.id);
    assert_eq!(store.search("Lisbon", 10).unwrap().len(), 3);
    assert_eq!(store.search("datetime", 10).unwrap()[0].message_id, r.id);
    // Changing the calls updates the index.
    store
        .set_tool_calls(&a.id, &[ToolCall::new("call_1", "convert_time", "{}")])
        .unwrap();
    assert!(store.search("get_current_time", 10).unwrap().is_empty());
    assert_eq!(store.search("convert_time", 10).unwrap().len(), 1);
    store
        .set_tool_calls(&a.id, std::slice::from_ref(&call))
        .unwrap();

    // Markdown shows the call and the result.
    let md = store.export_markdown(Some(&conv)).unwrap();
    assert!(md.contains("Called `get_current_time`"), "{md}");
    assert!(md.contains("## Tool"), "{md}");

    // A JSON export brings the calls and results back, byte for byte.
    let json = store.export_json(None).unwrap();
    assert!(json.contains("\"tool_call_id\""), "{json}");
    let other = Db::new();
    let fresh = other.open();
    fresh.import_json(&json).unwrap();
    assert_eq!(fresh.export_json(None).unwrap(), json);
    let path = fresh.active_path(&conv).unwrap();
    assert_eq!(path[1].tool_calls, vec![call]);
    assert_eq!(fresh.search("get_current_time", 10).unwrap().len(), 1);

    // Deleting the answer removes its calls from the index.
    store.delete_message(&a.id).unwrap();
    assert!(store.search("get_current_time", 10).unwrap().is_empty());
}

/// Issue 22: an answer's calls are answered one under another (the second
/// result's parent is the first result), and a failed call's result keeps
/// its error, written with it.
#[test]
fn parallel_calls_are_answered_in_a_chain_and_a_failure_keeps_its_error() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "Two clocks");
    let q = say(&store, &conv, None, Role::User, "Lisbon and Tokyo?");
    let a = say(&store, &conv, Some(&q.id), Role::Assistant, "");
    let calls = [
        ToolCall::new("c1", "get_current_time", r#"{"timezone":"Europe/Lisbon"}"#),
        ToolCall::new("c2", "get_current_time", r#"{"timezone":"Asia/Tokyo"}"#),
    ];
    let a = store.set_tool_calls(&a.id, &calls).unwrap();
    let first = result_of(&store, &a, "c1", "01:00").unwrap();
    let failed = store
        .append_tool_result(
            &NewMessage {
                conversation_id: conv.clone(),
                parent_id: Some(first.id.clone()),
                role: Role::Tool,
                content: "error: the server stopped".into(),
                status: MessageStatus::Error,
                backend: None,
                model: None,
            },
            "c2",
            Some("the server stopped"),
        )
        .unwrap();
    assert_eq!(failed.parent_id.as_ref(), Some(&first.id));
    assert_eq!(failed.tool_call_id.as_deref(), Some("c2"));
    let stored = store.message(&failed.id).unwrap();
    assert_eq!(stored.error.as_deref(), Some("the server stopped"));
    assert_eq!(stored.status, MessageStatus::Error);
    assert_eq!(store.message(&first.id).unwrap().error, None);
    // Under a result, only the calls of the answer above it are answered.
    assert!(result_of(&store, &first, "c3", "x").is_err());
    let path = store.active_path(&conv).unwrap();
    assert_eq!(path.len(), 4);
    assert_eq!(path[3].id, failed.id);
}
