//! Hostile answers to the Hub's JSON routes: a gigabyte body is cut off (at
//! once when it says so up front), a trickle meets the deadline, and a refused
//! certificate or proxy is not retried.

use std::time::Duration;

use hearth_hub::{ApiLimits, HubError, SearchSort};
use hearth_net::BodyLimits;
use hearth_testkit::hf::{Faults, HfStandIn, Hostile, repos};

#[tokio::test]
async fn a_gigabyte_answer_is_cut_off() {
    let hub = HfStandIn::start_default();
    let limits = ApiLimits {
        body: BodyLimits {
            max_bytes: 1 << 20,
            ..ApiLimits::default().body
        },
        ..ApiLimits::default()
    };
    let client = crate::client(&hub).with_limits(limits);
    for declared in [true, false] {
        hub.set_faults(Faults {
            api: Some(Hostile::HugeBody { declared }),
            ..Faults::default()
        });
        let err = client.repo(repos::SMOLLM2).await.unwrap_err();
        assert!(matches!(err, HubError::BadResponse { .. }), "{err}");
        assert!(err.to_string().contains("cut off at 1 MiB"), "{err}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn a_trickling_answer_meets_the_deadline() {
    let hub = HfStandIn::start_default();
    let limits = ApiLimits {
        first_byte: Duration::from_secs(5),
        body: BodyLimits {
            max_bytes: 1 << 20,
            idle: Duration::from_secs(5),
            total: Duration::from_millis(500),
        },
    };
    hub.set_faults(Faults {
        api: Some(Hostile::Trickle {
            every: Duration::from_millis(20),
        }),
        ..Faults::default()
    });
    let err = crate::client(&hub)
        .with_limits(limits)
        .search("smol", SearchSort::Downloads, 5)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err}");
    assert!(err.to_string().contains("did not arrive within"), "{err}");
    assert!(err.is_retryable());
}
