use std::sync::Arc;

use hearth_backend::Role;
use hearth_core::{App, CoreError, OpenOptions, Secrets};
use hearth_secrets::{DATABASE_KEY, MemoryStore, SecretStore, SecretString};
use hearth_store::{DbKey, MessageStatus, NewConversation, NewMessage, Store, StoreError};

use crate::{Home, contains};

#[test]
fn first_run_makes_an_encrypted_database_keyed_from_the_keychain() {
    let home = Home::new();
    let app = home.open();
    app.store()
        .create_conversation(&NewConversation {
            title: Some("The planted sentence is: purple elephants dance at noon".into()),
            ..NewConversation::default()
        })
        .unwrap();
    drop(app);
    assert!(home.secrets.get(DATABASE_KEY).unwrap().is_some());
    assert!(!Store::is_plaintext(&home.config().db_path()).unwrap());
    assert!(!contains(&home.db_bytes(), "purple elephants"));
    // Reopening with the same keychain reads it back.
    let app = home.open();
    assert_eq!(
        app.store()
            .list_conversations(&Default::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn without_a_keychain_a_passphrase_is_needed_and_a_wrong_one_changes_nothing() {
    let home = Home::new();
    let open = |passphrase: Option<&str>| {
        App::open_with(
            home.config(),
            OpenOptions {
                secrets: Secrets::None,
                passphrase: passphrase.map(SecretString::from),
                ..OpenOptions::default()
            },
        )
    };
    assert!(matches!(open(None), Err(CoreError::NeedPassphrase)));
    assert!(
        !home.config().db_path().exists(),
        "nothing is created without a key"
    );

    let app = open(Some("correct horse battery staple")).unwrap();
    app.store()
        .create_conversation(&NewConversation::default())
        .unwrap();
    drop(app);
    let before = home.db_bytes();
    let err = open(Some("wrong horse")).unwrap_err();
    assert!(
        matches!(err, CoreError::Store(StoreError::CannotUnlock)),
        "{err}"
    );
    assert!(err.to_string().contains("cannot unlock"), "{err}");
    assert_eq!(
        home.db_bytes(),
        before,
        "a wrong key must not touch the file"
    );
    assert!(open(Some("correct horse battery staple")).is_ok());
}

#[test]
fn an_existing_database_whose_key_left_the_keychain_asks_for_a_passphrase() {
    let home = Home::new();
    drop(home.open());
    let other_keychain = Arc::new(MemoryStore::default());
    let err = App::open_with(
        home.config(),
        OpenOptions {
            secrets: Secrets::Store(other_keychain),
            ..OpenOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::KeyNotInKeychain), "{err}");
}

#[test]
fn a_plaintext_database_is_encrypted_when_opened() {
    let home = Home::new();
    let path = home.config().db_path();
    std::fs::create_dir_all(home.dir.path()).unwrap();
    {
        let plain = Store::open(&path, &DbKey::Plaintext).unwrap();
        plain
            .create_conversation(&NewConversation {
                title: Some("octopus gardens under the sea".into()),
                ..NewConversation::default()
            })
            .unwrap();
    }
    assert!(Store::is_plaintext(&path).unwrap());
    let app = home.open();
    let list = app.store().list_conversations(&Default::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].title, "octopus gardens under the sea");
    drop(app);
    assert!(!Store::is_plaintext(&path).unwrap());
    assert!(!contains(&home.db_bytes(), "octopus gardens"));
}

#[test]
fn answers_left_streaming_by_a_crash_are_partial_after_reopening() {
    let home = Home::new();
    let app = home.open();
    let (conv, answer) = {
        let store = app.store();
        let conv = store
            .create_conversation(&NewConversation::default())
            .unwrap();
        let user = store
            .append_message(&NewMessage {
                conversation_id: conv.id.clone(),
                parent_id: None,
                role: Role::User,
                content: "Tell me a story".into(),
                status: MessageStatus::Complete,
                backend: None,
                model: None,
            })
            .unwrap();
        let answer = store
            .append_message(&NewMessage {
                conversation_id: conv.id.clone(),
                parent_id: Some(user.id),
                role: Role::Assistant,
                content: String::new(),
                status: MessageStatus::Streaming,
                backend: Some("local".into()),
                model: None,
            })
            .unwrap();
        store
            .checkpoint_message(&answer.id, "Once upon a time")
            .unwrap();
        (conv, answer)
    };
    // No finish: the process "dies" here.
    drop(app);
    let app = home.open();
    let path = app.store().active_path(&conv.id).unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(path[1].id, answer.id);
    assert_eq!(path[1].status, MessageStatus::Partial);
    assert_eq!(path[1].content, "Once upon a time");
}

#[test]
fn the_database_key_lives_in_the_real_os_keychain() {
    // `cargo xtask test` provides a Secret Service (gnome-keyring in a private
    // D-Bus session); a service name of its own keeps runs apart.
    let service = format!("hearth-test-core-{}", std::process::id());
    let keychain = hearth_secrets::KeyringStore::open(&service)
        .unwrap_or_else(|e| panic!("no Secret Service ({e}); run through `cargo xtask test`"));
    let keychain: Arc<dyn SecretStore> = Arc::new(keychain);
    let home = Home::new();
    let open = || {
        App::open_with(
            home.config(),
            OpenOptions {
                secrets: Secrets::Store(keychain.clone()),
                ..OpenOptions::default()
            },
        )
    };
    let app = open().unwrap();
    app.store()
        .create_conversation(&NewConversation::default())
        .unwrap();
    drop(app);
    let stored = keychain
        .get(DATABASE_KEY)
        .unwrap()
        .expect("key in the keychain");
    let hex = hearth_secrets::ExposeSecret::expose_secret(&stored).to_owned();
    assert_eq!(hex.len(), 64);
    // The key is not on disk anywhere under the data directory.
    for entry in std::fs::read_dir(home.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!contains(&bytes, &hex));
    }
    let app = open().unwrap();
    assert_eq!(
        app.store()
            .list_conversations(&Default::default())
            .unwrap()
            .len(),
        1
    );
    drop(app);
    keychain.delete(DATABASE_KEY).unwrap();
}
