//! Through a real proxy: tunnels for https://, forwarding for http://,
//! credentials, and proxies that refuse, reset, close or are not there.

use hearth_net::{
    FailureKind, Net, NetConfig, NoProxy, ProxyConfig, ProxyServer, Redirects, Route, explain,
    proxy_status,
};
use hearth_testkit::hf::HfStandIn;
use hearth_testkit::proxy::{ProxyMode, ProxyStandIn};
use hearth_testkit::tls::{TestCa, TlsFront};
use reqwest::Url;

use crate::{HUB_NAME, client, via};

/// The hub stand-in behind TLS, trusted through `ca`'s file.
struct Secure {
    hub: HfStandIn,
    front: TlsFront,
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
}

fn secure() -> Secure {
    let hub = HfStandIn::start_default();
    let ca = TestCa::new("Hearth Test CA");
    let front = TlsFront::start(&ca, &[HUB_NAME], hub.addr());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "ca.pem");
    Secure {
        hub,
        front,
        _dir: dir,
        ca_file,
    }
}

impl Secure {
    fn url(&self) -> Url {
        Url::parse(&format!(
            "https://{HUB_NAME}:{}/api/models?search=smol",
            self.front.port()
        ))
        .unwrap()
    }

    fn net(&self, proxy: &str) -> Net {
        let mut config = via(proxy);
        config.ca_files = vec![self.ca_file.clone()];
        Net::new(config).unwrap()
    }
}

#[tokio::test]
async fn plain_http_is_forwarded_and_the_route_names_the_proxy() {
    let hub = HfStandIn::start_default();
    let proxy = ProxyStandIn::start();
    let net = Net::new(via(&proxy.url())).unwrap();
    let url = Url::parse(&format!(
        "http://{HUB_NAME}:{}/api/models?search=smol",
        hub.addr().port()
    ))
    .unwrap();
    assert_eq!(net.route(&url).via(), Some(proxy.address().as_str()));
    let answer = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("SmolLM2"));
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, url.as_str());
    assert!(seen[0].admitted && !seen[0].sent_credentials);
}

#[tokio::test]
async fn a_proxy_that_wants_credentials_gets_them_and_says_when_they_are_missing_or_wrong() {
    let s = secure();
    let proxy = ProxyStandIn::with_credentials("alice", "s3cret pass");
    let addr = proxy.address();
    let url = s.url();

    // None: the tunnel is refused with 407.
    let net = s.net(&proxy.url());
    let err = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap_err();
    let failure = explain(&err, &url, &net.route(&url), net.hints());
    assert_eq!(failure.kind, FailureKind::ProxyAuth, "{failure}");
    assert!(
        failure.message.contains(&addr) && failure.message.contains("asks for a user name"),
        "{failure}"
    );

    // Wrong ones: "rejected".
    let net = s.net(&format!("http://alice:wrong@{addr}"));
    let err = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap_err();
    let failure = explain(&err, &url, &net.route(&url), net.hints());
    assert_eq!(failure.kind, FailureKind::ProxyAuth, "{failure}");
    assert!(
        failure
            .message
            .contains("rejected the user name and password"),
        "{failure}"
    );
    assert!(!failure.message.contains("wrong"), "{failure}");

    // Right ones (percent-encoded in the address, as in HTTPS_PROXY).
    let net = s.net(&format!("http://alice:s3cret%20pass@{addr}"));
    let answer = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(proxy.seen().last().unwrap().admitted);
    assert_eq!(
        s.hub.requests().len(),
        1,
        "only the admitted tunnel reached the server"
    );

    // Forwarded plain http:// gets the 407 as a status: it is the proxy's.
    let plain = Url::parse(&format!(
        "http://{HUB_NAME}:{}/api/models",
        s.hub.addr().port()
    ))
    .unwrap();
    let net = Net::new(via(&proxy.url())).unwrap();
    let answer = client(&net, Redirects::SameOrigin)
        .get(plain.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 407);
    let failure = proxy_status(407, &net.route(&plain), net.hints()).unwrap();
    assert_eq!(failure.kind, FailureKind::ProxyAuth);
    assert_eq!(proxy_status(407, &Route::Direct, net.hints()), None);
}

#[tokio::test]
async fn proxies_that_refuse_reset_close_or_are_absent_are_named_in_the_error() {
    let s = secure();
    let url = s.url();
    let cases = [
        (
            ProxyMode::RefuseTunnels,
            FailureKind::ProxyRefused,
            "refused to connect to",
        ),
        (
            ProxyMode::Close,
            FailureKind::Connect,
            "closed the connection",
        ),
        (ProxyMode::Reset, FailureKind::Connect, "proxy"),
    ];
    for (mode, kind, words) in cases {
        let proxy = ProxyStandIn::misbehaving(mode);
        let net = s.net(&proxy.url());
        let err = client(&net, Redirects::SameOrigin)
            .get(url.clone())
            .send()
            .await
            .unwrap_err();
        let failure = explain(&err, &url, &net.route(&url), net.hints());
        assert_eq!(failure.kind, kind, "{mode:?}: {failure}");
        assert!(failure.message.contains(words), "{mode:?}: {failure}");
        assert!(
            failure.message.contains(&proxy.address()),
            "{mode:?}: {failure}"
        );
        assert_eq!(proxy.seen().len(), 1, "{mode:?}");
    }
    // A proxy that is not there at all.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let net = s.net(&format!("http://{gone}"));
    let err = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .send()
        .await
        .unwrap_err();
    let failure = explain(&err, &url, &net.route(&url), net.hints());
    assert_eq!(failure.kind, FailureKind::Connect, "{failure}");
    assert!(failure.kind.is_retryable());
    assert!(
        failure
            .message
            .contains(&format!("could not connect to the proxy {gone}")),
        "{failure}"
    );
    assert!(s.hub.requests().is_empty(), "nothing reached the server");
}

#[tokio::test]
async fn this_machine_and_no_proxy_hosts_are_reached_directly() {
    let hub = HfStandIn::start_default();
    // A proxy that would break anything sent to it.
    let proxy = ProxyStandIn::misbehaving(ProxyMode::Reset);
    let net = Net::new(NetConfig {
        proxy: ProxyConfig::all(
            ProxyServer::parse(&proxy.url()).unwrap(),
            NoProxy::parse("corp.example"),
        ),
        ..NetConfig::default()
    })
    .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = Url::parse(&format!("http://{host}:{}/api/models", hub.addr().port())).unwrap();
        assert_eq!(net.route(&url), Route::Direct);
        let answer = client(&net, Redirects::SameOrigin)
            .get(url)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{host}");
    }
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    let excepted = Url::parse("https://git.corp.example/").unwrap();
    assert_eq!(net.route(&excepted), Route::Direct);
    let proxied = Url::parse("https://huggingface.co/").unwrap();
    assert_eq!(net.route(&proxied).via(), Some(proxy.address().as_str()));
}
