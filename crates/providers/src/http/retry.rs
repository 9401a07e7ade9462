//! A call's attempts: the offline check before each, one ledger event after
//! each, and the backoff between them (full jitter, at least `Retry-After`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hearth_backend::{BackendError, CancellationToken};
use rand::Rng;

use super::{Http, HttpPolicy, human};
use crate::ledger::{NetworkEvent, Purpose};

/// One HTTP attempt. It records its ledger event when it ends, or, if the
/// caller's future is dropped mid-attempt, when it is dropped: whatever was
/// sent is always on the ledger.
pub(super) struct Attempt<'a> {
    http: &'a Http,
    purpose: Purpose,
    sent: u64,
    started_at: SystemTime,
    pub(super) status: Option<u16>,
    pub(super) received: Arc<AtomicU64>,
    recorded: bool,
}

impl Attempt<'_> {
    pub(super) fn end(mut self, ok: bool) {
        self.record(ok);
    }

    fn record(&mut self, ok: bool) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        self.http.network.record(NetworkEvent {
            host: self.http.host.clone(),
            purpose: self.purpose,
            provider: self.http.who.name.clone(),
            started_at: self.started_at,
            bytes_sent: self.sent,
            bytes_received: self.received.load(Ordering::Relaxed),
            status: self.status,
            ok,
            via: self.http.route.via().map(str::to_owned),
        });
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.record(false);
    }
}

/// A call's attempts: the offline check, the ledger, backoff between them.
pub(super) struct Calls<'a> {
    http: &'a Http,
    purpose: Purpose,
    sent: u64,
    pub(super) started: Instant,
    pub(super) deadline: Instant,
    pub(super) retries: u32,
}

impl<'a> Calls<'a> {
    pub(super) fn new(http: &'a Http, purpose: Purpose, sent: usize) -> Self {
        let started = Instant::now();
        Self {
            http,
            purpose,
            sent: sent as u64,
            started,
            deadline: started + http.policy.total_timeout,
            retries: 0,
        }
    }

    /// Checked before every attempt: the switch may be flipped mid-call.
    pub(super) fn begin(&self) -> Result<Attempt<'a>, BackendError> {
        if self.http.network.is_offline() {
            return Err(self.http.offline_error());
        }
        Ok(Attempt {
            http: self.http,
            purpose: self.purpose,
            sent: self.sent,
            started_at: SystemTime::now(),
            status: None,
            received: Arc::new(AtomicU64::new(0)),
            recorded: false,
        })
    }

    /// Waits before the next attempt: `Ok(true)` to retry, `Ok(false)` when
    /// cancelled while waiting, `Err` to give up.
    pub(super) async fn before_retry(
        &mut self,
        err: BackendError,
        cancel: Option<&CancellationToken>,
    ) -> Result<bool, BackendError> {
        let policy = &self.http.policy;
        if !err.is_retryable() || self.retries >= policy.max_retries {
            return Err(self.give_up(err));
        }
        let backoff = jitter(policy, self.retries);
        let wait = match err.retry_after {
            Some(asked) if asked > policy.max_retry_after => return Err(self.give_up(err)),
            Some(asked) => asked.max(backoff),
            None => backoff,
        };
        if Instant::now() + wait >= self.deadline {
            return Err(self.give_up(err));
        }
        tracing::debug!(
            provider = %self.http.who.name,
            kind = err.kind.as_str(),
            retry = self.retries + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "retrying"
        );
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(false),
            () = tokio::time::sleep(wait) => {}
        }
        self.retries += 1;
        Ok(true)
    }

    fn give_up(&self, err: BackendError) -> BackendError {
        if self.retries == 0 {
            return err;
        }
        let retries = if self.retries == 1 {
            "retry"
        } else {
            "retries"
        };
        BackendError::new(
            err.kind,
            format!(
                "{}; gave up after {} {retries} in {}",
                err.user_message(),
                self.retries,
                human(self.started.elapsed())
            ),
        )
        .with_retry_after(err.retry_after)
    }
}

/// Full jitter: random in `0..=min(max, base × 2^retry)`.
fn jitter(policy: &HttpPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .backoff_base
        .checked_mul(2u32.saturating_pow(retry))
        .unwrap_or(policy.backoff_max)
        .min(policy.backoff_max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_under_the_ceiling() {
        let policy = HttpPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(250),
            ..HttpPolicy::default()
        };
        for retry in [0, 1, 2, 40] {
            let ceiling =
                Duration::from_millis(100 * 2u64.pow(retry.min(2))).min(policy.backoff_max);
            for _ in 0..50 {
                assert!(jitter(&policy, retry) <= ceiling);
            }
        }
    }
}
