use hearth_backend::Role;

use crate::{Db, conversation, file_contains, say};

#[test]
fn finds_new_edited_and_branched_messages_with_highlights() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "Gardening");
    let q = say(
        &store,
        &conv,
        None,
        Role::User,
        "How do I grow tomatoes on a balcony?",
    );
    let a = say(
        &store,
        &conv,
        Some(&q.id),
        Role::Assistant,
        "Use a deep pot and plenty of sunlight.",
    );

    let hits = store.search("tomatoes", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id, q.id);
    assert_eq!(hits[0].conversation_title, "Gardening");
    assert!(
        hits[0].snippet.contains("[[tomatoes]]"),
        "{}",
        hits[0].snippet
    );
    // Prefix of the last word: search as you type.
    assert_eq!(store.search("sunl", 10).unwrap()[0].message_id, a.id);

    // A checkpointed (streaming) answer is searchable as it grows.
    let growing = say(&store, &conv, Some(&q.id), Role::Assistant, "");
    store
        .checkpoint_message(&growing.id, "Cucumbers climb well too")
        .unwrap();
    assert_eq!(
        store.search("cucumbers", 10).unwrap()[0].message_id,
        growing.id
    );
    store
        .checkpoint_message(&growing.id, "Peppers like warmth")
        .unwrap();
    assert!(
        store.search("cucumbers", 10).unwrap().is_empty(),
        "old text left the index"
    );

    // An edit is a sibling; both versions are findable.
    let edited = store
        .edit_message(&q.id, "How do I grow basil indoors?")
        .unwrap();
    assert_eq!(store.search("basil", 10).unwrap()[0].message_id, edited.id);
    assert_eq!(store.search("tomatoes", 10).unwrap().len(), 1);
}

#[test]
fn deleted_messages_and_conversations_leave_the_index_and_the_file() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "Doomed");
    let q = say(
        &store,
        &conv,
        None,
        Role::User,
        "the zeppelin password is mauve",
    );
    let a = say(
        &store,
        &conv,
        Some(&q.id),
        Role::Assistant,
        "noted about the zeppelin",
    );
    let keep = conversation(&store, "Kept");
    say(&store, &keep, None, Role::User, "a zeppelin of my own");

    store.delete_message(&a.id).unwrap();
    let hits = store.search("zeppelin", 10).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.message_id != a.id));
    assert_eq!(store.active_path(&conv).unwrap().len(), 1);

    store.delete_conversation(&conv).unwrap();
    let hits = store.search("zeppelin", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation_title, "Kept");
    assert!(store.search("mauve", 10).unwrap().is_empty());
    store.integrity_check().unwrap();
    drop(store);

    // With secure_delete the text is not left in free pages either (checked on a
    // plaintext copy, since the encrypted file never shows text anyway).
    let plain = Db::new();
    let store = hearth_store::Store::open(&plain.path, &hearth_store::DbKey::Plaintext).unwrap();
    let c = conversation(&store, "t");
    say(&store, &c, None, Role::User, "quixotic-marmalade-sentinel");
    store.checkpoint().unwrap();
    assert!(file_contains(&plain.path, "quixotic-marmalade-sentinel"));
    store.delete_conversation(&c).unwrap();
    store.checkpoint().unwrap();
    assert!(!file_contains(&plain.path, "quixotic-marmalade-sentinel"));
}

#[test]
fn hostile_queries_are_plain_words() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "q");
    say(
        &store,
        &conv,
        None,
        Role::User,
        "AND OR NOT near quotes \"here\" 🦀 crabs",
    );
    for query in [
        "\"", "AND", "OR NOT", "NEAR(", "*", "-x", "content:", "🦀", "", "   ", "a\"b", "^x",
        "(((", "NOT",
    ] {
        store
            .search(query, 10)
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
    }
    assert_eq!(store.search("AND", 10).unwrap().len(), 1);
    assert_eq!(store.search("\"here", 10).unwrap().len(), 1);
}
