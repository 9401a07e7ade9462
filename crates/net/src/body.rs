//! Reading what a server sends without letting it take the machine: a size
//! cap (a gigabyte body is cut off as it streams, never allocated), a wait
//! per chunk and a deadline for the whole, and, for long downloads, a
//! minimum speed (a server that trickles a byte now and then is stalling).

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

/// How much of a body is read, and how long Hearth waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub max_bytes: u64,
    /// The longest gap between two chunks.
    pub idle: Duration,
    /// The whole body, from the call.
    pub total: Duration,
}

/// A body that was not read to its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer was cut off at {}: more than Hearth reads from it", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("the answer stalled (nothing for {} s)", waited.as_secs())]
    Stalled { waited: Duration },
    #[error("the answer did not arrive within {} s", total.as_secs())]
    Deadline { total: Duration },
    #[error("the connection dropped")]
    Dropped(#[source] reqwest::Error),
}

/// Reads `response`'s body within `limits`; `received` (if given) counts the
/// bytes as they arrive, for the network ledger.
pub async fn read_body(
    response: reqwest::Response,
    limits: &BodyLimits,
    received: Option<&AtomicU64>,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes)
    {
        return Err(BodyError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let deadline = Instant::now() + limits.total;
    let mut chunks = pin!(response.bytes_stream());
    let mut body = Vec::new();
    loop {
        let wait = (Instant::now() + limits.idle).min(deadline);
        let next = match tokio::time::timeout_at(wait, chunks.next()).await {
            Ok(next) => next,
            Err(_) if wait >= deadline => {
                return Err(BodyError::Deadline {
                    total: limits.total,
                });
            }
            Err(_) => {
                return Err(BodyError::Stalled {
                    waited: limits.idle,
                });
            }
        };
        match next {
            None => return Ok(body),
            Some(Err(e)) => return Err(BodyError::Dropped(e)),
            Some(Ok(chunk)) => {
                if let Some(counter) = received {
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                if body.len() as u64 + chunk.len() as u64 > limits.max_bytes {
                    return Err(BodyError::TooLarge {
                        limit: limits.max_bytes,
                    });
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// Caps on a streamed body (server-sent events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCaps {
    /// All bytes of the stream.
    pub max_total: u64,
    /// Bytes between two [`UnitMark::reached`] calls: one event, which the
    /// parser would otherwise buffer without end.
    pub max_unit: u64,
}

/// Where the consumer of a [`capped`] stream is: call [`UnitMark::reached`]
/// after each complete unit (event).
#[derive(Debug, Clone, Default)]
pub struct UnitMark {
    total: Arc<AtomicU64>,
    unit_start: Arc<AtomicU64>,
}

impl UnitMark {
    /// A unit ended: the next one starts at the bytes seen so far.
    pub fn reached(&self) {
        self.unit_start
            .store(self.total.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Bytes the stream delivered so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// Why a [`capped`] stream ended early.
#[derive(Debug, thiserror::Error)]
pub enum CapError<E> {
    #[error("the stream was cut off at {}: more than Hearth reads from one answer", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("one event of the stream was over {}: cut off", human_bytes(*limit))]
    UnitTooLarge { limit: u64 },
    #[error(transparent)]
    Inner(E),
}

/// `stream`, ending with an error once it exceeds `caps` (checked as each
/// chunk arrives, so nothing past the cap is kept).
pub fn capped<S, E>(
    stream: S,
    caps: StreamCaps,
    mark: UnitMark,
) -> impl Stream<Item = Result<Bytes, CapError<E>>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut failed = false;
    stream
        .map(move |item| {
            let chunk = item.map_err(CapError::Inner)?;
            let total =
                mark.total.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if total > caps.max_total {
                return Err(CapError::TooLarge {
                    limit: caps.max_total,
                });
            }
            if total.saturating_sub(mark.unit_start.load(Ordering::Relaxed)) > caps.max_unit {
                return Err(CapError::UnitTooLarge {
                    limit: caps.max_unit,
                });
            }
            Ok(chunk)
        })
        // Nothing after the first error: the stream is over.
        .take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            std::future::ready(go)
        })
}

/// Notices a trickle: fewer than `min_bytes` arriving in a whole `window`.
#[derive(Debug, Clone)]
pub struct Trickle {
    window: Duration,
    min_bytes: u64,
    started: Instant,
    bytes: u64,
}

impl Trickle {
    pub fn new(window: Duration, min_bytes: u64) -> Self {
        Self {
            window,
            min_bytes,
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// Counts `n` bytes that arrived at `now`; `true` when a window ended
    /// with fewer than the minimum.
    pub fn too_slow(&mut self, n: u64, now: Instant) -> bool {
        self.bytes += n;
        if now.duration_since(self.started) < self.window {
            return false;
        }
        let slow = self.bytes < self.min_bytes;
        self.started = now;
        self.bytes = 0;
        slow
    }
}

/// `512 KiB`, `16 MiB`, `1 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
        if n >= size {
            return format!("{:.1} {unit}", n as f64 / size as f64);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(16 << 20), "16 MiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 bytes");
    }

    #[tokio::test]
    async fn a_capped_stream_stops_at_the_first_cap_it_crosses() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..10)
            .map(|_| Ok(Bytes::from_static(b"0123456789")))
            .collect();
        let mark = UnitMark::default();
        let caps = StreamCaps {
            max_total: 1000,
            max_unit: 25,
        };
        let out: Vec<_> = capped(futures_util::stream::iter(chunks), caps, mark.clone())
            .collect()
            .await;
        assert_eq!(out.len(), 3, "two chunks, then the unit cap");
        assert!(matches!(out[2], Err(CapError::UnitTooLarge { limit: 25 })));

        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..10)
            .map(|_| Ok(Bytes::from_static(b"0123456789")))
            .collect();
        let mark = UnitMark::default();
        let caps = StreamCaps {
            max_total: 35,
            max_unit: 1000,
        };
        let mut stream = std::pin::pin!(capped(
            futures_util::stream::iter(chunks),
            caps,
            mark.clone()
        ));
        let mut seen = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) => {
                    seen += 1;
                    mark.reached();
                }
                Err(e) => {
                    assert!(matches!(e, CapError::TooLarge { limit: 35 }), "{e}");
                    break;
                }
            }
        }
        assert_eq!(seen, 3);
        assert_eq!(mark.total(), 40);
    }

    #[test]
    fn a_trickle_is_noticed_once_a_window_ends() {
        let start = Instant::now();
        let mut t = Trickle::new(Duration::from_secs(10), 1000);
        assert!(!t.too_slow(10, start + Duration::from_secs(5)));
        assert!(t.too_slow(10, start + Duration::from_secs(11)));
        assert!(!t.too_slow(5000, start + Duration::from_secs(22)));
    }
}
