//! A circuit breaker per provider: after a run of failed requests Hearth stops
//! sending for a while, then lets one probe through.
//!
//! A "request" is a whole call with its retries. Failures that say the
//! provider is unwell (server errors, timeouts, dropped connections, rate
//! limits, garbage) count; a rejected key or request says nothing about the
//! provider's health, so it neither counts nor resets the run.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hearth_backend::{BackendError, ErrorKind};
use serde::Serialize;

/// What the breaker lets through, for display (`hearth provider list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests go through; `failures` in a row so far.
    Closed { failures: u32 },
    /// Requests fail at once for `retry_in` more.
    Open { retry_in: Duration },
    /// The cooldown is over: the next request is a probe.
    HalfOpen,
}

/// How a request ended, in the breaker's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failure,
    /// Says nothing about the provider's health (rejected, cancelled).
    Neutral,
}

impl Outcome {
    pub(crate) fn of<T>(result: &Result<T, BackendError>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(e) => match e.kind {
                ErrorKind::Server
                | ErrorKind::Timeout
                | ErrorKind::Connection
                | ErrorKind::RateLimit
                | ErrorKind::Malformed
                | ErrorKind::Interrupted => Self::Failure,
                _ => Self::Neutral,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `probing`: a probe is in flight; others wait for its verdict.
    HalfOpen {
        probing: bool,
    },
}

/// The breaker of one provider.
#[derive(Debug)]
pub(crate) struct Breaker {
    /// The provider's name, for the log.
    name: String,
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

/// Leave to send one request. Dropping it without [`Permit::record`] (the
/// caller's future was dropped) counts as neutral, so a probe never stays
/// "in flight" forever.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    recorded: bool,
}

impl Permit<'_> {
    pub(crate) fn record(mut self, outcome: Outcome) {
        self.recorded = true;
        self.breaker.record_at(outcome, Instant::now());
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.breaker.record_at(Outcome::Neutral, Instant::now());
        }
    }
}

impl Breaker {
    pub(crate) fn new(name: &str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            name: name.to_owned(),
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit, or how long until the breaker lets a probe through.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Duration> {
        self.admit_at(Instant::now())?;
        Ok(Permit {
            breaker: self,
            recorded: false,
        })
    }

    fn admit_at(&self, now: Instant) -> Result<(), Duration> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < until => Err(until - now),
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(())
            }
            Inner::HalfOpen { probing: true } => Err(Duration::ZERO),
        }
    }

    fn record_at(&self, outcome: Outcome, now: Instant) {
        let mut inner = self.lock();
        *inner = match (*inner, outcome) {
            (Inner::HalfOpen { .. }, Outcome::Success) => {
                tracing::info!(provider = %self.name, "probe succeeded; circuit breaker closed");
                Inner::Closed { failures: 0 }
            }
            (_, Outcome::Success) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, Outcome::Failure) => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    tracing::info!(provider = %self.name, failures, "circuit breaker opened");
                    Inner::Open {
                        until: now + self.cooldown,
                    }
                } else {
                    Inner::Closed { failures }
                }
            }
            (Inner::HalfOpen { .. }, Outcome::Failure) => {
                tracing::info!(provider = %self.name, "probe failed; circuit breaker open again");
                Inner::Open {
                    until: now + self.cooldown,
                }
            }
            // A neutral probe: the next request probes again.
            (Inner::HalfOpen { .. }, Outcome::Neutral) => Inner::HalfOpen { probing: false },
            // A request admitted before the breaker opened may end late.
            (Inner::Open { until }, Outcome::Failure) => Inner::Open {
                until: until.max(now + self.cooldown),
            },
            (state, Outcome::Neutral) => state,
        };
    }

    pub(crate) fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    fn state_at(&self, now: Instant) -> BreakerState {
        match *self.lock() {
            Inner::Closed { failures } => BreakerState::Closed { failures },
            Inner::Open { until } if now < until => BreakerState::Open {
                retry_in: until - now,
            },
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);

    fn failures(breaker: &Breaker, n: u32, now: Instant) {
        for _ in 0..n {
            breaker.admit_at(now).unwrap();
            breaker.record_at(Outcome::Failure, now);
        }
    }

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cooldown() {
        let t0 = Instant::now();
        let breaker = Breaker::new("p", 3, COOLDOWN);
        failures(&breaker, 2, t0);
        assert_eq!(breaker.state_at(t0), BreakerState::Closed { failures: 2 });
        failures(&breaker, 1, t0);
        assert_eq!(
            breaker.state_at(t0 + Duration::from_secs(10)),
            BreakerState::Open {
                retry_in: Duration::from_secs(20)
            }
        );
        assert_eq!(
            breaker.admit_at(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );

        // After the cooldown: one probe, the others still wait.
        let later = t0 + COOLDOWN;
        assert_eq!(breaker.state_at(later), BreakerState::HalfOpen);
        assert_eq!(breaker.admit_at(later), Ok(()));
        assert_eq!(breaker.admit_at(later), Err(Duration::ZERO));
        // The probe fails: open again for a whole cooldown.
        breaker.record_at(Outcome::Failure, later);
        assert_eq!(
            breaker.state_at(later),
            BreakerState::Open { retry_in: COOLDOWN }
        );
        // The next probe succeeds: closed.
        let much_later = later + COOLDOWN;
        assert_eq!(breaker.admit_at(much_later), Ok(()));
        breaker.record_at(Outcome::Success, much_later);
        assert_eq!(
            breaker.state_at(much_later),
            BreakerState::Closed { failures: 0 }
        );
    }

    #[test]
    fn neutral_outcomes_neither_count_nor_reset() {
        let t0 = Instant::now();
        let breaker = Breaker::new("p", 2, COOLDOWN);
        failures(&breaker, 1, t0);
        breaker.record_at(Outcome::Neutral, t0);
        assert_eq!(breaker.state_at(t0), BreakerState::Closed { failures: 1 });
        breaker.record_at(Outcome::Success, t0);
        assert_eq!(breaker.state_at(t0), BreakerState::Closed { failures: 0 });

        let auth = BackendError::new(ErrorKind::Auth, "x");
        assert_eq!(Outcome::of::<()>(&Err(auth)), Outcome::Neutral);
        let server = BackendError::new(ErrorKind::Server, "x");
        assert_eq!(Outcome::of::<()>(&Err(server)), Outcome::Failure);
    }

    #[test]
    fn a_dropped_probe_lets_the_next_request_probe() {
        let breaker = Breaker::new("p", 1, Duration::ZERO);
        failures(&breaker, 1, Instant::now());
        let permit = breaker.admit().unwrap();
        assert!(breaker.admit().is_err(), "one probe at a time");
        drop(permit);
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn states_serialize_with_a_tag() {
        let json = serde_json::to_value(BreakerState::Closed { failures: 2 }).unwrap();
        assert_eq!(json, serde_json::json!({"state": "closed", "failures": 2}));
    }
}
