//! The commands the UI invokes, one file per screen as in hearth-core's
//! `view`. Each one is thin: its arguments (hearth-core's own view types, so
//! nothing is copied field by field), one hearth-core call, and the error as
//! a tagged `ErrorView`. Token streams and download progress go over a
//! `Channel` per request; [`stop`] ends a request by the id the UI gave it.

pub mod chat;
pub mod conversations;
pub mod docs;
pub mod hardware;
pub mod models;
pub mod network;
pub mod providers;
pub mod server;
pub mod settings;
pub mod tools;
pub mod usage;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_core::App;
use hearth_core::hearth_hub::DownloadControl;
use hearth_core::view::{ErrorKind, ErrorView};
use serde::{Deserialize, Serialize};
use tauri::State;
use tokio_util::sync::CancellationToken;

use crate::server::ServerControl;

/// What the shell holds: the opened app (or why it could not open; nothing
/// while it is still opening) and the requests that can be stopped.
pub struct Shell {
    app: tokio::sync::watch::Sender<Option<Result<App, ErrorView>>>,
    turns: Mutex<HashMap<String, CancellationToken>>,
    downloads: Mutex<HashMap<String, DownloadControl>>,
    indexing: Mutex<HashMap<String, Arc<AtomicBool>>>,
    server: ServerControl,
}

impl Default for Shell {
    fn default() -> Self {
        Self {
            app: tokio::sync::watch::Sender::new(None),
            turns: Mutex::default(),
            downloads: Mutex::default(),
            indexing: Mutex::default(),
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

/// Stops a running turn (the answer is kept as cancelled), pauses a download,
/// or stops an indexing run (what is stored stays; running it again resumes).
#[tauri::command]
#[specta::specta]
pub async fn stop(shell: State<'_, Shell>, request_id: String) -> Reply<()> {
    if let Some(cancel) = lock(&shell.turns).get(&request_id) {
        cancel.cancel();
    }
    if let Some(control) = lock(&shell.downloads).get(&request_id) {
        control.pause();
    }
    if let Some(cancel) = lock(&shell.indexing).get(&request_id) {
        cancel.store(true, Ordering::Relaxed);
    }
    Ok(())
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
