//! The network settings end to end: a proxy set in the settings (its password
//! in the secret store) or in the environment carries provider calls and Hub
//! searches, the ledger names it, changing it reconnects the providers, and
//! keys are never sent in cleartext to another machine without permission.

use hearth_core::hearth_hub::SearchSort;
use hearth_core::hearth_providers::ProviderKind;
use hearth_core::{App, Config, CoreError, OpenOptions, ProviderKey, ProxyChoice, Secrets, env};
use hearth_secrets::{ExposeSecret, PROXY_PASSWORD, SecretStore, SecretString};
use hearth_testkit::hf::HfStandIn;
use hearth_testkit::providers::{StandIn, Wire};
use hearth_testkit::proxy::ProxyStandIn;
use hearth_testkit::tls::TestCa;

use crate::Home;

/// Names only the test proxy reaches.
const API: &str = "api.hearth.test";
const HUB: &str = "hub.hearth.test";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(home: &Home, config: Config) -> App {
    App::open_with(
        config,
        OpenOptions {
            secrets: Secrets::Store(home.secrets.clone()),
            ..OpenOptions::default()
        },
    )
    .unwrap()
}

fn manual(proxy: &ProxyStandIn, user: Option<&str>, password: Option<&str>) -> ProxyChoice {
    ProxyChoice::Manual {
        url: proxy.url(),
        no_proxy: String::new(),
        username: user.map(str::to_owned),
        password: password.map(|p| SecretString::from(p.to_owned())),
    }
}

#[test]
fn the_settings_proxy_carries_provider_calls_and_hub_searches_and_the_ledger_names_it() {
    let rt = runtime();
    let server = rt.block_on(StandIn::start(Wire::OpenAi));
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let mut config = home.config();
    config.hf_endpoint = format!("http://{HUB}:{}", hub.addr().port());
    let app = open(&home, config);
    let base = server.base_url().replace("127.0.0.1", API);
    app.add_provider("lan", ProviderKind::Compat, Some(base), ProviderKey::None)
        .unwrap();

    let proxy = ProxyStandIn::with_credentials("alice", "pw-planted-proxy");
    let shown = app
        .set_proxy(manual(&proxy, Some("alice"), Some("pw-planted-proxy")))
        .unwrap();
    assert_eq!(shown.proxy_mode, "manual");
    assert_eq!(shown.proxy_user.as_deref(), Some("alice"));
    assert!(shown.proxy_password_stored);
    assert_eq!(
        home.secrets
            .get(PROXY_PASSWORD)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "pw-planted-proxy"
    );
    let file = std::fs::read_to_string(app.config().network_settings_path()).unwrap();
    assert!(!file.contains("pw-planted"), "{file}");

    assert_eq!(rt.block_on(app.test_provider("lan")).unwrap(), 2);
    let hits = rt
        .block_on(app.models().search("smol", SearchSort::Downloads, 5))
        .unwrap();
    assert!(!hits.is_empty());
    let seen = proxy.seen();
    assert!(
        seen.iter().all(|s| s.admitted && s.sent_credentials),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.target.contains(API)), "{seen:?}");
    assert!(seen.iter().any(|s| s.target.contains(HUB)), "{seen:?}");

    let log = app.network_log(10).unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    for record in &log {
        assert_eq!(
            record.via.as_deref(),
            Some(proxy.address().as_str()),
            "{record:?}"
        );
    }
    assert_eq!(log[0].host, HUB);
    assert_eq!(log[1].host, API);

    // Another proxy: the live provider is rebuilt and uses it.
    let second = ProxyStandIn::start();
    app.set_proxy(manual(&second, None, None)).unwrap();
    assert!(
        home.secrets.get(PROXY_PASSWORD).unwrap().is_none(),
        "no user, no password"
    );
    rt.block_on(app.test_provider("lan")).unwrap();
    assert_eq!(second.seen().len(), 1);
    assert_eq!(
        app.network_log(1).unwrap()[0].via.as_deref(),
        Some(second.address().as_str())
    );
}

#[test]
fn the_environments_proxy_applies_while_the_setting_is_system() {
    let rt = runtime();
    let server = rt.block_on(StandIn::start(Wire::OpenAi));
    let proxy = ProxyStandIn::start();
    let home = Home::new();
    let mut config = home.config();
    config.proxy_env.http = Some((env::HTTP_PROXY, SecretString::from(proxy.url())));
    let app = open(&home, config);
    let base = server.base_url().replace("127.0.0.1", API);
    app.add_provider("lan", ProviderKind::Compat, Some(base), ProviderKey::None)
        .unwrap();
    let shown = app.network().unwrap();
    assert_eq!(shown.proxy_mode, "system");
    assert_eq!(shown.proxy_source.as_deref(), Some("HTTP_PROXY"));
    rt.block_on(app.test_provider("lan")).unwrap();
    assert_eq!(proxy.seen().len(), 1);
    assert_eq!(
        app.network_log(1).unwrap()[0].via.as_deref(),
        Some(proxy.address().as_str())
    );
    // A local server is never proxied, whatever the environment says.
    app.add_provider(
        "here",
        ProviderKind::Compat,
        Some(server.base_url().to_owned()),
        ProviderKey::None,
    )
    .unwrap();
    rt.block_on(app.test_provider("here")).unwrap();
    assert_eq!(proxy.seen().len(), 1);
    assert_eq!(app.network_log(1).unwrap()[0].via, None);
}

#[test]
fn keys_cross_the_network_in_cleartext_only_with_permission() {
    let home = Home::new();
    let app = open(&home, home.config());
    let key = || ProviderKey::Store(SecretString::from("sk-planted-lan-0042"), None);
    let err = app
        .add_provider(
            "gpu-box",
            ProviderKind::Compat,
            Some("http://192.168.1.20:8000/v1".into()),
            key(),
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("--allow-http"), "{err}");
    assert!(app.providers().unwrap().is_empty(), "nothing was saved");
    let info = app
        .add_provider_with(
            "gpu-box",
            ProviderKind::Compat,
            Some("http://me:pw-planted@192.168.1.20:8000/v1?token=tk-planted".into()),
            key(),
            true,
        )
        .unwrap();
    assert!(info.allow_http);
    assert_eq!(info.base_url, "http://192.168.1.20:8000/v1?…");
    // It is remembered.
    let again = open(&home, home.config());
    let listed = again.providers().unwrap();
    assert!(listed[0].allow_http);
    assert!(!format!("{listed:?}").contains("planted"));
}

#[test]
fn a_company_ca_file_is_checked_before_it_is_trusted() {
    let home = Home::new();
    let app = open(&home, home.config());
    let ca = TestCa::new("Hearth Test Corp CA");
    let path = ca.write_pem(home.dir.path(), "corp-ca.pem");
    let shown = app.set_ca_file(Some(&path)).unwrap();
    assert_eq!(shown.ca_files.len(), 1);
    assert_eq!(shown.ca_files[0].source, "settings");
    let junk = home.dir.path().join("junk.pem");
    std::fs::write(&junk, "nope").unwrap();
    let err = app.set_ca_file(Some(&junk)).unwrap_err();
    assert!(err.to_string().contains("junk.pem"), "{err}");
    assert_eq!(
        app.network().unwrap().ca_files.len(),
        1,
        "the good one stays"
    );
    assert!(app.set_ca_file(None).unwrap().ca_files.is_empty());
}
