//! The local model: one loaded at a time, swapped when a conversation needs
//! another. Loading runs off the async threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_engine::{Engine, EngineOptions};
use tokio::sync::Mutex;

use crate::CoreError;

struct Loaded {
    path: PathBuf,
    engine: Arc<Engine>,
    last_used: Instant,
}

/// The loaded local model, if any.
pub(crate) struct LocalModels {
    options: EngineOptions,
    current: Mutex<Option<Loaded>>,
}

impl LocalModels {
    pub(crate) fn new(options: EngineOptions) -> Self {
        Self {
            options,
            current: Mutex::new(None),
        }
    }

    /// The engine for the model at `path`, loading it (and dropping the one
    /// loaded before) when needed.
    pub(crate) async fn get(&self, path: &Path) -> Result<Arc<Engine>, CoreError> {
        let mut current = self.current.lock().await;
        if let Some(loaded) = current.as_mut().filter(|l| l.path == path) {
            loaded.last_used = Instant::now();
            return Ok(loaded.engine.clone());
        }
        // Free the old model's memory before loading the next one.
        *current = None;
        let (owned, options) = (path.to_path_buf(), self.options.clone());
        let engine = tokio::task::spawn_blocking(move || Engine::load(owned, options))
            .await
            .map_err(|_| CoreError::WorkerGone)??;
        let engine = Arc::new(engine);
        tracing::info!(
            model = %path.display(),
            secs = engine.load_time().as_secs_f64(),
            "model loaded"
        );
        *current = Some(Loaded {
            path: path.to_path_buf(),
            engine: engine.clone(),
            last_used: Instant::now(),
        });
        Ok(engine)
    }

    /// Frees the loaded model when nothing has asked for it for `idle` and no
    /// generation holds it; returns whether one was unloaded.
    pub(crate) async fn unload_if_idle(&self, idle: Duration) -> bool {
        let mut current = self.current.lock().await;
        let unload = current.as_ref().is_some_and(|loaded| {
            loaded.last_used.elapsed() >= idle && Arc::strong_count(&loaded.engine) == 1
        });
        if unload && let Some(loaded) = current.take() {
            tracing::info!(model = %loaded.path.display(), "model unloaded after being idle");
        }
        unload
    }
}
