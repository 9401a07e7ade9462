//! Redirects: same-origin clients refuse to leave the origin (their custom
//! key headers would follow), any-host clients follow a CDN without the
//! `Authorization` header, and nobody follows https:// down to http://.

use hearth_net::{FailureKind, MAX_REDIRECTS, Net, RedirectRefused, Redirects, explain};
use hearth_testkit::hf::HfStandIn;
use hearth_testkit::providers::{Fault, StandIn, Wire};
use hearth_testkit::tls::{TestCa, TlsFront};
use reqwest::Url;

use crate::client;

fn redirect(to: String) -> Fault {
    Fault::Redirect {
        status: 307,
        location: to,
    }
}

/// `http://localhost:PORT/…` for a stand-in on 127.0.0.1: another host.
fn other_host(server: &StandIn) -> String {
    server.base_url().replace("127.0.0.1", "localhost")
}

#[tokio::test]
async fn same_origin_clients_follow_within_the_origin_and_refuse_other_hosts() {
    let api = StandIn::start(Wire::OpenAi).await;
    let elsewhere = StandIn::start(Wire::OpenAi).await;
    let net = Net::default();
    let models = format!("{}/models", api.base_url());

    api.push_fault(redirect(format!("{}/models", api.base_url())));
    let answer = client(&net, Redirects::SameOrigin)
        .get(&models)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "a redirect within the origin is followed"
    );
    assert_eq!(api.request_count(), 2);

    api.push_fault(redirect(format!("{}/models", other_host(&elsewhere))));
    let url = Url::parse(&models).unwrap();
    let err = client(&net, Redirects::SameOrigin)
        .get(url.clone())
        .header("x-api-key", "sk-planted-0042")
        .send()
        .await
        .unwrap_err();
    let refused = RedirectRefused::of(&err).expect("a refused redirect");
    assert!(
        matches!(refused, RedirectRefused::OtherHost { .. }),
        "{refused}"
    );
    let failure = explain(&err, &url, &net.route(&url), net.hints());
    assert_eq!(failure.kind, FailureKind::Redirect);
    assert!(
        failure.message.contains("another server") && failure.message.contains("localhost"),
        "{failure}"
    );
    assert!(!failure.message.contains("sk-planted"), "{failure}");
    assert_eq!(
        elsewhere.request_count(),
        0,
        "the key never left for the other host"
    );
}

#[tokio::test]
async fn any_host_clients_follow_a_cdn_without_the_authorization_header() {
    let hub = HfStandIn::start_default();
    // The CDN is "another host": the same server under another name.
    hub.set_cdn_base(Some(&format!("http://localhost:{}", hub.addr().port())));
    let url = format!(
        "{}/{}/resolve/main/{}",
        hub.endpoint(),
        hearth_testkit::hf::repos::GATED,
        hearth_testkit::models::SMOLLM2.file_name
    );
    let answer = client(&Net::default(), Redirects::AnyHost)
        .head(&url)
        .bearer_auth(hearth_testkit::hf::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let seen = hub.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].authorized, "the Hub got the token");
    assert!(seen[1].path.starts_with("/cdn/"));
    assert!(!seen[1].sent_authorization, "the CDN did not: {seen:?}");
}

#[tokio::test]
async fn nobody_follows_https_down_to_http() {
    let api = StandIn::start(Wire::OpenAi).await;
    let ca = TestCa::new("Hearth Test CA");
    let addr: std::net::SocketAddr = api.base_url()["http://".len()..]
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let front = TlsFront::start(&ca, &["localhost"], addr);
    let dir = tempfile::tempdir().unwrap();
    let net = Net::new(hearth_net::NetConfig {
        ca_files: vec![ca.write_pem(dir.path(), "ca.pem")],
        ..hearth_net::NetConfig::default()
    })
    .unwrap();
    let url = Url::parse(&format!("https://localhost:{}/v1/models", front.port())).unwrap();
    for redirects in [Redirects::SameOrigin, Redirects::AnyHost] {
        api.push_fault(redirect(format!(
            "http://localhost:{}/v1/models",
            addr.port()
        )));
        let err = client(&net, redirects)
            .get(url.clone())
            .send()
            .await
            .unwrap_err();
        let refused = RedirectRefused::of(&err).expect("a refused redirect");
        assert!(
            matches!(refused, RedirectRefused::Downgrade { .. }),
            "{redirects:?}: {refused}"
        );
        assert!(refused.to_string().contains("not encrypted"), "{refused}");
    }
    assert_eq!(
        api.request_count(),
        2,
        "only the two https:// requests arrived"
    );
}

#[tokio::test]
async fn redirect_loops_end() {
    let api = StandIn::start(Wire::OpenAi).await;
    let models = format!("{}/models", api.base_url());
    for _ in 0..=MAX_REDIRECTS {
        api.push_fault(redirect(models.clone()));
    }
    let err = client(&Net::default(), Redirects::SameOrigin)
        .get(&models)
        .send()
        .await
        .unwrap_err();
    let refused = RedirectRefused::of(&err).expect("a refused redirect");
    assert!(
        matches!(refused, RedirectRefused::TooMany { .. }),
        "{refused}"
    );
    assert_eq!(api.request_count(), MAX_REDIRECTS);
}
