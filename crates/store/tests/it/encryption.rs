use hearth_backend::Role;
use hearth_store::{DbKey, Store, StoreError};

use crate::{Db, conversation, file_contains, fingerprint, key, say};

const PLANTED: &str = "the walrus hides the spare key under the blue flowerpot";

#[test]
fn nothing_readable_reaches_the_disk() {
    let db = Db::new();
    let store = db.open();
    let conv = conversation(&store, "secrets");
    say(&store, &conv, None, Role::User, PLANTED);
    assert!(!file_contains(&db.path, "walrus"), "found in the WAL");
    store.checkpoint().unwrap();
    assert!(!file_contains(&db.path, "walrus"), "found in the file");
    assert!(!Store::is_plaintext(&db.path).unwrap());
}

#[test]
fn a_wrong_key_cannot_unlock_and_changes_nothing() {
    let db = Db::new();
    {
        let store = db.open();
        let conv = conversation(&store, "x");
        say(&store, &conv, None, Role::User, PLANTED);
    }
    let before = fingerprint(&db.path);
    for wrong in [
        DbKey::Raw([9; 32]),
        DbKey::Passphrase("guess".into()),
        DbKey::Plaintext,
    ] {
        let err = Store::open(&db.path, &wrong).unwrap_err();
        assert!(matches!(err, StoreError::CannotUnlock), "{wrong:?}: {err}");
        assert!(err.to_string().contains("cannot unlock"));
        assert_eq!(fingerprint(&db.path), before, "{wrong:?} changed the file");
    }
    let store = db.open();
    assert_eq!(store.search("walrus", 5).unwrap().len(), 1);
}

#[test]
fn a_passphrase_works_like_a_key() {
    let db = Db::new();
    let pass = DbKey::Passphrase("correct horse battery staple".into());
    {
        let store = Store::open(&db.path, &pass).unwrap();
        conversation(&store, "by passphrase");
    }
    assert!(Store::open(&db.path, &DbKey::Passphrase("correct horse".into())).is_err());
    let store = Store::open(&db.path, &pass).unwrap();
    assert_eq!(
        store.list_conversations(&Default::default()).unwrap().len(),
        1
    );
}

#[test]
fn a_plaintext_database_is_encrypted_in_place_with_all_its_data() {
    let db = Db::new();
    {
        let store = Store::open(&db.path, &DbKey::Plaintext).unwrap();
        let conv = conversation(&store, "old plaintext chat");
        say(&store, &conv, None, Role::User, PLANTED);
    }
    assert!(Store::is_plaintext(&db.path).unwrap());
    assert!(file_contains(&db.path, "walrus"));
    Store::encrypt_plaintext(&db.path, &key()).unwrap();
    assert!(!Store::is_plaintext(&db.path).unwrap());
    assert!(!file_contains(&db.path, "walrus"));
    let store = db.open();
    store.integrity_check().unwrap();
    let hits = store.search("walrus flowerpot", 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation_title, "old plaintext chat");
}

#[test]
fn key_material_never_shows_in_debug_output() {
    let raw = DbKey::Raw([0xab; 32]);
    let pass = DbKey::Passphrase("hunter2-planted".into());
    for text in [format!("{raw:?}"), format!("{pass:?}")] {
        assert!(
            !text.contains("ab, ") && !text.contains("171") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
