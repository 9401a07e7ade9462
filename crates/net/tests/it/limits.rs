//! Hostile bodies: a gigabyte is cut off as it streams (never allocated, and
//! at once when it says so up front), a trickle meets the deadline, and an
//! endless event stream meets its caps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use hearth_net::{
    BodyError, BodyLimits, CapError, Net, Redirects, StreamCaps, UnitMark, capped, read_body,
};
use hearth_testkit::providers::{Fault, StandIn, Wire};

use crate::client;

const LIMITS: BodyLimits = BodyLimits {
    max_bytes: 1 << 20,
    idle: Duration::from_secs(5),
    total: Duration::from_secs(20),
};

async fn models(server: &StandIn) -> reqwest::Response {
    client(&Net::default(), Redirects::SameOrigin)
        .get(format!("{}/models", server.base_url()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_gigabyte_body_is_cut_off_at_the_limit() {
    let server = StandIn::start(Wire::OpenAi).await;
    server.push_fault(Fault::HugeBody { declared: true });
    let received = AtomicU64::new(0);
    let err = read_body(models(&server).await, &LIMITS, Some(&received))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BodyError::TooLarge { limit } if limit == 1 << 20),
        "{err}"
    );
    assert_eq!(
        received.load(Ordering::Relaxed),
        0,
        "refused from its Content-Length"
    );

    server.push_fault(Fault::HugeBody { declared: false });
    let err = read_body(models(&server).await, &LIMITS, Some(&received))
        .await
        .unwrap_err();
    assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("1 MiB"), "{err}");
    let read = received.load(Ordering::Relaxed);
    assert!(
        read > 1 << 20 && read <= (1 << 20) + (256 << 10),
        "read {read} bytes"
    );
}

#[tokio::test]
async fn a_trickle_meets_the_deadline() {
    let server = StandIn::start(Wire::OpenAi).await;
    server.push_fault(Fault::Trickle {
        every: Duration::from_millis(20),
    });
    let limits = BodyLimits {
        total: Duration::from_millis(600),
        ..LIMITS
    };
    let err = read_body(models(&server).await, &limits, None)
        .await
        .unwrap_err();
    assert!(matches!(err, BodyError::Deadline { .. }), "{err}");

    server.push_fault(Fault::Hang);
    let response = tokio::time::timeout(Duration::from_millis(300), models(&server)).await;
    assert!(
        response.is_err(),
        "a server that never answers is the caller's timeout"
    );
}

#[tokio::test]
async fn an_endless_event_stream_meets_its_caps() {
    let server = StandIn::start(Wire::OpenAi).await;
    server.push_fault(Fault::Endless);
    let response = client(&Net::default(), Redirects::SameOrigin)
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": [], "stream": true}))
        .send()
        .await
        .unwrap();
    let mark = UnitMark::default();
    let caps = StreamCaps {
        max_total: 256 << 10,
        max_unit: 64 << 10,
    };
    let mut stream = std::pin::pin!(capped(response.bytes_stream(), caps, mark.clone()));
    let mut chunks = 0;
    let end = loop {
        match stream.next().await {
            Some(Ok(_)) => {
                chunks += 1;
                mark.reached();
            }
            Some(Err(e)) => break e,
            None => panic!("an endless stream ended"),
        }
    };
    assert!(matches!(end, CapError::TooLarge { .. }), "{end}");
    assert!(chunks > 0);
    assert!(mark.total() <= (256 << 10) + (64 << 10), "{}", mark.total());
    assert!(stream.next().await.is_none(), "nothing after the cap");
}
