//! The key never shows: not in a config's or provider's Debug, not in any
//! error (the matrix checks every error it sees with `assert_clean`).

use hearth_providers::{ConfigError, HttpPolicy, Network, Provider, ProviderConfig, ProviderKind};
use secrecy::SecretString;

use crate::KEY;

#[test]
fn debug_output_never_shows_the_key() {
    for kind in [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Compat,
    ] {
        let config = ProviderConfig::new("p", kind)
            .with_base_url("http://127.0.0.1:9/v1")
            .with_api_key(SecretString::from(KEY.to_owned()));
        let shown = format!("{config:?}");
        assert!(!shown.contains(KEY), "{shown}");
        let provider = Provider::new(config, HttpPolicy::default(), Network::default()).unwrap();
        let shown = format!("{provider:?}");
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
    }
}

#[test]
fn bad_configs_are_refused_without_showing_the_key() {
    let no_key = ProviderConfig::new("openai", ProviderKind::OpenAi);
    let err = Provider::new(no_key, HttpPolicy::default(), Network::default()).unwrap_err();
    assert_eq!(
        err,
        ConfigError::MissingKey {
            name: "openai".into(),
            label: "OpenAI"
        }
    );
    assert_eq!(err.to_string(), "provider openai (OpenAI) needs an API key");

    let pasted = ProviderConfig::new("anthropic", ProviderKind::Anthropic)
        .with_api_key(SecretString::from(format!("{KEY}\nsk-more")));
    let err = Provider::new(pasted, HttpPolicy::default(), Network::default()).unwrap_err();
    assert!(matches!(err, ConfigError::BadKey { .. }));
    assert!(!format!("{err} {err:?}").contains(KEY));

    let compat = ProviderConfig::new("lan", ProviderKind::Compat);
    let err = Provider::new(compat, HttpPolicy::default(), Network::default()).unwrap_err();
    assert!(err.to_string().contains("needs a base URL"), "{err}");
}

/// A connection that cannot be made is a Connection error naming the host,
/// not the URL's secrets.
#[tokio::test]
async fn unreachable_servers_are_connection_errors() {
    // Port 9 (discard) on 127.0.0.1: nothing listens there in a test box.
    let config = ProviderConfig::new("lan", ProviderKind::Compat)
        .with_base_url("http://127.0.0.1:9/v1")
        .with_api_key(SecretString::from(KEY.to_owned()));
    let policy = HttpPolicy {
        max_retries: 0,
        ..crate::fast_policy()
    };
    let provider = Provider::new(config, policy, Network::default()).unwrap();
    let err = provider.list_models().await.unwrap_err();
    assert_eq!(err.kind, hearth_backend::ErrorKind::Connection, "{err}");
    assert!(
        err.to_string()
            .contains("could not connect to lan (127.0.0.1)"),
        "{err}"
    );
    crate::assert_clean(&err);
}
