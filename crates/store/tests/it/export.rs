use hearth_backend::Role;
use hearth_store::{
    Citation, DbKey, MessageFinish, MessageMetrics, MessageStatus, Store, StoreError,
};

use crate::{Db, conversation, say};

fn filled() -> (Db, Store) {
    let db = Db::new();
    let store = db.open();
    for c in 0..3 {
        let conv = conversation(&store, &format!("Chat {c} — ünïcödé ✓"));
        let q = say(
            &store,
            &conv,
            None,
            Role::User,
            &format!("question {c}\nwith \"quotes\""),
        );
        let a = say(&store, &conv, Some(&q.id), Role::Assistant, "an answer");
        // Metrics with floats that only survive a bit-exact round trip.
        store
            .finish_message(
                &a.id,
                &MessageFinish {
                    content: "an answer".into(),
                    status: MessageStatus::Complete,
                    metrics: MessageMetrics {
                        tokens_in: Some(27),
                        tokens_out: Some(7),
                        prompt_tokens_reused: Some(0),
                        ttft_ms: Some(1910.7770189999999),
                        decode_tok_s: Some(10.0 / 3.0),
                        latency_ms: Some(0.1 + 0.2),
                        cost_usd: Some(1e-7),
                    },
                    error: None,
                    fallback_reason: Some("local model too slow".into()),
                    backend: Some("local".into()),
                    model: Some("m".into()),
                },
            )
            .unwrap();
        store
            .record_citations(
                &a.id,
                &[Citation {
                    n: 1,
                    collection: "notes".into(),
                    source: "/docs/contract.md".into(),
                    heading: Some("Termination".into()),
                    page: None,
                    chunk_id: Some(3),
                    snippet: "Either party may end".into(),
                    mode: "retrieval".into(),
                }],
            )
            .unwrap();
        say(
            &store,
            &conv,
            Some(&q.id),
            Role::Assistant,
            "a regenerated answer",
        );
        store.switch_branch(&a.id).unwrap();
    }
    (db, store)
}

#[test]
fn export_import_export_is_byte_identical() {
    let (_db, store) = filled();
    let first = store.export_json(None).unwrap();
    let other = Db::new();
    let fresh = Store::open(&other.path, &DbKey::Passphrase("x".into())).unwrap();
    let report = fresh.import_json(&first).unwrap();
    assert_eq!((report.conversations, report.messages), (3, 9));
    assert_eq!(fresh.export_json(None).unwrap(), first);
    // Importing again skips what is there.
    let again = fresh.import_json(&first).unwrap();
    assert_eq!((again.conversations, again.skipped.len()), (0, 3));
    // Branches and the active branch came along.
    let conv = &fresh.list_conversations(&Default::default()).unwrap()[0];
    let path = fresh.active_path(&conv.id).unwrap();
    assert_eq!(path[1].content, "an answer");
    assert_eq!(fresh.siblings(&path[1].id).unwrap().len(), 2);
    // The sources an answer was given came along.
    assert_eq!(fresh.citations(&path[1].id).unwrap()[0].chunk_id, Some(3));
}

#[test]
fn one_conversation_exports_alone_and_markdown_reads_well() {
    let (_db, store) = filled();
    let conv = &store.list_conversations(&Default::default()).unwrap()[0];
    let json: serde_json::Value =
        serde_json::from_str(&store.export_json(Some(&conv.id)).unwrap()).unwrap();
    assert_eq!(json["format"], "hearth-export");
    assert_eq!(json["conversations"].as_array().unwrap().len(), 1);
    let md = store.export_markdown(Some(&conv.id)).unwrap();
    assert!(md.starts_with(&format!("# {}\n", conv.title)), "{md}");
    assert!(md.contains("## You\n\nquestion"), "{md}");
    assert!(md.contains("## Assistant\n\nan answer"), "{md}");
    assert!(!md.contains("regenerated"), "only the active branch: {md}");
    assert!(
        md.contains(
            "**Sources:**\n\n- [1] notes/contract.md § Termination — \"Either party may end\""
        ),
        "{md}"
    );
    assert_eq!(
        json["conversations"][0]["citations"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_imports_write_nothing() {
    let (_db, store) = filled();
    let good = store.export_json(None).unwrap();
    let other = Db::new();
    let fresh = other.open();
    let orphan = {
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        // The last conversation's first message now points at a parent that does not exist.
        v["conversations"][2]["messages"][0]["parent_id"] =
            "ffffffffffffffffffffffffffffffff".into();
        v.to_string()
    };
    for bad in [
        "not json".to_owned(),
        r#"{"format":"other","version":1,"conversations":[]}"#.to_owned(),
        r#"{"format":"hearth-export","version":99,"conversations":[]}"#.to_owned(),
        good.replace("\"role\": \"user\"", "\"role\": \"wizard\""),
        orphan,
    ] {
        let err = fresh.import_json(&bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidImport(_)), "{err}");
        assert!(
            fresh
                .list_conversations(&Default::default())
                .unwrap()
                .is_empty(),
            "{err}"
        );
    }
}
