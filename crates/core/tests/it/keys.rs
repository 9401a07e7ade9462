//! Where keys live: the keychain, the encrypted database (chosen), the
//! environment (for a session). A keychain that must not be touched is a
//! tripwire here: any call to it fails the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hearth_core::hearth_providers::ProviderKind;
use hearth_core::{
    App, Config, CoreError, EnvSecrets, KeySource, OpenOptions, ProviderKey, SecretStorage, Secrets,
};
use hearth_secrets::{ExposeSecret, SecretError, SecretStore, SecretString};
use hearth_testkit::providers::{StandIn, Wire};

use crate::{Home, contains, runtime};

const KEY: &str = "sk-planted-db-key-0042-abcdefgh";

/// A keychain that counts every call and answers each as `answer` says.
struct Watched {
    calls: AtomicUsize,
    answer: fn() -> SecretError,
}

impl Watched {
    fn new(answer: fn() -> SecretError) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            answer,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn fail<T>(&self) -> Result<T, SecretError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err((self.answer)())
    }
}

impl SecretStore for Watched {
    fn set(&self, _: &str, _: &SecretString) -> Result<(), SecretError> {
        self.fail()
    }
    fn get(&self, _: &str) -> Result<Option<SecretString>, SecretError> {
        self.fail()
    }
    fn delete(&self, _: &str) -> Result<bool, SecretError> {
        self.fail()
    }
    fn names(&self) -> Result<Vec<String>, SecretError> {
        self.fail()
    }
}

fn locked() -> SecretError {
    SecretError::Locked("the unlock prompt was dismissed".into())
}

fn missing() -> SecretError {
    SecretError::Unavailable("no Secret Service on the bus".into())
}

fn open(config: Config, keychain: Arc<Watched>) -> Result<App, CoreError> {
    App::open_with(
        config,
        OpenOptions {
            secrets: Secrets::Store(keychain),
            passphrase: Some(SecretString::from("a passphrase")),
            ..OpenOptions::default()
        },
    )
}

#[test]
fn with_a_passphrase_and_keys_in_the_database_the_keychain_is_never_asked() {
    let runtime = runtime();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    let home = Home::new();
    let tripwire = Watched::new(locked);
    let app = open(home.config(), tripwire.clone()).unwrap();
    app.add_provider(
        "lab",
        ProviderKind::OpenAi,
        Some(standin.base_url().to_owned()),
        ProviderKey::Store(SecretString::from(KEY), Some(SecretStorage::Database)),
    )
    .unwrap();
    let listed = app.providers().unwrap();
    assert_eq!(listed[0].key_source, KeySource::Database);
    assert_eq!(listed[0].key.as_deref(), Some("sk-…efgh"));
    assert_eq!(runtime.block_on(app.test_provider("lab")).unwrap(), 2);
    drop(app);
    // Reopened, listed and used again: still not one call.
    let app = open(home.config(), tripwire.clone()).unwrap();
    app.providers().unwrap();
    assert_eq!(runtime.block_on(app.test_provider("lab")).unwrap(), 2);
    assert_eq!(tripwire.calls(), 0, "the keychain was asked");
    // The key is in the database file, encrypted like the history.
    drop(app);
    assert!(!contains(&home.db_bytes(), KEY));
    assert!(!contains(&home.db_bytes(), "sk-planted"));
    // Removing the provider removes its key.
    let app = open(home.config(), tripwire.clone()).unwrap();
    assert!(app.remove_provider("lab").unwrap());
    assert!(app.store().secret("provider.lab").unwrap().is_none());
    assert_eq!(tripwire.calls(), 0);
}

#[test]
fn without_a_keychain_keys_go_to_the_database_only_when_chosen() {
    let home = Home::new();
    let none = Watched::new(missing);
    let app = open(home.config(), none.clone()).unwrap();
    let add = |storage| {
        app.add_provider(
            "work",
            ProviderKind::Anthropic,
            None,
            ProviderKey::Store(SecretString::from(KEY), storage),
        )
    };
    // The default place is the keychain: refused, with the way out, and
    // nothing stored anywhere.
    let err = add(None).unwrap_err();
    assert!(matches!(err, CoreError::NoKeychain), "{err}");
    assert!(err.to_string().contains("--store db"), "{err}");
    assert!(app.providers().unwrap().is_empty());
    assert!(app.secret("provider.work").unwrap().is_none());

    // Chosen for this key, or as the default: the database.
    add(Some(SecretStorage::Database)).unwrap();
    app.set_secret_storage(SecretStorage::Database).unwrap();
    assert_eq!(app.secret_storage().unwrap(), SecretStorage::Database);
    app.add_provider(
        "other",
        ProviderKind::Gemini,
        None,
        ProviderKey::Store(SecretString::from("AIza-planted-gemini-key-1234"), None),
    )
    .unwrap();
    let sources: Vec<KeySource> = app
        .providers()
        .unwrap()
        .into_iter()
        .map(|p| p.key_source)
        .collect();
    assert_eq!(sources, [KeySource::Database, KeySource::Database]);
    let (value, place) = app.secret("provider.other").unwrap().unwrap();
    assert_eq!(
        (value.expose_secret(), place),
        ("AIza-planted-gemini-key-1234", SecretStorage::Database)
    );
    // Any secret (an HF token, a proxy password) can live there too.
    let place = app
        .store_secret("proxy.password", &SecretString::from("hunter2"), None)
        .unwrap();
    assert_eq!(place, SecretStorage::Database);
    assert_eq!(
        app.secret_store()
            .get("proxy.password")
            .unwrap()
            .unwrap()
            .expose_secret(),
        "hunter2"
    );
}

#[test]
fn environment_keys_serve_this_session_and_are_never_stored() {
    let runtime = runtime();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    let home = Home::new();
    let tripwire = Watched::new(locked);
    let mut config = home.config();
    config.env_secrets = EnvSecrets::fixed([("OPENAI_API_KEY", KEY)]);
    let app = open(config.clone(), tripwire.clone()).unwrap();

    // OPENAI_API_KEY alone gives an `openai` provider for the session.
    let listed = app.providers().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "openai");
    assert!(!listed[0].configured);
    assert_eq!(
        listed[0].key_source,
        KeySource::Environment {
            var: "OPENAI_API_KEY".into()
        }
    );
    assert_eq!(
        listed[0].key_source.describe(),
        "from OPENAI_API_KEY (this session only)"
    );
    assert_eq!(listed[0].key.as_deref(), Some("sk-…efgh"));
    assert!(
        app.remove_provider("openai")
            .unwrap_err()
            .to_string()
            .contains("environment")
    );

    // A provider set up to read it each session: works, stores nothing.
    app.add_provider(
        "lab",
        ProviderKind::OpenAi,
        Some(standin.base_url().to_owned()),
        ProviderKey::Environment("OPENAI_API_KEY".into()),
    )
    .unwrap();
    assert_eq!(runtime.block_on(app.test_provider("lab")).unwrap(), 2);
    assert!(app.store().secret_names().unwrap().is_empty());
    drop(app);
    assert!(!contains(&home.db_bytes(), "sk-planted"));

    // A later session without the variable says what is missing.
    let app = open(home.config(), tripwire.clone()).unwrap();
    let err = runtime.block_on(app.test_provider("lab")).unwrap_err();
    assert!(
        err.to_string()
            .contains("comes from OPENAI_API_KEY, which is not set"),
        "{err}"
    );
    assert_eq!(tripwire.calls(), 0);
}

#[test]
fn a_locked_keychain_is_a_clear_error_and_nothing_waits_forever() {
    let home = Home::new();
    // The database key is in the keychain, and the keychain is locked.
    let err = App::open_with(
        home.config(),
        OpenOptions {
            secrets: Secrets::Store(Watched::new(locked)),
            ..OpenOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::KeychainLocked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("the OS keychain is locked, and the key of your chat history is kept there"),
        "{err}"
    );
    assert_eq!(
        hearth_core::view::ErrorView::from(&err).kind,
        hearth_core::view::ErrorKind::Keychain
    );
    assert!(!home.config().db_path().exists(), "nothing was created");

    // A provider key in a locked keychain: the turn fails saying so; the
    // listing still works from what the entry recorded.
    let keychain = Arc::new(hearth_secrets::MemoryStore::default());
    let app = App::open_with(
        home.config(),
        OpenOptions {
            secrets: Secrets::Store(keychain.clone()),
            passphrase: Some(SecretString::from("a passphrase")),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    app.add_provider(
        "kc",
        ProviderKind::OpenAi,
        Some("http://127.0.0.1:9/v1".into()),
        ProviderKey::Store(SecretString::from(KEY), Some(SecretStorage::Keychain)),
    )
    .unwrap();
    drop(app);
    let app = open(home.config(), Watched::new(locked)).unwrap();
    let listed = app.providers().unwrap();
    assert_eq!(
        (listed[0].key_source.clone(), listed[0].key.as_deref()),
        (KeySource::Keychain, Some("sk-…efgh"))
    );
    let err = app.provider("kc").unwrap_err();
    assert!(matches!(err, CoreError::KeychainLocked { .. }), "{err}");
    assert!(err.to_string().contains("unlock it"), "{err}");
}
