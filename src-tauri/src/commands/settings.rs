//! Presets and the settings.

use hearth_core::view::{PresetDraftView, PresetView, SettingsPatchView, SettingsView};
use tauri::State;

use super::{Reply, Shell, err};

#[tauri::command]
#[specta::specta]
pub async fn list_presets(shell: State<'_, Shell>) -> Reply<Vec<PresetView>> {
    shell.app()?.presets_view().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn save_preset(shell: State<'_, Shell>, preset: PresetDraftView) -> Reply<PresetView> {
    shell.app()?.save_preset_view(&preset).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_preset(shell: State<'_, Shell>, id: String) -> Reply<()> {
    shell.app()?.delete_preset_view(&id).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn settings(shell: State<'_, Shell>) -> Reply<SettingsView> {
    shell.app()?.settings_view().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn update_settings(
    shell: State<'_, Shell>,
    patch: SettingsPatchView,
) -> Reply<SettingsView> {
    shell.app()?.update_settings_view(&patch).map_err(err)
}
