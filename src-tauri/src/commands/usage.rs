//! Usage statistics, budgets and prices.

use hearth_core::view::{BudgetView, PriceView, StatsView};
use tauri::State;

use super::{Reply, Shell, blocking, err};

/// Usage per backend since `since` (Unix ms; `null`: all time). A number,
/// not an integer type, so that TypeScript gets a plain `number`.
#[tauri::command]
#[specta::specta]
pub async fn stats(shell: State<'_, Shell>, since: Option<f64>) -> Reply<StatsView> {
    let app = shell.app()?;
    let since = since.filter(|s| s.is_finite()).map(|s| s as i64);
    blocking(move || app.stats_view(since)).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_budget(shell: State<'_, Shell>) -> Reply<BudgetView> {
    shell.app()?.budget_view().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn set_budget(shell: State<'_, Shell>, budget: BudgetView) -> Reply<BudgetView> {
    shell.app()?.set_budget_view(budget).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn get_price(
    shell: State<'_, Shell>,
    provider: String,
    model: String,
) -> Reply<Option<PriceView>> {
    shell.app()?.price_view(&provider, &model).map_err(err)
}

/// Sets (or with `null` forgets) a model's price, USD per million tokens.
#[tauri::command]
#[specta::specta]
pub async fn set_price(
    shell: State<'_, Shell>,
    provider: String,
    model: String,
    price: Option<PriceView>,
) -> Reply<()> {
    shell
        .app()?
        .set_price_view(&provider, &model, price)
        .map_err(err)
}
