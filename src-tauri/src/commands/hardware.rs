//! This machine.

use hearth_core::view::HardwareView;
use tauri::State;

use super::{Reply, Shell, blocking};

#[tauri::command]
#[specta::specta]
pub async fn hardware(shell: State<'_, Shell>) -> Reply<HardwareView> {
    let app = shell.app()?;
    blocking(move || Ok(app.hardware_view())).await
}
