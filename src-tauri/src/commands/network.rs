//! The network ledger, the offline switch and the redaction settings.

use hearth_core::view::{NetworkRecordView, RedactionView};
use tauri::State;

use super::{Reply, Shell, blocking, err};

#[tauri::command]
#[specta::specta]
pub async fn get_offline(shell: State<'_, Shell>) -> Reply<bool> {
    Ok(shell.app()?.offline())
}

/// Turns the offline switch on or off; returns the new state.
#[tauri::command]
#[specta::specta]
pub async fn set_offline(shell: State<'_, Shell>, offline: bool) -> Reply<bool> {
    let app = shell.app()?;
    blocking(move || {
        app.set_offline(offline)?;
        Ok(app.offline())
    })
    .await
}

/// The newest `limit` outbound connections, newest first.
#[tauri::command]
#[specta::specta]
pub async fn network_log(shell: State<'_, Shell>, limit: u32) -> Reply<Vec<NetworkRecordView>> {
    let app = shell.app()?;
    blocking(move || app.network_view(limit)).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_redaction(shell: State<'_, Shell>) -> Reply<RedactionView> {
    shell.app()?.redaction_view().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn set_redaction(
    shell: State<'_, Shell>,
    settings: RedactionView,
) -> Reply<RedactionView> {
    shell.app()?.set_redaction_view(&settings).map_err(err)
}
