//! `hearth network` and friends from the command line: a proxy from the
//! settings or the environment carrying a provider call (the ledger names
//! it), a company CA, and keys refused over plain http. (`hearth login`
//! checking a token is in `library.rs`, with the other keychain steps.)

use hearth_testkit::providers::{StandIn, Wire};
use hearth_testkit::proxy::ProxyStandIn;
use hearth_testkit::tls::TestCa;
use serde_json::Value;

use crate::{Home, run_ok, texts};

/// A name only the test proxy reaches.
const API: &str = "api.hearth.test";

/// The keychain is shared by every test: provider names of their own.
fn unique(name: &str) -> String {
    format!("{name}{}", std::process::id())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_proxy_from_the_settings_carries_provider_calls_and_the_log_names_it() {
    let rt = runtime();
    let server = rt.block_on(StandIn::start(Wire::OpenAi));
    let proxy = ProxyStandIn::start();
    let home = Home::new();
    let base = server.base_url().replace("127.0.0.1", API);
    let lan = unique("lan");
    run_ok(
        home.hearth()
            .args([
                "provider",
                "add",
                "compat",
                "--name",
                &lan,
                "--no-key",
                "--base-url",
            ])
            .arg(&base),
    );
    let (out, _) = run_ok(
        home.hearth()
            .args(["network", "proxy", "set"])
            .arg(proxy.url())
            .args(["--no-proxy", "intranet.corp"]),
    );
    assert!(
        out.contains(&format!("proxy: {}/ (from settings)", proxy.url())),
        "{out}"
    );
    assert!(
        out.contains("direct: this machine and intranet.corp"),
        "{out}"
    );

    let (out, _) = run_ok(home.hearth().args(["provider", "test", &lan]));
    assert!(out.contains("connected, 2 models"), "{out}");
    assert_eq!(proxy.seen().len(), 1);
    assert_eq!(proxy.seen()[0].target, format!("{base}/models"));
    let (out, _) = run_ok(home.hearth().args(["network", "log"]));
    assert!(out.contains(&format!("via {}", proxy.address())), "{out}");
    let (out, _) = run_ok(home.hearth().args(["network", "log", "--json"]));
    let log: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(log[0]["via"], proxy.address().as_str());

    // Off: the environment's proxy variables are ignored too.
    let (out, _) = run_ok(
        home.hearth()
            .args(["network", "proxy", "off"])
            .env("HTTPS_PROXY", "http://127.0.0.1:9"),
    );
    assert!(out.contains("proxy: none (off"), "{out}");
    let (out, _) = run_ok(home.hearth().args(["network", "status", "--json"]));
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["proxyMode"], "off");
    assert_eq!(status["offline"], false);
}

#[test]
fn the_environments_proxy_with_credentials_is_used_and_never_shown() {
    let rt = runtime();
    let server = rt.block_on(StandIn::start(Wire::OpenAi));
    let proxy = ProxyStandIn::with_credentials("alice", "pw-planted-cli");
    let home = Home::new();
    let base = server.base_url().replace("127.0.0.1", API);
    let lan = unique("lan");
    run_ok(
        home.hearth()
            .args([
                "provider",
                "add",
                "compat",
                "--name",
                &lan,
                "--no-key",
                "--base-url",
            ])
            .arg(&base),
    );
    let with_creds = proxy
        .url()
        .replace("http://", "http://alice:pw-planted-cli@");
    let (out, err) = run_ok(
        home.hearth()
            .args(["provider", "test", &lan])
            .env("http_proxy", &with_creds),
    );
    assert!(out.contains("connected"), "{out}");
    assert!(proxy.seen()[0].admitted);
    let (status, _) = run_ok(
        home.hearth()
            .args(["network", "status"])
            .env("HTTP_PROXY", &with_creds),
    );
    assert!(
        status.contains("(from HTTP_PROXY)") && status.contains("proxy user: alice"),
        "{status}"
    );
    for text in [&out, &err, &status] {
        assert!(!text.contains("pw-planted"), "{text}");
    }

    // Wrong credentials: the error names the proxy and what to do.
    let wrong = proxy.url().replace("http://", "http://alice:nope@");
    let failed = home
        .hearth()
        .args(["provider", "test", &lan])
        .env("HTTP_PROXY", &wrong)
        .output()
        .unwrap();
    let (_, err) = texts(&failed);
    assert!(!failed.status.success());
    assert!(
        err.contains(&proxy.address()) && err.contains("407"),
        "{err}"
    );
    assert!(err.contains("hearth network proxy set"), "{err}");

    // A SOCKS proxy in the environment: said plainly, not ignored.
    let socks = home
        .hearth()
        .args(["provider", "test", &lan])
        .env("HTTP_PROXY", "socks5://127.0.0.1:1080")
        .output()
        .unwrap();
    let (_, err) = texts(&socks);
    assert!(!socks.status.success());
    assert!(err.contains("HTTP_PROXY") && err.contains("SOCKS"), "{err}");
}

#[test]
fn keys_over_plain_http_to_another_machine_need_allow_http() {
    let home = Home::new();
    let name = unique("gpubox");
    let add = |extra: &[&str]| {
        home.hearth()
            .args([
                "provider",
                "add",
                "compat",
                "--name",
                &name,
                "--key-env",
                "LAN_KEY",
            ])
            .args(["--base-url", "http://me:pw-planted@192.168.1.20:8000/v1"])
            .args(extra)
            .env("LAN_KEY", "sk-planted-lan-key-0042")
            .output()
            .unwrap()
    };
    let refused = add(&[]);
    let (_, err) = texts(&refused);
    assert!(!refused.status.success());
    assert!(
        err.contains("--allow-http") && err.contains("unencrypted"),
        "{err}"
    );
    assert!(
        !err.contains("pw-planted") && !err.contains("sk-planted"),
        "{err}"
    );
    let allowed = add(&["--allow-http"]);
    assert!(allowed.status.success(), "{}", texts(&allowed).1);
    let (out, _) = run_ok(home.hearth().args(["provider", "list"]));
    assert!(out.contains("http://192.168.1.20:8000/v1"), "{out}");
    assert!(!out.contains("pw-planted"), "{out}");
    run_ok(home.hearth().args(["provider", "rm", &name]));
}

#[test]
fn a_company_ca_file_is_checked_and_listed() {
    let home = Home::new();
    let ca = TestCa::new("Hearth Test Corp CA");
    let path = ca.write_pem(home.path(), "corp-ca.pem");
    let (out, _) = run_ok(home.hearth().args(["network", "ca"]).arg(&path));
    assert!(out.contains("corp-ca.pem (from settings)"), "{out}");
    let (out, _) = run_ok(
        home.hearth()
            .args(["network", "ca"])
            .env("HEARTH_CA_FILE", &path),
    );
    assert!(out.contains("(from HEARTH_CA_FILE)"), "{out}");
    let junk = home.path().join("junk.pem");
    std::fs::write(&junk, "nope").unwrap();
    let failed = home
        .hearth()
        .args(["network", "ca"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        texts(&failed).1.contains("holds no certificate"),
        "{}",
        texts(&failed).1
    );
    let (out, _) = run_ok(home.hearth().args(["network", "ca", "--clear"]));
    assert!(
        out.contains("the system's certificate authorities"),
        "{out}"
    );
    assert!(!out.contains("corp-ca.pem"), "{out}");
}
