//! A company CA: a server whose certificate an unknown authority signed is
//! refused with a message that says how to trust it, and trusted once its
//! CA file is given (directly and through a proxy's tunnel).

use hearth_net::{FailureKind, Hints, Net, NetConfig, Redirects, explain};
use hearth_testkit::hf::HfStandIn;
use hearth_testkit::proxy::ProxyStandIn;
use hearth_testkit::tls::{TestCa, TlsFront};
use reqwest::Url;

use crate::{HUB_NAME, client, via};

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_is_refused_with_a_way_out() {
    let hub = HfStandIn::start_default();
    let ca = TestCa::new("Hearth Test Corp Inspection CA");
    let front = TlsFront::start(&ca, &["localhost"], hub.addr());
    let url = Url::parse(&format!(
        "https://localhost:{}/api/models?search=smol",
        front.port()
    ))
    .unwrap();
    let net = Net::new(NetConfig {
        hints: Hints {
            trust: "run `hearth network ca FILE`".into(),
            ..Hints::default()
        },
        ..NetConfig::default()
    })
    .unwrap();
    let err = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap_err();
    let failure = explain(&err, &url, &net.route(&url), net.hints());
    assert_eq!(failure.kind, FailureKind::Certificate, "{failure}");
    assert!(!failure.kind.is_retryable());
    let text = failure.message;
    assert!(
        text.contains("localhost") && text.contains("not trusted"),
        "{text}"
    );
    assert!(text.contains("hearth network ca FILE"), "{text}");
    assert!(
        !text.contains("search=smol"),
        "no query in messages: {text}"
    );
}

#[tokio::test]
async fn the_company_ca_file_makes_it_trusted_directly_and_through_a_tunnel() {
    let hub = HfStandIn::start_default();
    let ca = TestCa::new("Hearth Test Corp Inspection CA");
    let front = TlsFront::start(&ca, &["localhost", HUB_NAME], hub.addr());
    let dir = tempfile::tempdir().unwrap();
    // A bundle with another certificate first, as CA bundles are.
    let other = TestCa::new("Some Other CA");
    let bundle = dir.path().join("corp-bundle.pem");
    std::fs::write(&bundle, format!("{}\n{}", other.pem(), ca.pem())).unwrap();

    let direct = Net::new(NetConfig {
        ca_files: vec![bundle.clone()],
        ..NetConfig::default()
    })
    .unwrap();
    let url = format!("https://localhost:{}/api/models?search=smol", front.port());
    let answer = client(&direct, Redirects::SameOrigin)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("SmolLM2"));

    // Through a proxy, to a name only the proxy can reach: the tunnel is
    // end to end, so the certificate is still the server's.
    let proxy = ProxyStandIn::start();
    let mut config = via(&proxy.url());
    config.ca_files = vec![bundle];
    let tunnelled = Net::new(config).unwrap();
    let url = format!("https://{HUB_NAME}:{}/api/models?search=smol", front.port());
    let answer = client(&tunnelled, Redirects::SameOrigin)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("{HUB_NAME}:{}", front.port()));
    assert!(hub.requests().iter().any(|r| r.path == "/api/models"));
}

#[test]
fn unusable_ca_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let net = |path: &std::path::Path| {
        Net::new(NetConfig {
            ca_files: vec![path.to_path_buf()],
            ..NetConfig::default()
        })
    };
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = net(&empty).unwrap_err().to_string();
    assert!(
        err.contains("empty.pem") && err.contains("holds no certificate"),
        "{err}"
    );

    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = net(&broken).unwrap_err().to_string();
    assert!(err.contains("broken.pem"), "{err}");

    let junk_der = dir.path().join("junk.der");
    std::fs::write(&junk_der, [0x30, 0x03, 0x01, 0x01, 0xff]).unwrap();
    let err = net(&junk_der).unwrap_err().to_string();
    assert!(
        err.contains("junk.der") && err.contains("not a usable CA certificate"),
        "{err}"
    );

    let missing = dir.path().join("missing.pem");
    let err = net(&missing).unwrap_err().to_string();
    assert!(
        err.contains("missing.pem") && err.contains("cannot read"),
        "{err}"
    );

    let ca = TestCa::new("Fine CA");
    let fine = ca.write_pem(dir.path(), "fine.pem");
    assert!(net(&fine).is_ok());
}
