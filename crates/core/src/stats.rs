//! `hearth stats`: how each backend has been doing, from the usage records.
//! Time to first token and decode speed as p50/p95, errors by kind, fallback
//! activations and retries.

use std::collections::BTreeMap;

use hearth_store::{Timestamp, UsageRecord};
use serde::Serialize;

use crate::{App, CoreError};

/// Statistics of one backend and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackendStats {
    pub backend: String,
    pub model: String,
    pub requests: u64,
    pub errors: u64,
    /// Failed requests by kind (`timeout`, `rate_limit`, `auth`, …).
    pub errors_by_kind: BTreeMap<String, u64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tok_s_p50: Option<f64>,
    pub tok_s_p95: Option<f64>,
    /// Answers this backend gave in place of the chosen one.
    pub fallbacks: u64,
    pub retries: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// Statistics of all backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub since: Option<Timestamp>,
    pub backends: Vec<BackendStats>,
}

impl App {
    /// Statistics since `since` (all time when `None`).
    pub fn stats(&self, since: Option<Timestamp>) -> Result<Stats, CoreError> {
        let records = self.store().usage_records(since)?;
        Ok(Stats {
            since,
            backends: summarise(&records),
        })
    }
}

fn summarise(records: &[UsageRecord]) -> Vec<BackendStats> {
    let mut groups: BTreeMap<(&str, &str), Vec<&UsageRecord>> = BTreeMap::new();
    for r in records {
        groups
            .entry((r.backend.as_str(), r.model.as_str()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((backend, model), rows)| {
            let mut stats = BackendStats {
                backend: backend.to_owned(),
                model: model.to_owned(),
                ..BackendStats::default()
            };
            let mut ttft = Vec::new();
            let mut speed = Vec::new();
            for r in &rows {
                stats.requests += 1;
                stats.retries += u64::from(r.retries);
                stats.tokens_in += r.tokens_in;
                stats.tokens_out += r.tokens_out;
                stats.cost_usd += r.cost_usd.unwrap_or(0.0);
                if r.fallback_reason.is_some() {
                    stats.fallbacks += 1;
                }
                if let Some(kind) = &r.error_kind {
                    stats.errors += 1;
                    *stats.errors_by_kind.entry(kind.clone()).or_default() += 1;
                    continue;
                }
                if let Some(t) = r.ttft_ms {
                    ttft.push(t);
                }
                if let (Some(t), Some(total)) = (r.ttft_ms, r.latency_ms) {
                    let decode_ms = total - t;
                    if r.tokens_out > 1 && decode_ms > 0.0 {
                        speed.push((r.tokens_out - 1) as f64 * 1000.0 / decode_ms);
                    }
                }
            }
            stats.ttft_p50_ms = percentile(&mut ttft, 0.50);
            stats.ttft_p95_ms = percentile(&mut ttft, 0.95);
            stats.tok_s_p50 = percentile(&mut speed, 0.50);
            stats.tok_s_p95 = percentile(&mut speed, 0.95);
            stats
        })
        .collect()
}

/// The nearest-rank percentile (`q` in 0..=1).
fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(backend: &str, ttft: f64, error: Option<&str>, fallback: bool) -> UsageRecord {
        UsageRecord {
            at: 0,
            conversation_id: None,
            message_id: None,
            backend: backend.into(),
            model: "m".into(),
            tokens_in: 10,
            tokens_out: 11,
            ttft_ms: Some(ttft),
            latency_ms: Some(ttft + 1000.0),
            cost_usd: Some(0.01),
            fallback_reason: fallback.then(|| "the local model ran out of memory".into()),
            error_kind: error.map(str::to_owned),
            retries: u32::from(error.is_some()),
        }
    }

    #[test]
    fn percentiles_errors_and_fallbacks_per_backend() {
        let mut records: Vec<UsageRecord> = (1..=20)
            .map(|i| record("openai", f64::from(i) * 10.0, None, i == 3))
            .collect();
        records.push(record("openai", 5.0, Some("timeout"), false));
        records.push(record("openai", 5.0, Some("rate_limit"), false));
        records.push(record("local", 50.0, None, false));
        let stats = summarise(&records);
        assert_eq!(stats.len(), 2);
        let openai = stats.iter().find(|s| s.backend == "openai").unwrap();
        assert_eq!(
            (
                openai.requests,
                openai.errors,
                openai.fallbacks,
                openai.retries
            ),
            (22, 2, 1, 2)
        );
        assert_eq!(openai.errors_by_kind.get("timeout"), Some(&1));
        assert_eq!(openai.ttft_p50_ms, Some(100.0));
        assert_eq!(openai.ttft_p95_ms, Some(190.0));
        assert_eq!(openai.tok_s_p50, Some(10.0));
        assert!((openai.cost_usd - 0.22).abs() < 1e-9);
    }

    #[test]
    fn percentile_of_nothing_is_none() {
        assert_eq!(percentile(&mut [], 0.5), None);
        assert_eq!(percentile(&mut [3.0], 0.95), Some(3.0));
    }
}
