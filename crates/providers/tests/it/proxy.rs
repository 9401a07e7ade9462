//! Cloud providers behind a company proxy: an HTTPS API through an
//! authenticated tunnel with the company's CA, a plain-http server through a
//! forwarding proxy, and the proxy's refusals as errors a user can act on.
//! Every ledger event names the proxy.

use hearth_backend::ErrorKind;
use hearth_net::{Hints, Net, NetConfig, NoProxy, ProxyConfig, ProxyServer};
use hearth_testkit::providers::StandIn;
use hearth_testkit::proxy::{ProxyMode, ProxyStandIn};
use hearth_testkit::tls::{TestCa, TlsFront};
use tokio_util::sync::CancellationToken;

use crate::{Case, KEY, assert_clean, chat, fast_policy, provider_at, request};

/// A name only the test proxy reaches.
const API_NAME: &str = "api.hearth.test";

fn net(proxy: &str, ca_file: Option<std::path::PathBuf>) -> Net {
    Net::new(NetConfig {
        proxy: ProxyConfig::all(ProxyServer::parse(proxy).unwrap(), NoProxy::default()),
        ca_files: ca_file.into_iter().collect(),
        hints: Hints {
            proxy_credentials: "run `hearth network proxy set URL --user NAME`".into(),
            ..Hints::default()
        },
    })
    .unwrap()
}

/// An Anthropic stand-in behind TLS at `https://api.hearth.test:PORT`.
struct Secure {
    server: StandIn,
    front: TlsFront,
    _dir: tempfile::TempDir,
    ca_file: std::path::PathBuf,
}

async fn secure(case: Case) -> Secure {
    let server = StandIn::start(case.wire()).await;
    server.expect_key(KEY);
    let ca = TestCa::new("Hearth Test Corp CA");
    let addr = server.base_url()["http://".len()..]
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let front = TlsFront::start(&ca, &[API_NAME], addr);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "corp-ca.pem");
    Secure {
        server,
        front,
        _dir: dir,
        ca_file,
    }
}

impl Secure {
    fn base_url(&self) -> String {
        format!("https://{API_NAME}:{}", self.front.port())
    }
}

#[tokio::test]
async fn an_https_api_answers_through_an_authenticated_tunnel() {
    let s = secure(Case::Anthropic).await;
    let proxy = ProxyStandIn::with_credentials("alice", "pw-planted");
    let with_creds = proxy.url().replace("http://", "http://alice:pw-planted@");
    let (provider, ledger, _) = provider_at(
        Case::Anthropic,
        &s.base_url(),
        Some(KEY),
        fast_policy(),
        net(&with_creds, Some(s.ca_file.clone())),
    );
    let (result, text) = chat(
        &provider,
        request(Case::Anthropic),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(result.unwrap().text, s.server.answer());
    assert_eq!(text, s.server.answer());
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("{API_NAME}:{}", s.front.port()));
    assert!(seen[0].admitted);
    let events = ledger.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].via.as_deref(), Some(proxy.address().as_str()));
    assert_eq!(events[0].host, API_NAME);
    assert!(events[0].ok);
    // The models too, through the same tunnel settings.
    assert_eq!(provider.test_connection().await.unwrap(), 2);
}

#[tokio::test]
async fn a_keyless_server_answers_through_a_forwarding_proxy() {
    let server = StandIn::start(Case::Compat.wire()).await;
    let proxy = ProxyStandIn::start();
    let base = server.base_url().replace("127.0.0.1", API_NAME);
    let (provider, ledger, _) = provider_at(
        Case::Compat,
        &base,
        None,
        fast_policy(),
        net(&proxy.url(), None),
    );
    let (result, _) = chat(&provider, request(Case::Compat), CancellationToken::new()).await;
    assert_eq!(result.unwrap().text, server.answer());
    let seen = proxy.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, format!("{base}/chat/completions"));
    assert_eq!(
        ledger.events()[0].via.as_deref(),
        Some(proxy.address().as_str())
    );
}

#[tokio::test]
async fn proxy_refusals_are_errors_a_user_can_act_on() {
    let s = secure(Case::OpenAi).await;

    // Credentials missing: an auth error naming the proxy and the fix; not retried.
    let proxy = ProxyStandIn::with_credentials("alice", "pw");
    let (provider, _, _) = provider_at(
        Case::OpenAi,
        &format!("{}/v1", s.base_url()),
        Some(KEY),
        fast_policy(),
        net(&proxy.url(), Some(s.ca_file.clone())),
    );
    let (result, _) = chat(&provider, request(Case::OpenAi), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&proxy.address()) && message.contains("HTTP 407"),
        "{message}"
    );
    assert!(message.contains("hearth network proxy set"), "{message}");
    assert_eq!(proxy.seen().len(), 1, "a 407 is not retried");
    assert_clean(&err);

    // A proxy that blocks the site: rejected, not retried.
    let blocking = ProxyStandIn::misbehaving(ProxyMode::RefuseTunnels);
    let (provider, _, _) = provider_at(
        Case::OpenAi,
        &format!("{}/v1", s.base_url()),
        Some(KEY),
        fast_policy(),
        net(&blocking.url(), Some(s.ca_file.clone())),
    );
    let (result, _) = chat(&provider, request(Case::OpenAi), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert!(
        err.to_string()
            .contains("refused to connect to api.hearth.test"),
        "{err}"
    );
    assert_eq!(blocking.seen().len(), 1);

    // A proxy that resets: a connection error, retried, naming the proxy.
    let resetting = ProxyStandIn::misbehaving(ProxyMode::Reset);
    let (provider, _, _) = provider_at(
        Case::OpenAi,
        &format!("{}/v1", s.base_url()),
        Some(KEY),
        fast_policy(),
        net(&resetting.url(), Some(s.ca_file.clone())),
    );
    let (result, _) = chat(&provider, request(Case::OpenAi), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains(&resetting.address()), "{err}");
    assert_eq!(resetting.seen().len(), 3, "the first try and two retries");
    assert_eq!(s.server.request_count(), 0, "nothing got through");

    // Without the company CA, the tunnel works but the certificate is refused.
    let open = ProxyStandIn::start();
    let (provider, _, _) = provider_at(
        Case::OpenAi,
        &format!("{}/v1", s.base_url()),
        Some(KEY),
        fast_policy(),
        net(&open.url(), None),
    );
    let (result, _) = chat(&provider, request(Case::OpenAi), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
    assert!(err.to_string().contains("may be inspecting HTTPS"), "{err}");
}
