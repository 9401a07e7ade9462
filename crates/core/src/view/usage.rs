//! The usage screen: how each backend has been doing, what it cost, the
//! budgets and the prices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{App, BackendStats, Budget, CoreError, Price, Stats};

/// How one backend and model has been doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BackendStatsView {
    pub backend: String,
    pub model: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub requests: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub errors: u64,
    #[cfg_attr(feature = "specta", specta(type = std::collections::BTreeMap<String, u32>))]
    pub errors_by_kind: BTreeMap<String, u64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    pub tok_s_p50: Option<f64>,
    pub tok_s_p95: Option<f64>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub fallbacks: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub retries: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub tokens_in: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub tokens_out: u64,
    pub cost_usd: f64,
}

impl From<&BackendStats> for BackendStatsView {
    fn from(b: &BackendStats) -> Self {
        Self {
            backend: b.backend.clone(),
            model: b.model.clone(),
            requests: b.requests,
            errors: b.errors,
            errors_by_kind: b.errors_by_kind.clone(),
            ttft_p50_ms: b.ttft_p50_ms,
            ttft_p95_ms: b.ttft_p95_ms,
            tok_s_p50: b.tok_s_p50,
            tok_s_p95: b.tok_s_p95,
            fallbacks: b.fallbacks,
            retries: b.retries,
            tokens_in: b.tokens_in,
            tokens_out: b.tokens_out,
            cost_usd: b.cost_usd,
        }
    }
}

/// Usage of every backend since a time (all time when `since` is null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub since: Option<i64>,
    pub backends: Vec<BackendStatsView>,
    /// The cost of all of them, in US dollars.
    pub total_cost_usd: f64,
}

impl From<&Stats> for StatsView {
    fn from(s: &Stats) -> Self {
        Self {
            since: s.since,
            backends: s.backends.iter().map(Into::into).collect(),
            total_cost_usd: s.backends.iter().map(|b| b.cost_usd).sum(),
        }
    }
}

/// Spending caps in US dollars; `null` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

impl From<Budget> for BudgetView {
    fn from(b: Budget) -> Self {
        Self {
            daily_usd: b.daily_usd,
            monthly_usd: b.monthly_usd,
        }
    }
}

impl From<BudgetView> for Budget {
    fn from(b: BudgetView) -> Self {
        Self {
            daily_usd: b.daily_usd,
            monthly_usd: b.monthly_usd,
        }
    }
}

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PriceView {
    pub input: f64,
    pub output: f64,
}

impl App {
    /// Usage since `since` (all time when `None`).
    pub fn stats_view(&self, since: Option<i64>) -> Result<StatsView, CoreError> {
        Ok((&self.stats(since)?).into())
    }

    pub fn budget_view(&self) -> Result<BudgetView, CoreError> {
        Ok(self.budget()?.into())
    }

    /// Sets the spending caps; a negative cap is refused.
    pub fn set_budget_view(&self, budget: BudgetView) -> Result<BudgetView, CoreError> {
        for cap in [budget.daily_usd, budget.monthly_usd].into_iter().flatten() {
            if !cap.is_finite() || cap < 0.0 {
                return Err(CoreError::Invalid("a budget is a positive amount".into()));
            }
        }
        self.set_budget(budget.into())?;
        self.budget_view()
    }

    /// A model's price (the user's, else the built-in list price).
    pub fn price_view(&self, provider: &str, model: &str) -> Result<Option<PriceView>, CoreError> {
        Ok(self.price(provider, model)?.map(|p| PriceView {
            input: p.input,
            output: p.output,
        }))
    }

    /// Sets (or with `None` forgets) the user's price of a model.
    pub fn set_price_view(
        &self,
        provider: &str,
        model: &str,
        price: Option<PriceView>,
    ) -> Result<(), CoreError> {
        if let Some(p) = &price
            && (!p.input.is_finite() || !p.output.is_finite() || p.input < 0.0 || p.output < 0.0)
        {
            return Err(CoreError::Invalid("a price is a positive amount".into()));
        }
        self.set_price(
            provider,
            model,
            price.map(|p| Price {
                input: p.input,
                output: p.output,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use hearth_store::NetworkRecord;

    use super::*;
    use crate::redact::RedactionSettings;
    use crate::view::{NetworkRecordView, RedactionView};

    #[test]
    fn stats_and_network_views_convert() {
        let stats = Stats {
            since: None,
            backends: vec![
                BackendStats {
                    backend: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    requests: 3,
                    cost_usd: 0.25,
                    ..BackendStats::default()
                },
                BackendStats {
                    backend: "local".into(),
                    model: "smol".into(),
                    requests: 1,
                    ..BackendStats::default()
                },
            ],
        };
        let view = StatsView::from(&stats);
        assert_eq!(view.backends.len(), 2);
        assert!((view.total_cost_usd - 0.25).abs() < 1e-9);
        let record = NetworkRecord {
            at: 5,
            host: "api.openai.com".into(),
            purpose: "provider call".into(),
            detail: Some("openai".into()),
            bytes_sent: 10,
            bytes_received: 20,
            status: Some(200),
            ok: true,
            via: Some("proxy.corp:3128".into()),
        };
        let text = serde_json::to_string(&NetworkRecordView::from(&record)).unwrap_or_default();
        assert!(text.contains(r#""bytesReceived":20"#), "{text}");
        assert!(text.contains(r#""via":"proxy.corp:3128""#), "{text}");
        let r = RedactionSettings::from(&RedactionView {
            enabled: true,
            words: vec![" Ada ".into(), String::new()],
        });
        assert_eq!(r.words, vec!["Ada".to_owned()]);
    }
}
