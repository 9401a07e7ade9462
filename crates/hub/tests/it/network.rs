//! The Hub behind a company network: through an authenticated proxy, over
//! TLS signed by the company's CA; downloads redirected to a CDN on another
//! host (without the token); a token never sent over plain http to another
//! machine; the proxy named in every route.

use std::time::Duration;

use hearth_hub::{DownloadEvent, HubClient, HubError, Net, SearchSort, SecretString};
use hearth_net::{NetConfig, NoProxy, ProxyConfig, ProxyServer};
use hearth_testkit::hf::{Faults, HfStandIn, TOKEN, repos};
use hearth_testkit::proxy::ProxyStandIn;
use hearth_testkit::tls::{TestCa, TlsFront};

use crate::{library, options};

const HUB_NAME: &str = "hub.hearth.test";

fn via(proxy: &str, ca_file: Option<std::path::PathBuf>) -> Net {
    Net::new(NetConfig {
        proxy: ProxyConfig::all(ProxyServer::parse(proxy).unwrap(), NoProxy::default()),
        ca_files: ca_file.into_iter().collect(),
        ..NetConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn search_and_download_through_an_authenticated_proxy_with_the_company_ca() {
    let hub = HfStandIn::start_default();
    let ca = TestCa::new("Hearth Test Corp CA");
    let front = TlsFront::start(&ca, &[HUB_NAME], hub.addr());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path(), "corp-ca.pem");
    let proxy = ProxyStandIn::with_credentials("alice", "pw");
    let net = via(
        &proxy.url().replace("http://", "http://alice:pw@"),
        Some(ca_file),
    );
    let endpoint = format!("https://{HUB_NAME}:{}", front.port());
    let client = HubClient::with_network(&endpoint, None, &net).unwrap();
    assert_eq!(client.route().via(), Some(proxy.address().as_str()));

    let hits = client
        .search("tiny", SearchSort::Downloads, 5)
        .await
        .unwrap();
    assert_eq!(hits[0].id, repos::SPLIT);
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let repo = client.repo(repos::SPLIT).await.unwrap();
    let entry = client
        .download(&repo, repo.select(Some("Q8_0")).unwrap(), &mut lib, &opts)
        .await
        .unwrap();
    assert_eq!(entry.files.len(), 1);
    // Every connection was a tunnel the proxy let through (it may be reused).
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| s.method == "CONNECT" && s.admitted && s.target.starts_with(HUB_NAME)),
        "{seen:?}"
    );
    assert_eq!(hub.file_bodies().len(), 1);
}

#[tokio::test]
async fn a_download_redirected_to_a_cdn_on_another_host_works_without_the_token() {
    let hub = HfStandIn::start_default();
    hub.set_cdn_base(Some(&format!("http://localhost:{}", hub.addr().port())));
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let client =
        HubClient::new(hub.endpoint(), Some(SecretString::from(TOKEN.to_owned()))).unwrap();
    let repo = client.repo(repos::GATED).await.unwrap();
    client
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap();
    let requests = hub.requests();
    let resolve = requests
        .iter()
        .find(|r| r.path.contains("/resolve/"))
        .unwrap();
    assert!(resolve.authorized, "the Hub got the token");
    let cdn: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/cdn/"))
        .collect();
    assert!(!cdn.is_empty());
    assert!(cdn.iter().all(|r| !r.sent_authorization), "{cdn:?}");
}

#[tokio::test]
async fn a_token_is_never_sent_over_plain_http_to_another_machine() {
    let hub = HfStandIn::start_default();
    let proxy = ProxyStandIn::start();
    // Plain http:// to a name that is not this machine (reached through the proxy).
    let endpoint = format!("http://{HUB_NAME}:{}", hub.addr().port());
    let client = HubClient::with_network(
        &endpoint,
        Some(SecretString::from(TOKEN.to_owned())),
        &via(&proxy.url(), None),
    )
    .unwrap();
    // Public things work without it.
    client.repo(repos::SMOLLM2).await.unwrap();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let repo = client.repo(repos::GATED).await.unwrap();
    let err = client
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::TokenWithheld { .. }), "{err}");
    assert!(err.to_string().contains("https://"), "{err}");
    assert!(hub.requests().iter().all(|r| !r.sent_authorization));
    // To this machine, it is sent.
    let local = HubClient::new(hub.endpoint(), Some(SecretString::from(TOKEN.to_owned()))).unwrap();
    local.repo(repos::GATED).await.unwrap();
    assert!(hub.requests().last().unwrap().authorized);
}

#[tokio::test]
async fn a_download_that_trickles_is_a_stall() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (mut opts, events) = options();
    opts.stall_timeout = Duration::from_millis(300);
    opts.min_speed = 10_000;
    let control = opts.control.clone();
    let seen = events.clone();
    // Pause as soon as the trickle is noticed (it would otherwise resume, slowly).
    opts.on_event = std::sync::Arc::new(move |e: &DownloadEvent| {
        if let DownloadEvent::Retrying { reason, .. } = e
            && reason.contains("too slow")
        {
            control.pause();
        }
        seen.lock().unwrap().push(e.clone());
    });
    let client = crate::client(&hub);
    let repo = client.repo(repos::SMOLLM2).await.unwrap();
    hub.set_faults(Faults {
        trickle: Some(Duration::from_millis(20)),
        ..Faults::default()
    });
    let err = client
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Paused), "{err}");
    let events = events.lock().unwrap();
    let reason = events
        .iter()
        .find_map(|e| match e {
            DownloadEvent::Retrying { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("too slow") && reason.contains("9.8 KiB"),
        "{reason}"
    );
    let pending = hearth_hub::pending_downloads(&lib);
    assert_eq!(pending.len(), 1, "the trickled bytes are kept for a resume");
    assert!(pending[0].done > 0);
}
