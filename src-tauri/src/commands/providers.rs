//! Cloud providers. A key goes from its command to the OS keychain and is
//! never sent back whole.

use hearth_core::view::{ProviderKindView, ProviderModelView, ProviderView};
use tauri::State;

use super::{Reply, Shell, blocking, err};

#[tauri::command]
#[specta::specta]
pub async fn list_providers(shell: State<'_, Shell>) -> Reply<Vec<ProviderView>> {
    let app = shell.app()?;
    blocking(move || app.providers_view()).await
}

#[tauri::command]
#[specta::specta]
pub async fn provider_kinds() -> Reply<Vec<ProviderKindView>> {
    Ok(hearth_core::view::provider_kinds())
}

/// Adds (or replaces) a provider. The key goes to the OS keychain; it is
/// never logged, and only its masked form comes back.
#[tauri::command]
#[specta::specta]
pub async fn add_provider(
    shell: State<'_, Shell>,
    name: String,
    kind: String,
    base_url: Option<String>,
    key: Option<String>,
) -> Reply<ProviderView> {
    let app = shell.app()?;
    blocking(move || app.add_provider_view(&name, &kind, base_url, key)).await
}

/// Removes a provider and its key; whether it existed.
#[tauri::command]
#[specta::specta]
pub async fn remove_provider(shell: State<'_, Shell>, name: String) -> Reply<bool> {
    let app = shell.app()?;
    blocking(move || app.remove_provider(&name)).await
}

/// Sets the context window of a provider's models; `None` goes back to each
/// model's own (from the table of known models).
#[tauri::command]
#[specta::specta]
pub async fn set_provider_context_window(
    shell: State<'_, Shell>,
    name: String,
    tokens: Option<u32>,
) -> Reply<ProviderView> {
    let app = shell.app()?;
    blocking(move || app.set_provider_context_window_view(&name, tokens)).await
}

/// Calls the provider once; how many models it offers.
#[tauri::command]
#[specta::specta]
pub async fn test_provider(shell: State<'_, Shell>, name: String) -> Reply<u32> {
    let n = shell.app()?.test_provider(&name).await.map_err(err)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[tauri::command]
#[specta::specta]
pub async fn provider_models(
    shell: State<'_, Shell>,
    name: String,
) -> Reply<Vec<ProviderModelView>> {
    shell.app()?.provider_models_view(&name).await.map_err(err)
}
