//! `Models`: the model library as front ends see it. Search and list files on
//! Hugging Face, pull with progress and resume, list, import, remove, and turn
//! a model name (`-m ID`) into a file.
//!
//! It needs no history database, so `hearth list` or `hearth pull` work while
//! the database is locked. [`crate::App`] holds one for its conversations.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use hearth_engine::KvType;
use hearth_hub::{
    CatalogEntry, DownloadOptions, FitEstimate, HubClient, HubError, Library, Machine, ModelEntry,
    ModelFacts, PendingDownload, RemoteModel, RepoInfo, RepoSummary, SearchSort, Source,
};
use hearth_net::Net;
use hearth_secrets::{HF_TOKEN, SecretStore, SecretString};
use hearth_store::NetworkRecord;

use crate::cloud::Ledger;
use crate::network::{self, NetworkOverview, ProxyChoice};
use crate::{Config, CoreError};

/// What `hearth login` found out about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The Hub knows the token: it belongs to this account. It was stored.
    Checked { user: String },
    /// The Hub could not be asked (offline, unreachable): stored unchecked.
    Unchecked { reason: String },
}

/// A model in the library with its fit on this machine.
#[derive(Debug, Clone)]
pub struct LibraryModel {
    pub entry: ModelEntry,
    pub fit: FitEstimate,
}

/// A file of a remote repo with its fit on this machine.
#[derive(Debug, Clone)]
pub struct RemoteChoice {
    pub model: RemoteModel,
    pub fit: FitEstimate,
}

/// A catalog model with its fit on this machine.
#[derive(Debug, Clone)]
pub struct CatalogChoice {
    pub entry: CatalogEntry,
    pub fit: FitEstimate,
    /// The recommended default for this machine (at most one is).
    pub recommended: bool,
}

/// What `hearth pull REPO[:FILE_OR_QUANT]` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSpec {
    pub repo: String,
    /// A file name, split base or quantisation; `None` picks the default.
    pub file: Option<String>,
}

impl PullSpec {
    /// Parses `owner/name` or `owner/name:FILE_OR_QUANT`; a catalog name (as
    /// `hearth catalog` lists it) stands for its repo and file.
    pub fn parse(spec: &str) -> Result<Self, CoreError> {
        let spec = spec.trim();
        if let Some(entry) = hearth_hub::catalog()?
            .into_iter()
            .find(|e| e.name.eq_ignore_ascii_case(spec))
        {
            return Ok(Self {
                repo: entry.repo,
                file: Some(entry.file),
            });
        }
        let (repo, file) = match spec.split_once(':') {
            Some((repo, file)) if !file.is_empty() => (repo, Some(file.to_owned())),
            Some((repo, _)) => (repo, None),
            None => (spec, None),
        };
        hearth_hub::validate_repo_id(repo)?;
        Ok(Self {
            repo: repo.to_owned(),
            file,
        })
    }
}

/// The model library and Hugging Face, configured for this Hearth.
#[derive(Clone)]
pub struct Models {
    config: Arc<Config>,
    secrets: Option<Arc<dyn SecretStore>>,
    ledger: Option<Arc<Ledger>>,
    /// Folders whose files API clients may name by path; empty unless the
    /// user listed some (`hearth serve --allow-model-dir`).
    api_dirs: Arc<RwLock<Vec<AllowedDir>>>,
}

/// A folder the user allowed API clients to load models from.
#[derive(Debug, Clone)]
struct AllowedDir {
    /// As given, made absolute.
    written: PathBuf,
    /// With symlinks resolved.
    real: PathBuf,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("models_dir", &self.config.models_dir())
            .finish_non_exhaustive()
    }
}

impl Models {
    /// The library of `config`; the Hugging Face token comes from `secrets`
    /// (or the configuration's `HF_TOKEN`).
    pub fn new(config: Arc<Config>, secrets: Option<Arc<dyn SecretStore>>) -> Self {
        Self {
            config,
            secrets,
            ledger: None,
            api_dirs: Arc::default(),
        }
    }

    /// The same, noting each connection to Hugging Face in `ledger`.
    pub(crate) fn with_ledger(mut self, ledger: Arc<Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The library, with models found in other apps' folders refreshed.
    pub fn library(&self) -> Result<Library, CoreError> {
        // The models folder lives in the data folder: make that private first
        // (`hearth pull` may be the first thing ever run).
        crate::files::private_dir(self.config.home()).map_err(|source| CoreError::Io {
            path: self.config.home().display().to_string(),
            source,
        })?;
        let mut library = Library::open(self.config.models_dir())?
            .with_sources(self.config.external_sources.clone());
        library.refresh()?;
        Ok(library)
    }

    /// This machine's RAM and memory bandwidth (measured once, then cached).
    pub fn machine(&self) -> Machine {
        let mut machine = Machine::probe(&self.config.models_dir());
        if let Some(limit) = self.config.memory_limit {
            machine.available_ram = machine.available_ram.min(limit);
        }
        machine
    }

    /// The fit at `context` tokens, the KV cache in `kv_type`, of the library
    /// model in `path` (`None` for a file outside the library: nothing is
    /// known about it yet).
    pub fn fit_of(&self, path: &Path, context: u64, kv_type: KvType) -> Option<LibraryModel> {
        let entry = self.entry_of(path)?;
        Some(LibraryModel {
            fit: hearth_hub::estimate(&facts_of(&entry, kv_type), context, &self.machine()),
            entry,
        })
    }

    /// The library's models with their fit at `context` tokens (the KV cache
    /// in f16, the engine's default).
    pub fn list(&self, context: u64) -> Result<Vec<LibraryModel>, CoreError> {
        self.list_with(|_| (context, KvType::default()))
    }

    /// The library's models with their fit as `run` says each will be
    /// loaded: its context and KV cache type.
    pub fn list_with(
        &self,
        run: impl Fn(&ModelEntry) -> (u64, KvType),
    ) -> Result<Vec<LibraryModel>, CoreError> {
        let library = self.library()?;
        let machine = self.machine();
        Ok(library
            .list()
            .iter()
            .map(|entry| {
                let (context, kv_type) = run(entry);
                LibraryModel {
                    fit: hearth_hub::estimate(&facts_of(entry, kv_type), context, &machine),
                    entry: entry.clone(),
                }
            })
            .collect())
    }

    /// Downloads that were interrupted and can be resumed.
    pub fn pending(&self) -> Result<Vec<PendingDownload>, CoreError> {
        Ok(hearth_hub::pending_downloads(&Library::open(
            self.config.models_dir(),
        )?))
    }

    /// Turns a model name into the file to load: a library id (or a unique
    /// prefix of one), or a path to a `.gguf` file.
    pub fn resolve(&self, reference: &str) -> Result<PathBuf, CoreError> {
        let path = Path::new(reference);
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        let looks_like_a_path = reference.contains(std::path::MAIN_SEPARATOR)
            || reference.contains('/')
            || reference.to_ascii_lowercase().ends_with(".gguf");
        if looks_like_a_path {
            return Err(CoreError::NoModelFile(path.to_path_buf()));
        }
        match self.library()?.resolve(reference) {
            Ok(resolved) => Ok(resolved.path),
            Err(HubError::UnknownModel(_)) => Err(CoreError::ModelNotFound(reference.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// Lets API clients name files inside `dirs` by path (replacing any folders
    /// allowed before). Each folder must exist. A client's path must lie in one
    /// of them both as written and after symlinks are resolved, so a link
    /// inside an allowed folder cannot lead elsewhere.
    pub fn allow_api_model_dirs(&self, dirs: &[PathBuf]) -> Result<(), CoreError> {
        let io = |dir: &Path, source| CoreError::Io {
            path: dir.display().to_string(),
            source,
        };
        let mut allowed = Vec::new();
        for dir in dirs {
            let written = std::path::absolute(dir).map_err(|e| io(dir, e))?;
            let real = dir.canonicalize().map_err(|e| io(dir, e))?;
            if !real.is_dir() {
                return Err(CoreError::Invalid(format!(
                    "{} is not a folder",
                    dir.display()
                )));
            }
            allowed.push(AllowedDir { written, real });
        }
        *self
            .api_dirs
            .write()
            .unwrap_or_else(PoisonError::into_inner) = allowed;
        Ok(())
    }

    /// The folders API clients may name files in, resolved (see
    /// [`Self::allow_api_model_dirs`]).
    pub fn api_model_dirs(&self) -> Vec<PathBuf> {
        self.api_dirs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|d| d.real.clone())
            .collect()
    }

    /// Turns a model name an API client sent into the file to load: a library
    /// id (or a unique prefix of one), or the absolute path of a file inside a
    /// folder the user allowed. Everything else is [`CoreError::UnknownApiModel`]
    /// with the same message whatever the reason (no such id, a path outside
    /// the allowed folders, a file that does not exist), so a client learns
    /// nothing about which files exist; a path outside the allowed folders is
    /// refused before the file system is asked anything about it.
    pub fn resolve_for_api(&self, reference: &str) -> Result<PathBuf, CoreError> {
        let unknown = || CoreError::UnknownApiModel(reference.to_owned());
        let path = Path::new(reference);
        if !reference.contains(['/', '\\']) && !path.is_absolute() {
            return match self.library()?.resolve_id(reference) {
                Ok(resolved) => Ok(resolved.path),
                Err(HubError::UnknownModel(_)) => Err(unknown()),
                Err(e) => Err(e.into()),
            };
        }
        let dirs = self
            .api_dirs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Lexically first: an absolute path without `.` or `..` in an allowed
        // folder as the user wrote it or as it resolved.
        let plain = path.is_absolute()
            && path.components().all(|c| {
                matches!(
                    c,
                    Component::RootDir | Component::Prefix(_) | Component::Normal(_)
                )
            });
        let listed = dirs
            .iter()
            .any(|d| path.starts_with(&d.written) || path.starts_with(&d.real));
        if !plain || !listed {
            return Err(unknown());
        }
        // Then on disk, after symlinks.
        let real = path.canonicalize().map_err(|_| unknown())?;
        if real.is_file() && dirs.iter().any(|d| real.starts_with(&d.real)) {
            Ok(real)
        } else {
            Err(unknown())
        }
    }

    /// The library id of the model in `path`, if it is in the library.
    pub fn id_of(&self, path: &Path) -> Option<String> {
        self.entry_of(path).map(|m| m.id)
    }

    /// The library's entry for the model in `path` (`None` for a file
    /// outside the library), found in one reading of the library.
    pub fn entry_of(&self, path: &Path) -> Option<ModelEntry> {
        if !self.config.models_dir().is_dir() {
            return None;
        }
        let library = self.library().ok()?;
        let wanted = path.canonicalize().ok()?;
        library
            .list()
            .iter()
            .find(|m| {
                m.files
                    .first()
                    .and_then(|f| library.absolute(f).canonicalize().ok())
                    .is_some_and(|f| f == wanted)
            })
            .cloned()
    }

    /// The name to show for the model in `path` (`SmolLM2 135M Instruct ·
    /// Q4_1`, see [`hearth_hub::display_name`]): the library's, else read from
    /// the file's header, else the file name.
    pub fn display_name_of(&self, path: &Path) -> String {
        if let Some(entry) = self.entry_of(path) {
            return entry.display_name();
        }
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hearth_hub::inspect(path)
            .ok()
            .and_then(|info| info.display_name(&file))
            .or_else(|| hearth_hub::clean_label(&file, 60))
            .unwrap_or_else(|| "local model".to_owned())
    }

    /// The model to use when none was named: the most recently used one in
    /// the library, else the first.
    pub fn default_model(&self) -> Result<Option<ModelEntry>, CoreError> {
        let library = self.library()?;
        let mut models = library.list().to_vec();
        models.sort_by_key(|m| std::cmp::Reverse((m.last_used, m.added_at)));
        Ok(models.into_iter().next())
    }

    /// The library's most recently used model as the manifest has it: no
    /// other apps' folders scanned and nothing created, for start-up (see
    /// [`Models::startup_threads`]).
    pub(crate) fn last_used(&self) -> Option<ModelEntry> {
        let dir = self.config.models_dir();
        if !dir.is_dir() {
            return None;
        }
        let library = Library::open(dir)
            .map_err(|e| tracing::warn!(error = %e, "cannot read the library"))
            .ok()?;
        library
            .list()
            .iter()
            .max_by_key(|m| (m.last_used, m.added_at))
            .cloned()
    }

    /// Notes that the model in `path` was used, and what its run measured
    /// (later fit estimates use the measured speed).
    pub fn record_run(&self, path: &Path, load_secs: f64, decode_tok_s: Option<f64>) {
        let Some(id) = self.id_of(path) else {
            return;
        };
        let result = Library::open(self.config.models_dir()).and_then(|mut library| {
            library.touch_last_used(&id)?;
            if let Some(speed) = decode_tok_s.filter(|s| s.is_finite() && *s > 0.0) {
                library.record_measurement(&id, load_secs, speed, peak_rss(), OPTIMIZED_BUILD)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "cannot record the model's use");
        }
    }

    /// Adds a local `.gguf` by reference (`copy = false`) or as a copy.
    pub fn import(&self, path: &Path, copy: bool) -> Result<ModelEntry, CoreError> {
        Ok(self.library()?.import(path, copy)?)
    }

    /// Removes a model; returns the bytes freed. Files of other apps are never deleted.
    pub fn remove(&self, id: &str) -> Result<u64, CoreError> {
        let mut library = self.library()?;
        let id = library.resolve(id)?.id.unwrap_or_else(|| id.to_owned());
        Ok(library.remove(&id)?.freed)
    }

    /// A client for the configured Hugging Face endpoint, with the user's
    /// token and network settings.
    pub fn hub(&self) -> Result<HubClient, CoreError> {
        if self.config.is_offline() {
            return Err(CoreError::Offline("Hugging Face"));
        }
        Ok(HubClient::with_network(
            &self.config.hf_endpoint,
            self.hf_token()?,
            &self.net()?,
        )?)
    }

    /// The network settings every HTTP client is built from (proxy, extra
    /// certificate authorities).
    pub fn net(&self) -> Result<Net, CoreError> {
        network::net(&self.config, self.secrets.as_deref())
    }

    /// The network settings as a front end shows them.
    pub fn network(&self) -> Result<NetworkOverview, CoreError> {
        network::overview(&self.config, self.secrets.as_deref())
    }

    /// Changes the proxy (its password goes to the secret store).
    pub fn set_proxy(&self, choice: ProxyChoice) -> Result<NetworkOverview, CoreError> {
        network::set_proxy(&self.config, self.secrets.as_deref(), choice)?;
        self.network()
    }

    /// Sets (or removes, with `None`) the CA file trusted besides the
    /// system's; the file is checked first.
    pub fn set_ca_file(&self, path: Option<&Path>) -> Result<NetworkOverview, CoreError> {
        network::set_ca_file(&self.config, path)?;
        self.network()
    }

    /// Notes a connection to Hugging Face in the network ledger, if there is one.
    fn note(&self, hub: &HubClient, purpose: &str, detail: &str, bytes_received: u64, ok: bool) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        // The host only: never a user name or password the endpoint may hold.
        let host = hearth_net::reqwest::Url::parse(&self.config.hf_endpoint)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        ledger.write(&NetworkRecord {
            at: hearth_store::now(),
            host,
            purpose: purpose.to_owned(),
            detail: Some(detail.to_owned()),
            bytes_sent: 0,
            bytes_received,
            status: None,
            ok,
            via: hub.route().via().map(str::to_owned),
        });
    }

    /// The Hugging Face token: from the secret store, else `HF_TOKEN`.
    fn hf_token(&self) -> Result<Option<SecretString>, CoreError> {
        if let Some(secrets) = &self.secrets
            && let Some(token) = secrets.get(HF_TOKEN)?
        {
            return Ok(Some(token));
        }
        Ok(self.config.hf_token.clone())
    }

    /// Stores the Hugging Face token in the secret store.
    pub fn set_hf_token(&self, token: &SecretString) -> Result<(), CoreError> {
        let secrets = self.secrets.as_ref().ok_or(CoreError::NoKeychain)?;
        Ok(secrets.set(HF_TOKEN, token)?)
    }

    /// Checks `token` with the Hub (who it belongs to) and stores it. A token
    /// the Hub rejects is not stored; one that cannot be checked now
    /// (offline, Hub unreachable) is stored, and the answer says so.
    pub async fn login(&self, token: &SecretString) -> Result<Login, CoreError> {
        let secrets = self.secrets.as_ref().ok_or(CoreError::NoKeychain)?;
        let outcome = if self.config.is_offline() {
            Login::Unchecked {
                reason: "Hearth is offline".into(),
            }
        } else {
            let hub = HubClient::with_network(
                &self.config.hf_endpoint,
                Some(token.clone()),
                &self.net()?,
            )?;
            let who = hub.whoami().await;
            self.note(&hub, "token check", "whoami", 0, who.is_ok());
            match who {
                Ok(user) => Login::Checked { user },
                Err(
                    e @ (HubError::Network { .. }
                    | HubError::Server { .. }
                    | HubError::RateLimited { .. }),
                ) => Login::Unchecked {
                    reason: e.to_string(),
                },
                Err(e) => return Err(e.into()),
            }
        };
        secrets.set(HF_TOKEN, token)?;
        Ok(outcome)
    }

    /// Forgets the Hugging Face token; says whether there was one.
    pub fn delete_hf_token(&self) -> Result<bool, CoreError> {
        let secrets = self.secrets.as_ref().ok_or(CoreError::NoKeychain)?;
        Ok(secrets.delete(HF_TOKEN)?)
    }

    /// GGUF repos on Hugging Face matching `query`.
    pub async fn search(
        &self,
        query: &str,
        sort: SearchSort,
        limit: usize,
    ) -> Result<Vec<RepoSummary>, CoreError> {
        let hub = self.hub()?;
        let found = hub.search(query, sort, limit).await;
        self.note(&hub, "model search", query, 0, found.is_ok());
        Ok(found?)
    }

    /// A repo's GGUF models, each with its fit at `context` tokens.
    pub async fn files(
        &self,
        repo: &str,
        context: u64,
    ) -> Result<(RepoInfo, Vec<RemoteChoice>), CoreError> {
        let hub = self.hub()?;
        let info = hub.repo(repo).await;
        self.note(&hub, "model files", repo, 0, info.is_ok());
        let info = info?;
        let machine = self.machine();
        let library = self.library().ok();
        let choices = info
            .models
            .iter()
            .map(|model| RemoteChoice {
                fit: hearth_hub::estimate(
                    &remote_facts(
                        library.as_ref(),
                        &info.id,
                        model
                            .files
                            .first()
                            .map_or(model.name.as_str(), |f| f.path.as_str()),
                        model.size,
                        model.quant.clone(),
                    ),
                    context,
                    &machine,
                ),
                model: model.clone(),
            })
            .collect();
        Ok((info, choices))
    }

    /// Downloads what `spec` names into the library (resuming a partial
    /// download of it). Returns the new library entry.
    pub async fn pull(
        &self,
        spec: &PullSpec,
        options: &DownloadOptions,
    ) -> Result<ModelEntry, CoreError> {
        let hub = self.hub()?;
        let repo = hub.repo(&spec.repo).await;
        self.note(&hub, "model files", &spec.repo, 0, repo.is_ok());
        let repo = repo?;
        let model = repo.select(spec.file.as_deref())?;
        let mut library = Library::open(self.config.models_dir())?;
        let entry = hub.download(&repo, model, &mut library, options).await;
        let size = entry.as_ref().map_or(0, |e| e.size);
        self.note(&hub, "download", &spec.repo, size, entry.is_ok());
        Ok(entry?)
    }

    /// The curated catalog, each entry with its fit at `context` tokens; the
    /// recommended default is the biggest one that fits comfortably.
    pub fn catalog(&self, context: u64) -> Result<Vec<CatalogChoice>, CoreError> {
        let machine = self.machine();
        let best = hearth_hub::recommended(&machine)?.map(|b| b.name);
        let library = self.library().ok();
        Ok(hearth_hub::catalog()?
            .into_iter()
            .map(|entry| CatalogChoice {
                fit: hearth_hub::estimate(
                    &remote_facts(
                        library.as_ref(),
                        &entry.repo,
                        &entry.file,
                        entry.size,
                        Some(entry.quant.clone()),
                    ),
                    context,
                    &machine,
                ),
                recommended: best.as_deref() == Some(entry.name.as_str()),
                entry,
            })
            .collect())
    }
}

/// Whether this build is optimised: speeds measured by a debug build are
/// kept apart from a release build's (see [`hearth_hub::Measurement`]).
const OPTIMIZED_BUILD: bool = !cfg!(debug_assertions);

/// What the fit estimate knows about a library model whose KV cache is kept
/// in `kv_type`.
fn facts_of(entry: &ModelEntry, kv_type: KvType) -> ModelFacts {
    ModelFacts {
        size: entry.size,
        shape: Some(entry.info.shape),
        quant: entry.info.quant.clone(),
        measured_decode_tok_s: expected_speed(entry),
        kv_bytes_per_value: Some(crate::load_settings::kv_bytes_per_value(kv_type)),
    }
}

/// The decode speed this build should expect from `entry`, from its recent
/// runs on this machine; `None` when none was measured by this kind of build.
fn expected_speed(entry: &ModelEntry) -> Option<f64> {
    entry
        .measured
        .as_ref()
        .and_then(|m| m.expected_tok_s(OPTIMIZED_BUILD))
}

/// What the fit estimate knows about a file `repo` offers, `size` bytes in
/// `quant`: the speed measured here when the library already has that file
/// from that repo.
fn remote_facts(
    library: Option<&Library>,
    repo: &str,
    file: &str,
    size: u64,
    quant: Option<String>,
) -> ModelFacts {
    let measured = library.and_then(|l| {
        l.list()
            .iter()
            .find(|m| {
                matches!(&m.source, Source::Downloaded { repo: r, .. } if r.eq_ignore_ascii_case(repo))
                    && m.files.first().is_some_and(|f| {
                        f.file_name().and_then(|n| n.to_str())
                            == Path::new(file).file_name().and_then(|n| n.to_str())
                    })
            })
            .and_then(expected_speed)
    });
    ModelFacts {
        size,
        shape: None,
        quant,
        measured_decode_tok_s: measured,
        kv_bytes_per_value: None,
    }
}

/// This process's peak resident memory in bytes (0 where unknown).
fn peak_rss() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_specs() {
        assert_eq!(
            PullSpec::parse("org/repo-GGUF").ok(),
            Some(PullSpec {
                repo: "org/repo-GGUF".into(),
                file: None
            })
        );
        assert_eq!(
            PullSpec::parse("org/repo-GGUF:Q8_0").ok(),
            Some(PullSpec {
                repo: "org/repo-GGUF".into(),
                file: Some("Q8_0".into())
            })
        );
        assert!(PullSpec::parse("../etc:passwd").is_err());
        assert!(PullSpec::parse("no-owner").is_err());
        let smol = PullSpec::parse("smollm2 135m instruct").ok();
        assert_eq!(
            smol.map(|s| s.repo),
            Some("bartowski/SmolLM2-135M-Instruct-GGUF".into())
        );
    }

    /// A library entry downloaded from `repo`, measured as `measured` says.
    fn library_with(
        dir: &Path,
        repo: &str,
        file: &str,
        measured: Option<hearth_hub::Measurement>,
    ) -> Library {
        let info: hearth_hub::GgufInfo = serde_json::from_value(serde_json::json!({
            "architecture": "llama",
            "name": "Smollm2 135M 8k Lc100K Mix1 Ep2",
            "basename": "smollm2",
            "size_label": "135M",
            "parameters": 134_515_008u64,
            "quant": "Q4_1",
            "context_length": 8192,
            "has_chat_template": true,
            "shape": {"layers": 30, "heads": 9, "kv_heads": 3, "embedding": 576, "head_dim": 64},
        }))
        .unwrap();
        let entry = ModelEntry {
            id: "smollm2-135m-instruct-q4_1".into(),
            files: vec![PathBuf::from(repo).join(file)],
            source: Source::Downloaded {
                repo: repo.into(),
                commit: "c".into(),
            },
            size: 100_000_000,
            sha256: Vec::new(),
            unverified: false,
            info,
            added_at: 0,
            last_used: None,
            measured,
            load: hearth_hub::LoadPrefs::default(),
        };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("library.json"),
            serde_json::to_vec(&serde_json::json!({"version": 1, "models": [entry]})).unwrap(),
        )
        .unwrap();
        Library::open(dir).unwrap()
    }

    /// `entry_of` finds a library model by its file however the path is
    /// spelt, with its load settings, and nothing for other files.
    #[test]
    fn a_library_models_entry_is_found_by_its_file() {
        let home = tempfile::tempdir().unwrap();
        let config = Config::with_home(home.path());
        let dir = config.models_dir();
        let (repo, file) = ("bartowski/SmolLM2-135M-Instruct-GGUF", "smol.gguf");
        let mut library = library_with(&dir, repo, file, None);
        let id = library.list()[0].id.clone();
        let prefs = hearth_hub::LoadPrefs {
            context_length: Some(2048),
            ..hearth_hub::LoadPrefs::default()
        };
        library.set_load(&id, prefs).unwrap();
        let path = dir.join(repo).join(file);
        std::fs::create_dir_all(dir.join(repo)).unwrap();
        std::fs::write(&path, b"GGUF").unwrap();
        let other = dir.join("other.gguf");
        std::fs::write(&other, b"GGUF").unwrap();
        let models = Models::new(Arc::new(config), None);

        let entry = models.entry_of(&path).unwrap();
        assert_eq!(entry.id, id);
        assert_eq!(entry.load.context_length, Some(2048));
        let roundabout = dir.join("bartowski/../").join(repo).join(file);
        assert_eq!(models.entry_of(&roundabout).map(|m| m.id), Some(id));
        assert_eq!(models.load_settings_of(&path).context_length, Some(2048));
        assert!(models.entry_of(&other).is_none());
        assert!(models.entry_of(&dir.join("missing.gguf")).is_none());
        assert_eq!(
            models.load_settings_of(&other),
            crate::LoadSettings::default()
        );
    }

    /// Issue 21: the catalog and a repo's file list show the speed this
    /// machine measured for a file the library has, so the same file never
    /// shows two speeds; a debug build's measurement is not a release
    /// build's.
    #[test]
    fn remote_files_show_the_speed_measured_for_the_same_file() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = "bartowski/SmolLM2-135M-Instruct-GGUF";
        let file = "SmolLM2-135M-Instruct-Q4_1.gguf";
        let measurement = |optimized| hearth_hub::Measurement {
            load_secs: 0.2,
            decode_tok_s: 150.0,
            peak_rss_bytes: 0,
            recent_tok_s: vec![148.0, 150.0, 152.0],
            optimized: Some(optimized),
        };
        let lib = library_with(tmp.path(), repo, file, Some(measurement(OPTIMIZED_BUILD)));
        let facts = remote_facts(Some(&lib), repo, file, 1, None);
        assert_eq!(facts.measured_decode_tok_s, Some(150.0));
        // Another repo's file of the same name, or another file: nothing measured.
        assert_eq!(
            remote_facts(Some(&lib), "someone/else", file, 1, None).measured_decode_tok_s,
            None
        );
        assert_eq!(
            remote_facts(Some(&lib), repo, "other.gguf", 1, None).measured_decode_tok_s,
            None
        );
        // The library's own estimate agrees.
        assert_eq!(
            facts_of(&lib.list()[0], KvType::F16).measured_decode_tok_s,
            Some(150.0)
        );
        assert_eq!(lib.list()[0].display_name(), "SmolLM2 135M Instruct · Q4_1");

        let other = tempfile::tempdir().unwrap();
        let lib = library_with(
            other.path(),
            repo,
            file,
            Some(measurement(!OPTIMIZED_BUILD)),
        );
        assert_eq!(
            remote_facts(Some(&lib), repo, file, 1, None).measured_decode_tok_s,
            None
        );
        assert_eq!(
            facts_of(&lib.list()[0], KvType::F16).measured_decode_tok_s,
            None
        );
    }
}
