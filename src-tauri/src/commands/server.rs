//! The API server page: start, stop, status, key, request log, and what API
//! clients may do.

use hearth_core::ApiSettings;
use tauri::State;

use super::{Reply, Shell, err};
use crate::server::{ServerRequestView, ServerStatusView, StartServerView};

#[tauri::command]
#[specta::specta]
pub async fn server_status(shell: State<'_, Shell>) -> Reply<ServerStatusView> {
    let app = shell.app()?;
    Ok(shell.server.status(app.config().home()).await)
}

#[tauri::command]
#[specta::specta]
pub async fn start_server(
    shell: State<'_, Shell>,
    options: StartServerView,
) -> Reply<ServerStatusView> {
    let app = shell.app()?;
    shell.server.start(app, options).await
}

#[tauri::command]
#[specta::specta]
pub async fn stop_server(shell: State<'_, Shell>) -> Reply<ServerStatusView> {
    let app = shell.app()?;
    shell.server.stop().await;
    Ok(shell.server.status(app.config().home()).await)
}

/// The full API key, for the copy button (created when missing). The only
/// command that returns it.
#[tauri::command]
#[specta::specta]
pub async fn server_key(shell: State<'_, Shell>) -> Reply<String> {
    let app = shell.app()?;
    crate::server::full_key(app.config().home())
}

/// What API clients may do beyond local models.
#[tauri::command]
#[specta::specta]
pub async fn api_settings(shell: State<'_, Shell>) -> Reply<ApiSettings> {
    shell.app()?.api_settings().map_err(err)
}

/// Saves them; a running server applies them from its next request.
#[tauri::command]
#[specta::specta]
pub async fn set_api_settings(
    shell: State<'_, Shell>,
    settings: ApiSettings,
) -> Reply<ApiSettings> {
    shell.app()?.set_api_settings(settings).map_err(err)?;
    Ok(settings)
}

#[tauri::command]
#[specta::specta]
pub async fn server_log(shell: State<'_, Shell>, limit: u32) -> Reply<Vec<ServerRequestView>> {
    Ok(shell
        .server
        .log(usize::try_from(limit).unwrap_or(usize::MAX))
        .await)
}
