//! The models screen: the library, the curated catalog, Hugging Face search
//! and a repo's files (each with its fit on this machine), pulls with their
//! progress, interrupted downloads, imports.

use std::path::Path;

use hearth_hub::{
    CatalogEntry, DownloadControl, DownloadEvent, DownloadOptions, FitEstimate, ModelEntry,
    PendingDownload, RepoSummary, Source,
};
use serde::{Deserialize, Serialize};

use hearth_engine::{DevicePreference, KvType};

use super::error::ErrorView;
use crate::{App, CoreError, LibraryModel, LoadSettings, PullSpec, RemoteChoice};

/// Fits / tight / won't fit, the memory needed and the expected speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FitView {
    pub fit: FitVerdict,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub total: u64,
    pub decode_tok_s: Option<f64>,
    pub approximate: bool,
    pub measured: bool,
}

/// The fit verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    Fits,
    Tight,
    WontFit,
}

impl From<&FitEstimate> for FitView {
    fn from(f: &FitEstimate) -> Self {
        Self {
            fit: match f.fit {
                hearth_hub::Fit::Fits => FitVerdict::Fits,
                hearth_hub::Fit::Tight => FitVerdict::Tight,
                hearth_hub::Fit::WontFit => FitVerdict::WontFit,
            },
            total: f.total,
            decode_tok_s: f.decode_tok_s,
            approximate: f.approximate,
            measured: f.measured,
        }
    }
}

/// Where a library model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SourceView {
    Downloaded { repo: String },
    Imported { copied: bool },
    External { app: String, label: String },
}

/// A model in the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LibraryModelView {
    pub id: String,
    /// The name to show: `SmolLM2 135M Instruct · Q4_1` (from the header;
    /// cleaned, never raw header text).
    pub display_name: String,
    pub architecture: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub parameters: u64,
    pub quant: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub context_length: Option<u64>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    pub has_chat_template: bool,
    pub source: SourceView,
    pub owned: bool,
    pub path: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub added_at: u64,
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub last_used: Option<u64>,
    pub fit: FitView,
}

impl LibraryModelView {
    fn new(model: &LibraryModel, models_dir: &Path) -> Self {
        let e: &ModelEntry = &model.entry;
        let path = e
            .files
            .first()
            .map(|f| {
                if f.is_absolute() {
                    f.clone()
                } else {
                    models_dir.join(f)
                }
            })
            .unwrap_or_default();
        Self {
            id: e.id.clone(),
            display_name: e.display_name(),
            architecture: e.info.architecture.clone(),
            parameters: e.info.parameters,
            quant: e.info.quant.clone(),
            context_length: e.info.context_length,
            size: e.size,
            has_chat_template: e.info.has_chat_template,
            source: match &e.source {
                Source::Downloaded { repo, .. } => SourceView::Downloaded { repo: repo.clone() },
                Source::Imported { copied } => SourceView::Imported { copied: *copied },
                Source::External { app, label } => SourceView::External {
                    app: match app {
                        hearth_hub::ExternalApp::HuggingFaceCache => "hugging_face_cache",
                        hearth_hub::ExternalApp::LmStudio => "lm_studio",
                        hearth_hub::ExternalApp::Ollama => "ollama",
                    }
                    .to_owned(),
                    label: label.clone(),
                },
            },
            owned: e.owned(),
            path: path.display().to_string(),
            added_at: e.added_at,
            last_used: e.last_used,
            fit: FitView::from(&model.fit),
        }
    }
}

/// How a library model loads; `null`: the app's default (the context: the
/// model's own, at most 4096 tokens; the KV cache in f16; the device: a GPU
/// when there is one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LoadSettingsView {
    pub context_length: Option<u32>,
    /// `f16`, `q8_0` (a little over half the memory) or `f32`.
    pub kv_type: Option<String>,
    /// `auto`, `cpu`, `cuda` or `metal`.
    pub device: Option<String>,
    /// CPU threads, 1 to [`LoadSettingsForm::max_threads`]; taken when the
    /// app starts with this as its last-used model (see `load_settings.rs`).
    pub threads: Option<u32>,
}

/// A model's load settings and the choices the form offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct LoadSettingsForm {
    pub settings: LoadSettingsView,
    /// The context the model was trained for (past it answers degrade).
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub trained_context: Option<u64>,
    pub min_context: u32,
    pub max_context: u32,
    pub kv_types: Vec<String>,
    /// The devices this build can use on this machine.
    pub devices: Vec<String>,
    /// The most threads a model may be set to (twice the logical cores).
    pub max_threads: u32,
    /// The threads the running app computes with (fixed by how it started).
    pub threads_in_use: u32,
}

impl From<&LoadSettings> for LoadSettingsView {
    fn from(s: &LoadSettings) -> Self {
        Self {
            context_length: s
                .context_length
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            kv_type: s.kv_type.map(|t| t.name().to_owned()),
            device: s.device.map(|d| d.to_string()),
            threads: s.threads.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

impl TryFrom<&LoadSettingsView> for LoadSettings {
    type Error = CoreError;

    fn try_from(v: &LoadSettingsView) -> Result<Self, CoreError> {
        Ok(Self {
            context_length: v.context_length.map(|n| n as usize),
            kv_type: v
                .kv_type
                .as_deref()
                .map(str::parse::<KvType>)
                .transpose()
                .map_err(CoreError::Invalid)?,
            device: v
                .device
                .as_deref()
                .map(str::parse::<DevicePreference>)
                .transpose()
                .map_err(|e| CoreError::Invalid(e.to_string()))?,
            threads: v.threads.map(|n| n as usize),
        })
    }
}

/// A curated model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CatalogModelView {
    pub name: String,
    pub repo: String,
    pub file: String,
    pub quant: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub parameters: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub context: u64,
    pub license: String,
    pub fit: FitView,
    pub recommended: bool,
}

impl CatalogModelView {
    fn new(e: &CatalogEntry, fit: &FitEstimate, recommended: bool) -> Self {
        Self {
            name: e.name.clone(),
            repo: e.repo.clone(),
            file: e.file.clone(),
            quant: e.quant.clone(),
            size: e.size,
            parameters: e.parameters,
            context: e.context,
            license: e.license.clone(),
            fit: fit.into(),
            recommended,
        }
    }
}

/// A Hugging Face search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RepoSummaryView {
    pub id: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub downloads: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub likes: u64,
    pub updated: Option<String>,
    pub license: Option<String>,
    pub gated: bool,
}

impl From<RepoSummary> for RepoSummaryView {
    fn from(r: RepoSummary) -> Self {
        Self {
            id: r.id,
            downloads: r.downloads,
            likes: r.likes,
            updated: r.updated,
            license: r.license,
            gated: r.gated,
        }
    }
}

/// A downloadable model of a repo (split parts count as one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RemoteFileView {
    pub name: String,
    pub quant: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
    pub parts: u32,
    pub fit: FitView,
}

/// A repo's models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RepoFilesView {
    pub repo: String,
    pub gated: bool,
    pub license: Option<String>,
    pub files: Vec<RemoteFileView>,
}

/// An interrupted download that can be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PendingDownloadView {
    pub repo: String,
    pub file: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub done: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub size: u64,
}

impl From<PendingDownload> for PendingDownloadView {
    fn from(p: PendingDownload) -> Self {
        Self {
            repo: p.repo,
            file: p.file,
            done: p.done,
            size: p.size,
        }
    }
}

/// Streamed during a pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DownloadEventView {
    Started {
        model: String,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        total: u64,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        done: u64,
    },
    Progress {
        #[cfg_attr(feature = "specta", specta(type = u32))]
        done: u64,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        total: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
    },
    Retrying {
        attempt: u32,
        reason: String,
        #[cfg_attr(feature = "specta", specta(type = u32))]
        wait_ms: u64,
    },
    Verifying,
    Finished {
        id: String,
    },
    Paused,
    Cancelled,
    Failed {
        error: ErrorView,
    },
}

impl DownloadEventView {
    /// The view of a hub event (`None` for the ones a screen does not show).
    pub fn from_event(event: &DownloadEvent) -> Option<Self> {
        Some(match event {
            DownloadEvent::Started { model, total, done } => Self::Started {
                model: model.clone(),
                total: *total,
                done: *done,
            },
            DownloadEvent::Progress {
                done,
                total,
                bytes_per_sec,
                eta_secs,
            } => Self::Progress {
                done: *done,
                total: *total,
                bytes_per_sec: *bytes_per_sec,
                eta_secs: *eta_secs,
            },
            DownloadEvent::Retrying {
                attempt,
                reason,
                wait_ms,
                ..
            } => Self::Retrying {
                attempt: *attempt,
                reason: reason.clone(),
                wait_ms: *wait_ms,
            },
            DownloadEvent::Verifying { .. } => Self::Verifying,
            DownloadEvent::Finished { id } => Self::Finished { id: id.clone() },
            DownloadEvent::Rehashing { .. } | DownloadEvent::Unverified { .. } => return None,
        })
    }
}

impl App {
    /// The library, each model's fit as it is set to load (its context, else
    /// the default one, and its KV cache type).
    pub fn library_view(&self) -> Result<Vec<LibraryModelView>, CoreError> {
        let dir = self.config().models_dir();
        Ok(self
            .models()
            .list_with(|entry| {
                let options = self.local.options_for(&LoadSettings::from_entry(entry));
                let context = options
                    .context_length
                    .map_or(hearth_hub::RECOMMEND_CONTEXT, |n| n as u64);
                (context, options.kv_type)
            })?
            .iter()
            .map(|m| LibraryModelView::new(m, &dir))
            .collect())
    }

    /// The load settings of the library model `id`, with what can be chosen.
    pub fn load_settings_view(&self, id: &str) -> Result<LoadSettingsForm, CoreError> {
        let library = self.models().library()?;
        let entry = library
            .list()
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| CoreError::ModelNotFound(id.to_owned()))?;
        Ok(LoadSettingsForm {
            settings: (&LoadSettings::from_entry(entry)).into(),
            trained_context: entry.info.context_length,
            min_context: crate::MIN_CONTEXT as u32,
            max_context: crate::MAX_CONTEXT as u32,
            kv_types: KvType::ALL.iter().map(|t| t.name().to_owned()).collect(),
            devices: hearth_engine::available_devices()
                .iter()
                .map(ToString::to_string)
                .collect(),
            max_threads: u32::try_from(crate::max_threads()).unwrap_or(u32::MAX),
            threads_in_use: u32::try_from(crate::threads_in_use()).unwrap_or(u32::MAX),
        })
    }

    /// Sets the load settings of the library model `id`; the model comes back
    /// with its fit as it is now set to load.
    pub fn set_load_settings_view(
        &self,
        id: &str,
        settings: &LoadSettingsView,
    ) -> Result<LibraryModelView, CoreError> {
        self.models()
            .set_load_settings(id, &LoadSettings::try_from(settings)?)?;
        self.library_view()?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| CoreError::ModelNotFound(id.to_owned()))
    }

    /// The curated catalog with fit and the recommendation.
    pub fn catalog_view(&self) -> Result<Vec<CatalogModelView>, CoreError> {
        Ok(self
            .models()
            .catalog(hearth_hub::RECOMMEND_CONTEXT)?
            .iter()
            .map(|c| CatalogModelView::new(&c.entry, &c.fit, c.recommended))
            .collect())
    }

    /// A repo's downloadable models with fit.
    pub async fn repo_files_view(&self, repo: &str) -> Result<RepoFilesView, CoreError> {
        let (info, choices) = self
            .models()
            .files(repo, hearth_hub::RECOMMEND_CONTEXT)
            .await?;
        Ok(RepoFilesView {
            repo: info.id,
            gated: info.gated,
            license: info.license,
            files: choices
                .iter()
                .map(|c: &RemoteChoice| RemoteFileView {
                    name: c.model.name.clone(),
                    quant: c.model.quant.clone(),
                    size: c.model.size,
                    parts: u32::try_from(c.model.files.len()).unwrap_or(u32::MAX),
                    fit: (&c.fit).into(),
                })
                .collect(),
        })
    }

    /// Pulls `spec` (`owner/name[:QUANT_OR_FILE]`), streaming progress as
    /// views; `control` pauses or cancels it. Ends with `Finished`, `Paused`,
    /// `Cancelled` or `Failed`, and the same outcome as the result.
    pub async fn pull_view(
        &self,
        spec: &str,
        control: DownloadControl,
        on_event: impl Fn(DownloadEventView) + Send + Sync + 'static,
    ) -> Result<String, CoreError> {
        let on_event = std::sync::Arc::new(on_event);
        let sink = on_event.clone();
        let options = DownloadOptions {
            control,
            on_event: std::sync::Arc::new(move |event| {
                if let Some(view) = DownloadEventView::from_event(event) {
                    sink(view);
                }
            }),
            ..DownloadOptions::default()
        };
        let result = match PullSpec::parse(spec) {
            Ok(spec) => self.models().pull(&spec, &options).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => {}
            Err(CoreError::Hub(hearth_hub::HubError::Paused)) => {
                on_event(DownloadEventView::Paused)
            }
            Err(CoreError::Hub(hearth_hub::HubError::Cancelled)) => {
                on_event(DownloadEventView::Cancelled);
            }
            Err(e) => on_event(DownloadEventView::Failed { error: e.into() }),
        }
        result.map(|entry| entry.id)
    }

    /// Deletes an interrupted download's partial file.
    pub fn discard_download(&self, repo: &str, file: &str) -> Result<bool, CoreError> {
        let library = hearth_hub::Library::open(self.config().models_dir())?;
        Ok(hearth_hub::discard_pending(&library, repo, file)?)
    }

    /// Downloads that were interrupted and can be resumed.
    pub fn pending_view(&self) -> Result<Vec<PendingDownloadView>, CoreError> {
        Ok(self
            .models()
            .pending()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Adds a local `.gguf` (copied or by reference) and returns its view.
    pub fn import_view(&self, path: &Path, copy: bool) -> Result<LibraryModelView, CoreError> {
        let entry = self.models().import(path, copy)?;
        self.library_view()?
            .into_iter()
            .find(|m| m.id == entry.id)
            .ok_or_else(|| CoreError::ModelNotFound(entry.id))
    }

    /// Whether this looks like a first run: no model in the library yet.
    pub fn first_run(&self) -> Result<bool, CoreError> {
        Ok(self.models().library()?.list().is_empty())
    }

    /// The first file of a library model (to show it in the file manager).
    pub fn model_file(&self, id: &str) -> Result<std::path::PathBuf, CoreError> {
        self.models().resolve(id)
    }
}
