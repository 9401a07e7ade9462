//! The model library, the catalog, Hugging Face search and pulls.

use std::path::PathBuf;

use hearth_core::hearth_hub::DownloadControl;
use hearth_core::view::{
    CatalogModelView, DownloadEventView, ErrorKind, ErrorView, LibraryModelView, LoadSettingsForm,
    LoadSettingsView, PendingDownloadView, RepoFilesView, RepoSummaryView,
};
use tauri::State;
use tauri::ipc::Channel;

use super::{Reply, Shell, blocking, err, lock};

#[tauri::command]
#[specta::specta]
pub async fn list_models(shell: State<'_, Shell>) -> Reply<Vec<LibraryModelView>> {
    let app = shell.app()?;
    blocking(move || app.library_view()).await
}

/// A library model's load settings (context, KV cache type, device).
#[tauri::command]
#[specta::specta]
pub async fn load_settings(shell: State<'_, Shell>, id: String) -> Reply<LoadSettingsForm> {
    let app = shell.app()?;
    blocking(move || app.load_settings_view(&id)).await
}

/// Sets them; the model comes back with its fit as now set.
#[tauri::command]
#[specta::specta]
pub async fn set_load_settings(
    shell: State<'_, Shell>,
    id: String,
    settings: LoadSettingsView,
) -> Reply<LibraryModelView> {
    let app = shell.app()?;
    blocking(move || app.set_load_settings_view(&id, &settings)).await
}

#[tauri::command]
#[specta::specta]
pub async fn catalog(shell: State<'_, Shell>) -> Reply<Vec<CatalogModelView>> {
    let app = shell.app()?;
    blocking(move || app.catalog_view()).await
}

#[tauri::command]
#[specta::specta]
pub async fn search_hub(shell: State<'_, Shell>, query: String) -> Reply<Vec<RepoSummaryView>> {
    let hits = shell
        .app()?
        .models()
        .search(&query, hearth_core::hearth_hub::SearchSort::Downloads, 30)
        .await
        .map_err(err)?;
    Ok(hits.into_iter().map(Into::into).collect())
}

#[tauri::command]
#[specta::specta]
pub async fn repo_files(shell: State<'_, Shell>, repo: String) -> Reply<RepoFilesView> {
    shell.app()?.repo_files_view(&repo).await.map_err(err)
}

/// Downloads `spec` into the library; `request_id` names it for `stop` (pause).
#[tauri::command]
#[specta::specta]
pub async fn pull(
    shell: State<'_, Shell>,
    request_id: String,
    spec: String,
    on_event: Channel<DownloadEventView>,
) -> Reply<String> {
    let app = shell.app()?;
    let control = DownloadControl::new();
    lock(&shell.downloads).insert(request_id.clone(), control.clone());
    let result = app
        .pull_view(&spec, control, move |event| {
            if let Err(e) = on_event.send(event) {
                tracing::debug!(error = %e, "the window stopped listening");
            }
        })
        .await;
    lock(&shell.downloads).remove(&request_id);
    result.map_err(err)
}

/// Deletes an interrupted download's partial file.
#[tauri::command]
#[specta::specta]
pub async fn cancel_download(shell: State<'_, Shell>, repo: String, file: String) -> Reply<()> {
    shell
        .app()?
        .discard_download(&repo, &file)
        .map(|_| ())
        .map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn pending_downloads(shell: State<'_, Shell>) -> Reply<Vec<PendingDownloadView>> {
    shell.app()?.pending_view().map_err(err)
}

/// Adds a local `.gguf` (the UI asks for it with the native file dialog),
/// copied into Hearth's folder or used where it is.
#[tauri::command]
#[specta::specta]
pub async fn import_model(
    shell: State<'_, Shell>,
    path: String,
    copy: bool,
) -> Reply<LibraryModelView> {
    let app = shell.app()?;
    blocking(move || app.import_view(&PathBuf::from(path), copy)).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_model(shell: State<'_, Shell>, id: String) -> Reply<()> {
    let app = shell.app()?;
    blocking(move || app.models().remove(&id).map(|_| ())).await
}

/// Shows the model's file in the file manager.
#[tauri::command]
#[specta::specta]
pub async fn reveal_model(shell: State<'_, Shell>, id: String) -> Reply<()> {
    let path = shell.app()?.model_file(&id).map_err(err)?;
    tauri_plugin_opener::reveal_item_in_dir(path)
        .map_err(|e| ErrorView::new(ErrorKind::Internal, e.to_string()))
}
