use std::process::Command;

use hearth_secrets::{ExposeSecret, KeyringStore, SecretError, SecretStore, SecretString};

/// A service name of its own per test, so runs never see each other's entries.
fn store(test: &str) -> KeyringStore {
    let service = format!("hearth-test-{}-{test}", std::process::id());
    KeyringStore::open(&service).unwrap_or_else(|err| {
        panic!("no Secret Service ({err}); run the tests through `cargo xtask test`")
    })
}

#[test]
fn round_trip_through_the_secret_service() {
    let store = store("round-trip");
    assert!(store.get("provider.openai").unwrap().is_none());
    store
        .set("provider.openai", &SecretString::from("sk-planted-value-1"))
        .unwrap();
    store
        .set("huggingface-token", &SecretString::from("hf_x"))
        .unwrap();
    assert_eq!(
        store
            .get("provider.openai")
            .unwrap()
            .unwrap()
            .expose_secret(),
        "sk-planted-value-1"
    );
    assert_eq!(
        store.names().unwrap(),
        ["huggingface-token", "provider.openai"]
    );

    // Another store object (as after a restart) sees the same entries.
    let again =
        KeyringStore::open(&format!("hearth-test-{}-round-trip", std::process::id())).unwrap();
    assert_eq!(
        again
            .get("huggingface-token")
            .unwrap()
            .unwrap()
            .expose_secret(),
        "hf_x"
    );

    assert!(store.delete("provider.openai").unwrap());
    assert!(!store.delete("provider.openai").unwrap());
    assert!(store.get("provider.openai").unwrap().is_none());
    assert_eq!(store.names().unwrap(), ["huggingface-token"]);
    store.delete("huggingface-token").unwrap();
}

#[test]
fn another_process_reads_the_entry_from_the_keychain() {
    let store = store("other-process");
    let service = format!("hearth-test-{}-other-process", std::process::id());
    store
        .set("database-key", &SecretString::from("0123abcd"))
        .unwrap();
    // secret-tool (libsecret) talks to the same daemon as an unrelated client.
    let out = Command::new("secret-tool")
        .args(["lookup", "service", &service, "username", "database-key"])
        .output()
        .expect("secret-tool (apt libsecret-tools) is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0123abcd");
    store.delete("database-key").unwrap();
}

#[test]
fn bad_names_are_refused_before_the_keychain_is_touched() {
    let store = store("names");
    for bad in ["", "a b", "__hearth_names__", "../x"] {
        assert!(matches!(
            store.set(bad, &SecretString::from("v")),
            Err(SecretError::InvalidName(_))
        ));
    }
}
