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
