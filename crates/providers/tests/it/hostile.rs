//! Hostile servers, against every provider wire: redirects to another host
//! (which would carry `x-api-key` / `x-goog-api-key` along) or down to plain
//! http, endless streams, gigabyte bodies and trickles. Each ends with a
//! clear error, the key stays home, and memory stays bounded.

use std::time::Duration;

use hearth_backend::{ErrorKind, FinishReason};
use hearth_net::{Net, NetConfig};
use hearth_providers::HttpPolicy;
use hearth_testkit::providers::{Fault, StandIn};
use hearth_testkit::tls::{TestCa, TlsFront};
use tokio_util::sync::CancellationToken;

use crate::{Case, KEY, assert_clean, chat, fast_policy, provider_at, request, setup};

/// Where `case`'s chat requests go, from the origin.
fn chat_path(case: Case) -> String {
    match case {
        Case::OpenAi | Case::Compat => "/v1/chat/completions".into(),
        Case::Anthropic => "/v1/messages".into(),
        Case::Gemini => format!(
            "/v1beta/models/{}:streamGenerateContent?alt=sse",
            case.model()
        ),
    }
}

/// `http://127.0.0.1:PORT` of a stand-in.
fn origin(server: &StandIn) -> String {
    let base = server.base_url();
    base.trim_end_matches("/v1").to_owned()
}

fn redirect(location: String) -> Fault {
    Fault::Redirect {
        status: 307,
        location,
    }
}

/// No retries: each test sees the first failure.
fn once() -> HttpPolicy {
    HttpPolicy {
        max_retries: 0,
        ..fast_policy()
    }
}

async fn redirect_within_the_origin_is_followed(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(redirect(format!(
        "{}{}",
        origin(&s.server),
        chat_path(case)
    )));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.text, s.server.answer());
    assert_eq!(text, s.server.answer());
    let requests = s.server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, requests[0].body, "307 keeps the body");
}

async fn redirect_to_another_host_is_refused(case: Case) {
    let s = setup(case, once()).await;
    let elsewhere = StandIn::start(case.wire()).await;
    let other = origin(&elsewhere).replace("127.0.0.1", "localhost");
    s.server
        .push_fault(redirect(format!("{other}{}", chat_path(case))));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert!(!err.is_retryable() && !err.allows_fallback());
    let message = err.to_string();
    assert!(message.contains(case.shown()), "{message}");
    assert!(
        message.contains("another server") && message.contains("localhost"),
        "{message}"
    );
    assert!(text.is_empty());
    assert_eq!(
        elsewhere.request_count(),
        0,
        "the key never reached the other host"
    );

    // The model list too.
    s.server.push_fault(redirect(format!("{other}/v1/models")));
    let err = s.provider.list_models().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert_clean(&err);
    assert_eq!(elsewhere.request_count(), 0);
}

async fn https_down_to_http_is_refused(case: Case) {
    let server = StandIn::start(case.wire()).await;
    let key = (case != Case::Compat).then_some(KEY);
    if let Some(key) = key {
        server.expect_key(key);
    }
    let ca = TestCa::new("Hearth Test CA");
    let origin = origin(&server);
    let addr = origin["http://".len()..].parse().unwrap();
    let front = TlsFront::start(&ca, &["localhost"], addr);
    let dir = tempfile::tempdir().unwrap();
    let net = Net::new(NetConfig {
        ca_files: vec![ca.write_pem(dir.path(), "ca.pem")],
        ..NetConfig::default()
    })
    .unwrap();
    let https = server
        .base_url()
        .replace(&origin, &format!("https://localhost:{}", front.port()));
    let (provider, _, _) = provider_at(case, &https, key, once(), net);
    // Secure, it works.
    let (result, _) = chat(&provider, request(case), CancellationToken::new()).await;
    assert_eq!(result.unwrap().text, server.answer());
    // Sent down to http://, it stops.
    let plain = format!("http://localhost:{}{}", addr.port(), chat_path(case));
    server.push_fault(redirect(plain));
    let (result, _) = chat(&provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected, "{err}");
    assert!(err.to_string().contains("not encrypted"), "{err}");
    assert_eq!(
        server.request_count(),
        2,
        "nothing went out over plain http"
    );
}

async fn endless_stream_is_cut(case: Case) {
    let s = setup(case, once()).await;
    s.server.push_fault(Fault::Endless);
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    // Text was shown: the answer is kept, marked as stopped part-way.
    assert_eq!(err.kind, ErrorKind::Interrupted, "{err}");
    assert!(err.to_string().contains("sent too much"), "{err}");
    assert!(err.to_string().contains("1 MiB"), "{err}");
    assert!(text.starts_with("more more"), "{text:.40}");
    assert_eq!(err.partial, text);
    assert!(text.len() < 1 << 20, "{}", text.len());
}

async fn gigabyte_event_is_cut(case: Case) {
    let s = setup(case, once()).await;
    s.server.push_fault(Fault::HugeBody { declared: false });
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed, "{err}");
    assert!(err.to_string().contains("64 KiB"), "{err}");
    assert!(text.is_empty());
    let event = s.ledger.events().pop().unwrap();
    assert!(
        event.bytes_received < (64 << 10) + (256 << 10),
        "read {} bytes",
        event.bytes_received
    );
}

async fn gigabyte_model_list_is_cut(case: Case) {
    let s = setup(case, once()).await;
    for declared in [true, false] {
        s.server.push_fault(Fault::HugeBody { declared });
        let err = s.provider.list_models().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Malformed, "{err}");
        assert!(err.to_string().contains("256 KiB"), "{err}");
        assert_clean(&err);
    }
    let events = s.ledger.events();
    assert_eq!(events[0].bytes_received, 0, "refused from Content-Length");
    assert!(events[1].bytes_received <= (256 << 10) + (64 << 10));
}

async fn trickle_times_out(case: Case) {
    let policy = HttpPolicy {
        idle_timeout: Duration::from_millis(400),
        first_byte_timeout: Duration::from_millis(400),
        ..once()
    };
    let s = setup(case, policy).await;
    s.server.push_fault(Fault::Trickle {
        every: Duration::from_millis(50),
    });
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(text.is_empty());
    let cancelled = chat(&s.provider, request(case), CancellationToken::new()).await;
    assert_eq!(
        cancelled.0.unwrap().finish,
        FinishReason::Stop,
        "the next call is fine"
    );
}

macro_rules! hostile {
    ($($case:ident => $variant:expr),* $(,)?) => {$(
        mod $case {
            use super::*;
            #[tokio::test] async fn redirect_within_the_origin_is_followed() { super::redirect_within_the_origin_is_followed($variant).await }
            #[tokio::test] async fn redirect_to_another_host_is_refused() { super::redirect_to_another_host_is_refused($variant).await }
            #[tokio::test] async fn https_down_to_http_is_refused() { super::https_down_to_http_is_refused($variant).await }
            #[tokio::test] async fn endless_stream_is_cut() { super::endless_stream_is_cut($variant).await }
            #[tokio::test] async fn gigabyte_event_is_cut() { super::gigabyte_event_is_cut($variant).await }
            #[tokio::test] async fn gigabyte_model_list_is_cut() { super::gigabyte_model_list_is_cut($variant).await }
            #[tokio::test] async fn trickle_times_out() { super::trickle_times_out($variant).await }
        }
    )*};
}

hostile! {
    openai => Case::OpenAi,
    anthropic => Case::Anthropic,
    gemini => Case::Gemini,
    compat => Case::Compat,
}
