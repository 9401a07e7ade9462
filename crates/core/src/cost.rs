//! What cloud answers cost, and the budgets that stop spending.
//!
//! Prices are US dollars per million tokens, per `provider kind:model`; a
//! built-in table covers common models and the user's own entries (saved in
//! the database) override it. A model without a price costs "unknown", never
//! zero. Budgets are daily and monthly caps checked before anything is sent.

use std::collections::BTreeMap;

use hearth_backend::Usage;
use hearth_store::civil_from_days;
use serde::{Deserialize, Serialize};

use crate::{App, CoreError};

const PRICES_SETTING: &str = "prices";
const BUDGET_SETTING: &str = "budget";

/// The price of a model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

impl Price {
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input + usage.output_tokens as f64 * self.output) / 1e6
    }
}

/// Spending caps in US dollars; `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

/// Prices of well-known models (list prices, standard tier) by model-name
/// prefix; the longest matching prefix wins.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4", 1.00, 5.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-pro", 1.25, 10.00),
];

fn built_in(model: &str) -> Option<Price> {
    BUILT_IN
        .iter()
        .filter(|(prefix, ..)| model.starts_with(prefix))
        .max_by_key(|(prefix, ..)| prefix.len())
        .map(|&(_, input, output)| Price { input, output })
}

impl App {
    /// The price of `model` at `provider`: the user's entry, else the
    /// built-in one for the hosted APIs (a self-hosted server costs nothing
    /// per token unless the user says so).
    pub fn price(&self, provider: &str, model: &str) -> Result<Option<Price>, CoreError> {
        let prices = self.user_prices()?;
        if let Some(price) = prices.get(&format!("{provider}:{model}")) {
            return Ok(Some(*price));
        }
        let hosted = self
            .providers()?
            .into_iter()
            .find(|p| p.name == provider)
            .is_some_and(|p| p.kind != hearth_providers::ProviderKind::Compat);
        Ok(if hosted {
            built_in(model)
        } else {
            Some(Price {
                input: 0.0,
                output: 0.0,
            })
        })
    }

    /// Sets (or with `None` removes) the user's price for `provider:model`.
    pub fn set_price(
        &self,
        provider: &str,
        model: &str,
        price: Option<Price>,
    ) -> Result<(), CoreError> {
        let mut prices = self.user_prices()?;
        let key = format!("{provider}:{model}");
        match price {
            Some(price) if price.input >= 0.0 && price.output >= 0.0 => {
                prices.insert(key, price);
            }
            Some(_) => return Err(CoreError::Invalid("a price cannot be negative".into())),
            None => {
                prices.remove(&key);
            }
        }
        let json = serde_json::to_string(&prices)
            .map_err(|e| CoreError::Invalid(format!("cannot save prices: {e}")))?;
        self.store().set_setting(PRICES_SETTING, &json)?;
        Ok(())
    }

    /// The spending caps.
    pub fn budget(&self) -> Result<Budget, CoreError> {
        match self.store().setting(BUDGET_SETTING)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| CoreError::Invalid(format!("the saved budget is damaged: {e}"))),
            None => Ok(Budget::default()),
        }
    }

    /// Sets the spending caps.
    pub fn set_budget(&self, budget: Budget) -> Result<(), CoreError> {
        if [budget.daily_usd, budget.monthly_usd]
            .iter()
            .flatten()
            .any(|c| *c < 0.0 || !c.is_finite())
        {
            return Err(CoreError::Invalid(
                "a budget must be a positive amount".into(),
            ));
        }
        let json = serde_json::to_string(&budget)
            .map_err(|e| CoreError::Invalid(format!("cannot save the budget: {e}")))?;
        self.store().set_setting(BUDGET_SETTING, &json)?;
        Ok(())
    }

    /// Refuses a request whose estimated cost would take spending over a cap.
    pub(crate) fn check_budget(&self, estimate_usd: f64, now: i64) -> Result<(), CoreError> {
        let budget = self.budget()?;
        let caps = [
            (budget.daily_usd, start_of_day(now), "daily"),
            (budget.monthly_usd, start_of_month(now), "monthly"),
        ];
        for (cap, since, name) in caps {
            let Some(cap) = cap else { continue };
            let spent = self.store().cost_since(since)?;
            if spent + estimate_usd > cap {
                return Err(CoreError::OverBudget(format!(
                    "this request would go over your {name} budget of ${cap:.2} \
                     (${spent:.4} spent, about ${estimate_usd:.4} more); nothing was sent"
                )));
            }
        }
        Ok(())
    }

    fn user_prices(&self) -> Result<BTreeMap<String, Price>, CoreError> {
        match self.store().setting(PRICES_SETTING)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| CoreError::Invalid(format!("the saved prices are damaged: {e}"))),
            None => Ok(BTreeMap::new()),
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Midnight UTC of the day of `now` (milliseconds since the epoch).
fn start_of_day(now: i64) -> i64 {
    now - now.rem_euclid(DAY_MS)
}

/// Midnight UTC of the first day of the month of `now`.
fn start_of_month(now: i64) -> i64 {
    let days = now.div_euclid(DAY_MS);
    let (_, _, day) = civil_from_days(days);
    (days - (day - 1)) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_prices_a_model() {
        assert_eq!(built_in("gpt-4o-mini-2024-07-18").unwrap().input, 0.15);
        assert_eq!(built_in("gpt-4o-2024-11-20").unwrap().input, 2.5);
        assert_eq!(built_in("llama3.2:1b"), None);
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
        };
        assert!((built_in("gpt-4o-mini").unwrap().cost(&usage) - 0.45).abs() < 1e-9);
    }

    #[test]
    fn days_and_months_start_at_midnight_utc() {
        // 2026-11-24T09:35:00Z
        let now = 1_795_512_900_000;
        assert_eq!(civil_from_days(now / DAY_MS), (2026, 11, 24));
        assert_eq!(start_of_day(now) % DAY_MS, 0);
        assert_eq!(civil_from_days(start_of_month(now) / DAY_MS), (2026, 11, 1));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
