use hearth_backend::Role;
use hearth_store::{
    ConversationPatch, ListQuery, MessageStatus, NetworkRecord, NewConversation, PresetDraft,
    Sampling, UsageRecord,
};

use crate::{Db, conversation, say};

#[test]
fn edits_and_regenerations_are_branches_and_switching_is_cheap() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "branches");
    let q1 = say(&store, &conv, None, Role::User, "first question");
    let a1 = say(&store, &conv, Some(&q1.id), Role::Assistant, "first answer");
    let q2 = say(&store, &conv, Some(&a1.id), Role::User, "follow-up");
    let a2 = say(
        &store,
        &conv,
        Some(&q2.id),
        Role::Assistant,
        "follow-up answer",
    );

    // Regenerate the first answer: a sibling, and the branch it starts is active.
    let a1b = say(
        &store,
        &conv,
        Some(&q1.id),
        Role::Assistant,
        "another first answer",
    );
    assert_eq!(
        store.siblings(&a1.id).unwrap(),
        [a1.id.clone(), a1b.id.clone()]
    );
    let path: Vec<_> = store
        .active_path(&conv)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(path, [q1.id.clone(), a1b.id.clone()]);

    // Switch back: the old branch comes back whole, down to its leaf.
    let path: Vec<_> = store
        .switch_branch(&a1.id)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        path,
        [q1.id.clone(), a1.id.clone(), q2.id.clone(), a2.id.clone()]
    );
    assert_eq!(
        store.conversation(&conv).unwrap().active_leaf,
        Some(a2.id.clone())
    );

    // Edit the first question: a sibling user message with no answer yet.
    let q1b = store
        .edit_message(&q1.id, "first question, rephrased")
        .unwrap();
    assert_eq!(q1b.parent_id, None);
    assert_eq!(q1b.role, Role::User);
    assert_eq!(store.siblings(&q1.id).unwrap().len(), 2);
    assert_eq!(store.active_path(&conv).unwrap().len(), 1);
    store.integrity_check().unwrap();
}

#[test]
fn streaming_answers_become_partial_and_finish_with_metrics() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "s");
    let q = say(&store, &conv, None, Role::User, "q");
    let a = store
        .append_message(&hearth_store::NewMessage {
            conversation_id: conv.clone(),
            parent_id: Some(q.id.clone()),
            role: Role::Assistant,
            content: String::new(),
            status: MessageStatus::Streaming,
            backend: Some("local".into()),
            model: Some("m".into()),
        })
        .unwrap();
    store.checkpoint_message(&a.id, "partial text").unwrap();
    assert_eq!(store.recover_interrupted().unwrap(), 1);
    let m = store.message(&a.id).unwrap();
    assert_eq!(
        (m.status, m.content.as_str()),
        (MessageStatus::Partial, "partial text")
    );
    assert_eq!(store.recover_interrupted().unwrap(), 0);
}

#[test]
fn list_pages_newest_first_and_hides_archived() {
    let db = Db::new();
    let store = db.open();
    let ids: Vec<_> = (0..5)
        .map(|i| conversation(&store, &format!("c{i}")))
        .collect();
    store
        .update_conversation(
            &ids[2],
            &ConversationPatch {
                archived: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    // Touch c0 so it is the newest.
    std::thread::sleep(std::time::Duration::from_millis(3));
    say(&store, &ids[0], None, Role::User, "bump");
    let page = store
        .list_conversations(&ListQuery {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].id, ids[0]);
    assert_eq!(page[0].message_count, 1);
    let last = page.last().unwrap();
    let next = store
        .list_conversations(&ListQuery {
            limit: 10,
            after: Some((last.updated_at, last.id.clone())),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(next.len(), 2, "4 visible in all, 2 per page");
    assert!(
        next.iter()
            .all(|c| c.id != ids[2] && page.iter().all(|p| p.id != c.id))
    );
    let all = store
        .list_conversations(&ListQuery {
            include_archived: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 5);
    // A unique prefix names a conversation.
    assert_eq!(
        store
            .resolve_conversation_prefix(&ids[3].as_str()[..10])
            .unwrap(),
        ids[3]
    );
    assert!(store.resolve_conversation_prefix("zz").is_err());
}

/// Issue 22, item 6: the thinking switch is kept with the conversation's
/// sampling (a JSON column, so no migration): set, changed, cleared; a
/// conversation stored before it existed reads as "the model's default".
#[test]
fn a_conversations_thinking_switch_is_kept_with_its_sampling() {
    let db = Db::new();
    let store = db.open();
    let conv = store
        .create_conversation(&NewConversation {
            sampling: Sampling {
                temperature: Some(0.6),
                thinking: Some(false),
                ..Default::default()
            },
            ..NewConversation::default()
        })
        .unwrap();
    let read = store.conversation(&conv.id).unwrap();
    assert_eq!(read.sampling.thinking, Some(false));
    assert_eq!(read.sampling.temperature, Some(0.6));
    let changed = store
        .update_conversation(
            &conv.id,
            &ConversationPatch {
                sampling: Some(Sampling {
                    thinking: Some(true),
                    ..read.sampling
                }),
                ..ConversationPatch::default()
            },
        )
        .unwrap();
    assert_eq!(changed.sampling.thinking, Some(true));
    assert_eq!(
        store.conversation(&conv.id).unwrap().sampling.thinking,
        Some(true)
    );
    // Sampling as it was stored before the switch existed.
    let old: Sampling = serde_json::from_str(r#"{"temperature":0.7,"max_tokens":64}"#).unwrap();
    assert_eq!(old.thinking, None);
    assert_eq!(old.max_tokens, Some(64));
    // And unset, it is not written at all (older Hearths read it unchanged).
    let text = serde_json::to_string(&Sampling::default()).unwrap();
    assert!(!text.contains("thinking"), "{text}");
}

#[test]
fn presets_are_versioned_and_old_versions_stay_readable() {
    let db = Db::new();
    let store = db.open();
    let v1 = store
        .create_preset(&PresetDraft {
            name: "Editor".into(),
            system_prompt: Some("Fix grammar.".into()),
            sampling: Sampling {
                temperature: Some(0.2),
                ..Default::default()
            },
        })
        .unwrap();
    let v2 = store
        .update_preset(
            &v1.id,
            &PresetDraft {
                name: "Editor".into(),
                system_prompt: Some("Fix grammar and tone.".into()),
                sampling: Sampling::default(),
            },
        )
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(store.preset(&v1.id, None).unwrap().version, 2);
    assert_eq!(
        store
            .preset(&v1.id, Some(1))
            .unwrap()
            .system_prompt
            .as_deref(),
        Some("Fix grammar.")
    );
    assert_eq!(store.list_presets().unwrap().len(), 1);
    store.delete_preset(&v1.id).unwrap();
    assert!(store.list_presets().unwrap().is_empty());
    assert_eq!(
        store.preset(&v1.id, Some(1)).unwrap().name,
        "Editor",
        "still readable"
    );

    store.set_setting("theme", "dark").unwrap();
    store.set_setting("theme", "light").unwrap();
    assert_eq!(store.setting("theme").unwrap().as_deref(), Some("light"));
    assert_eq!(store.setting("missing").unwrap(), None);

    for (model, tokens) in [("a", 10), ("a", 5), ("b", 1)] {
        store
            .record_usage(&UsageRecord {
                at: hearth_store::now(),
                conversation_id: None,
                message_id: None,
                backend: "local".into(),
                model: model.into(),
                tokens_in: tokens,
                tokens_out: 2,
                ttft_ms: None,
                latency_ms: None,
                cost_usd: Some(0.5),
                fallback_reason: None,
                error_kind: None,
                retries: 0,
            })
            .unwrap();
    }
    let usage = store.usage_summary(None).unwrap();
    assert_eq!(
        (usage.requests, usage.tokens_in, usage.tokens_out),
        (3, 16, 6)
    );
    assert_eq!(usage.by_model.len(), 2);
    assert!((usage.cost_usd - 1.5).abs() < 1e-9);
}

#[test]
fn usage_records_and_the_network_ledger_read_back() {
    let db = Db::new();
    let store = db.open();
    let start = hearth_store::now();
    store
        .record_usage(&UsageRecord {
            at: start,
            conversation_id: None,
            message_id: None,
            backend: "openai".into(),
            model: "gpt-4o-mini".into(),
            tokens_in: 12,
            tokens_out: 0,
            ttft_ms: None,
            latency_ms: Some(40.0),
            cost_usd: Some(0.25),
            fallback_reason: Some("the local model ran out of memory".into()),
            error_kind: Some("rate_limit".into()),
            retries: 2,
        })
        .unwrap();
    let records = store.usage_records(None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_kind.as_deref(), Some("rate_limit"));
    assert_eq!(records[0].retries, 2);
    assert!((store.cost_since(start).unwrap() - 0.25).abs() < 1e-9);
    assert_eq!(store.cost_since(start + 1).unwrap(), 0.0);

    for (i, host) in ["api.openai.com", "huggingface.co"].iter().enumerate() {
        store
            .record_network(&NetworkRecord {
                at: start + i as i64,
                host: (*host).into(),
                purpose: "provider call".into(),
                detail: Some("openai".into()),
                bytes_sent: 100,
                bytes_received: 2000,
                status: Some(200),
                ok: true,
                via: (i == 1).then(|| "proxy.corp:3128".to_owned()),
            })
            .unwrap();
    }
    let log = store.network_log(10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].host, "huggingface.co", "newest first");
    assert_eq!(log[0].via.as_deref(), Some("proxy.corp:3128"));
    assert_eq!(log[1].status, Some(200));
    assert_eq!(log[1].via, None, "direct");
    assert_eq!(store.network_log(1).unwrap().len(), 1);
}
