//! The commands the UI invokes. Each one is thin: its arguments, one
//! hearth-core call, and the error as a tagged `ErrorView`. Token streams and
//! download progress go over a `Channel` per request; `stop` ends a request by
//! the id the UI gave it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use hearth_core::App;
use hearth_core::hearth_hub::DownloadControl;
use hearth_core::view::{
    BudgetView, CatalogModelView, ChatEventView, ConsentView, ConversationInfo,
    ConversationPatchView, ConversationSummaryView, ConversationView, DownloadEventView, ErrorKind,
    ErrorView, HardwareView, LibraryModelView, MessageRedactionView, NetworkRecordView,
    NewConversationView, PendingDownloadView, PresetDraftView, PresetView, PriceView,
    ProviderKindView, ProviderModelView, ProviderView, RedactionView, RepoFilesView,
    RepoSummaryView, SearchHitView, SettingsPatchView, SettingsView, StatsView, Turn,
};
use serde::{Deserialize, Serialize};
use tauri::State;
use tauri::ipc::Channel;
use tokio_util::sync::CancellationToken;

use crate::server::{
    ApiSettingsView, ServerControl, ServerRequestView, ServerStatusView, StartServerView,
};

/// What the shell holds: the opened app (or why it could not open; nothing
/// while it is still opening) and the requests that can be stopped.
pub struct Shell {
    app: tokio::sync::watch::Sender<Option<Result<App, ErrorView>>>,
    turns: Mutex<HashMap<String, CancellationToken>>,
    downloads: Mutex<HashMap<String, DownloadControl>>,
    server: ServerControl,
}

impl Default for Shell {
    fn default() -> Self {
        Self {
            app: tokio::sync::watch::Sender::new(None),
            turns: Mutex::default(),
            downloads: Mutex::default(),
            server: ServerControl::default(),
        }
    }
}

impl Shell {
    /// Records the outcome of opening the app (once; later calls are ignored).
    pub fn set_app(&self, app: Result<App, ErrorView>) {
        self.app.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(app);
            true
        });
    }

    fn app(&self) -> Result<App, ErrorView> {
        match &*self.app.borrow() {
            Some(Ok(app)) => Ok(app.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ErrorView::new(
                ErrorKind::Internal,
                "Hearth is still opening your data",
            )),
        }
    }

    /// The app once it has opened (or why it could not).
    async fn opened(&self) -> Result<App, ErrorView> {
        let mut rx = self.app.subscribe();
        // The sender lives as long as the shell, so this only ends with a value.
        let _ = rx.wait_for(Option::is_some).await;
        self.app()
    }
}

type Reply<T> = Result<T, ErrorView>;

fn err(e: hearth_core::CoreError) -> ErrorView {
    ErrorView::from(&e)
}

/// What the UI shows first: ready, or why Hearth could not start.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Startup {
    Ready { first_run: bool },
    Failed { error: ErrorView },
}

#[tauri::command]
#[specta::specta]
pub async fn startup(shell: State<'_, Shell>) -> Reply<Startup> {
    // The window is up while the data opens (a locked keychain may be asking
    // for its password); the UI shows "Opening Hearth…" until this answers.
    Ok(match shell.opened().await {
        Ok(app) => Startup::Ready {
            first_run: app.first_run().map_err(err)?,
        },
        Err(error) => Startup::Failed { error },
    })
}

/// The UI calls this once its first screen is up. With `HEARTH_REPORT_READY`
/// set, the time since the process started goes to stdout (for the startup
/// benchmark, `cargo xtask bench desktop`).
#[tauri::command]
#[specta::specta]
pub async fn ui_ready() -> Reply<()> {
    if std::env::var_os(REPORT_READY).is_some() {
        let ms = crate::STARTED
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
        #[allow(clippy::print_stdout)]
        {
            println!("ready_ms={ms:.1}");
        }
    }
    Ok(())
}

/// Set to print when the window became interactive (see [`ui_ready`]).
pub const REPORT_READY: &str = "HEARTH_REPORT_READY";

#[tauri::command]
#[specta::specta]
pub async fn list_conversations(shell: State<'_, Shell>) -> Reply<Vec<ConversationSummaryView>> {
    shell.app()?.conversation_list().map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn search_conversations(
    shell: State<'_, Shell>,
    query: String,
) -> Reply<Vec<SearchHitView>> {
    shell.app()?.search_view(&query).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn create_conversation(
    shell: State<'_, Shell>,
    init: NewConversationView,
) -> Reply<ConversationInfo> {
    shell.app()?.create_conversation_view(&init).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn open_conversation(shell: State<'_, Shell>, id: String) -> Reply<ConversationView> {
    shell.app()?.conversation_view(&id).map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn update_conversation(
    shell: State<'_, Shell>,
    id: String,
    patch: ConversationPatchView,
) -> Reply<ConversationInfo> {
    shell
        .app()?
        .update_conversation_view(&id, &patch)
        .map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_conversation(shell: State<'_, Shell>, id: String) -> Reply<()> {
    shell.app()?.delete_conversation_view(&id).map_err(err)
}

/// `format` is `markdown` or `json`.
#[tauri::command]
#[specta::specta]
pub async fn export_conversation(
    shell: State<'_, Shell>,
    id: String,
    format: String,
) -> Reply<String> {
    shell
        .app()?
        .export_conversation(&id, format == "json")
        .map_err(err)
}

#[tauri::command]
#[specta::specta]
pub async fn switch_branch(
    shell: State<'_, Shell>,
    conversation_id: String,
    message_id: String,
) -> Reply<ConversationView> {
    shell
        .app()?
        .switch_branch_view(&conversation_id, &message_id)
        .map_err(err)
}

/// Which turn [`run_turn`] runs.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TurnRequest {
    Send {
        conversation_id: String,
        text: String,
    },
    Regenerate {
        message_id: String,
    },
    Edit {
        message_id: String,
        text: String,
    },
    Continue {
        message_id: String,
    },
}

/// Runs a turn; `request_id` names it for [`stop`]. Events stream over
/// `on_event`. After a `consentNeeded` error the UI asks the user and runs the
/// same turn again with their answer as `consent` (`null`: not asked).
#[tauri::command]
#[specta::specta]
pub async fn run_turn(
    shell: State<'_, Shell>,
    request_id: String,
    turn: TurnRequest,
    consent: Option<ConsentView>,
    on_event: Channel<ChatEventView>,
) -> Reply<()> {
    let app = shell.app()?;
    let cancel = CancellationToken::new();
    lock(&shell.turns).insert(request_id.clone(), cancel.clone());
    let turn = match turn {
        TurnRequest::Send {
            conversation_id,
            text,
        } => Turn::Send {
            conversation: conversation_id,
            text,
        },
        TurnRequest::Regenerate { message_id } => Turn::Regenerate {
            message: message_id,
        },
        TurnRequest::Edit { message_id, text } => Turn::Edit {
            message: message_id,
            text,
        },
        TurnRequest::Continue { message_id } => Turn::Continue {
            message: message_id,
        },
    };
    let result = app
        .turn_view(turn, consent.unwrap_or_default(), cancel, |event| {
            if let Err(e) = on_event.send(event) {
                tracing::debug!(error = %e, "the window stopped listening");
            }
        })
        .await;
    lock(&shell.turns).remove(&request_id);
    result.map_err(err)
}

/// Stops a running turn (the answer is kept as cancelled) or pauses a download.
#[tauri::command]
#[specta::specta]
pub async fn stop(shell: State<'_, Shell>, request_id: String) -> Reply<()> {
    if let Some(cancel) = lock(&shell.turns).get(&request_id) {
        cancel.cancel();
    }
    if let Some(control) = lock(&shell.downloads).get(&request_id) {
        control.pause();
    }
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn list_models(shell: State<'_, Shell>) -> Reply<Vec<LibraryModelView>> {
    let app = shell.app()?;
    blocking(move || app.library_view()).await
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

/// Downloads `spec` into the library; `request_id` names it for [`stop`] (pause).
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

#[tauri::command]
#[specta::specta]
pub async fn hardware(shell: State<'_, Shell>) -> Reply<HardwareView> {
    let app = shell.app()?;
    blocking(move || Ok(app.hardware_view())).await
}

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

/// What was replaced in a message before it went to a cloud model.
#[tauri::command]
#[specta::specta]
pub async fn message_redactions(
    shell: State<'_, Shell>,
    message_id: String,
) -> Reply<Vec<MessageRedactionView>> {
    shell
        .app()?
        .message_redactions_view(&message_id)
        .map_err(err)
}

/// The user switched back to the local model after a fallback.
#[tauri::command]
#[specta::specta]
pub async fn clear_fallback(shell: State<'_, Shell>, conversation_id: String) -> Reply<()> {
    shell
        .app()?
        .clear_fallback_view(&conversation_id)
        .map_err(err)
}

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
pub async fn api_settings(shell: State<'_, Shell>) -> Reply<ApiSettingsView> {
    let settings = shell.app()?.api_settings().map_err(err)?;
    Ok(ApiSettingsView {
        cloud_models: settings.cloud_models,
        store_conversations: settings.store_conversations,
    })
}

/// Saves them; a running server applies them from its next request.
#[tauri::command]
#[specta::specta]
pub async fn set_api_settings(
    shell: State<'_, Shell>,
    settings: ApiSettingsView,
) -> Reply<ApiSettingsView> {
    shell
        .app()?
        .set_api_settings(hearth_core::ApiSettings {
            cloud_models: settings.cloud_models,
            store_conversations: settings.store_conversations,
        })
        .map_err(err)?;
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

/// Runs file-system heavy work (library scans, imports) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, hearth_core::CoreError> + Send + 'static,
) -> Reply<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErrorView::new(ErrorKind::Internal, e.to_string()))?
        .map_err(err)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
