//! The model library: a JSON manifest in the models folder listing what Hearth
//! downloaded or imported, plus what other apps have (found in place).
//!
//! Files enter the library only complete and checked: downloads are renamed in
//! after their sha256 matched the Hub's, or, when the Hub gave none, marked
//! [`ModelEntry::unverified`]. The manifest is re-read before every change and
//! replaced atomically, so two Hearth processes do not lose each other's entries
//! in the common case.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::discover::{self, ExternalApp, ExternalSources};
use crate::gguf::{self, GgufInfo};
use crate::names::{id_from_file_name, unique_id};

const MANIFEST: &str = "library.json";
/// Where partial downloads and their state live, inside the models folder.
pub(crate) const PARTIAL_DIR: &str = ".partial";

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Downloaded by Hearth from a Hugging Face repo.
    Downloaded { repo: String, commit: String },
    /// Imported by the user: copied into the models folder, or referenced.
    Imported { copied: bool },
    /// Found in another app's folder; read-only.
    External { app: ExternalApp, label: String },
}

/// How many recent answers' decode speeds a [`Measurement`] keeps.
const RECENT_RUNS: usize = 5;

/// How the user chose to load a model (the app's Models screen, `hearth
/// model-settings`); `None`: the app's default. Kept by name as the engine
/// spells them (`q8_0`, `cpu`), so the library needs no engine to read them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadPrefs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// CPU threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
}

impl LoadPrefs {
    fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// What real runs measured (corrects the fit estimate's speed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub load_secs: f64,
    /// The last run's decode speed.
    pub decode_tok_s: f64,
    pub peak_rss_bytes: u64,
    /// The decode speeds of the last few runs, oldest first (the last is
    /// [`Self::decode_tok_s`]); empty in manifests written before they were kept.
    #[serde(default)]
    pub recent_tok_s: Vec<f64>,
    /// Whether the build that measured was optimised (a release build). A
    /// debug build decodes many times slower than what users run, so its
    /// speeds say nothing about a release build's, and the other way round.
    /// `None` in manifests written before it was noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimized: Option<bool>,
}

impl Measurement {
    /// The decode speed to expect from a build that is `optimized` or not:
    /// the median of the recent runs measured by such a build (one slow
    /// answer, say while something else ran, does not move it much); `None`
    /// when no run of such a build was measured.
    pub fn expected_tok_s(&self, optimized: bool) -> Option<f64> {
        if self.optimized != Some(optimized) {
            return None;
        }
        let mut speeds: Vec<f64> = if self.recent_tok_s.is_empty() {
            vec![self.decode_tok_s]
        } else {
            self.recent_tok_s.clone()
        };
        speeds.retain(|s| s.is_finite() && *s > 0.0);
        speeds.sort_by(f64::total_cmp);
        let n = speeds.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(speeds[n / 2]),
            _ => Some((speeds[n / 2 - 1] + speeds[n / 2]) / 2.0),
        }
    }
}

/// One model in the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Short id usable as `hearth run -m ID`.
    pub id: String,
    /// Files, first part first; relative paths are inside the models folder.
    pub files: Vec<PathBuf>,
    pub source: Source,
    /// Bytes on disk (all parts).
    pub size: u64,
    /// The sha256 of each part as downloaded (checked against the Hub's
    /// unless [`Self::unverified`]).
    #[serde(default)]
    pub sha256: Vec<String>,
    /// Downloaded, but the Hub gave no sha256 for a part, so its bytes were
    /// not checked against anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
    pub info: GgufInfo,
    /// Unix seconds.
    pub added_at: u64,
    pub last_used: Option<u64>,
    pub measured: Option<Measurement>,
    #[serde(default, skip_serializing_if = "LoadPrefs::is_unset")]
    pub load: LoadPrefs,
}

impl ModelEntry {
    /// The name to show: `SmolLM2 135M Instruct · Q4_1` (see
    /// [`crate::display_name`]); the id when neither the header nor the file
    /// name gives one.
    pub fn display_name(&self) -> String {
        let file = self
            .files
            .first()
            .and_then(|f| f.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        crate::names::display_name(&self.info, file).unwrap_or_else(|| self.id.clone())
    }

    /// Whether Hearth may delete the files (it downloaded or copied them).
    pub fn owned(&self) -> bool {
        matches!(
            self.source,
            Source::Downloaded { .. } | Source::Imported { copied: true }
        )
    }
}

/// What a download's hashes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The sha256 of each part.
    pub(crate) sha256: Vec<String>,
    /// A part had no sha256 from the Hub to compare with.
    pub(crate) unverified: bool,
}

/// A model name resolved to a file to load.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The library id, when it came from the library.
    pub id: Option<String>,
    /// The (first) file to load.
    pub path: PathBuf,
    pub files: Vec<PathBuf>,
}

/// What `remove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Bytes deleted from disk (0 for a by-reference import).
    pub freed: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    models: Vec<ModelEntry>,
}

/// The library in one models folder.
#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    sources: ExternalSources,
    models: Vec<ModelEntry>,
}

impl Library {
    /// Opens (creating the folder if needed) the library in `models_dir`.
    pub fn open(models_dir: impl Into<PathBuf>) -> Result<Self, HubError> {
        let dir = models_dir.into();
        fs::create_dir_all(&dir).map_err(|e| HubError::io(&dir, e))?;
        let mut library = Self {
            dir,
            sources: ExternalSources::default(),
            models: Vec::new(),
        };
        library.reload()?;
        Ok(library)
    }

    /// Also offers models found in these other apps' folders (see [`Self::refresh`]).
    pub fn with_sources(mut self, sources: ExternalSources) -> Self {
        self.sources = sources;
        self
    }

    pub fn models_dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn partial_dir(&self) -> PathBuf {
        self.dir.join(PARTIAL_DIR)
    }

    /// The models, in the order they were added.
    pub fn list(&self) -> &[ModelEntry] {
        &self.models
    }

    /// An absolute path for a stored file path.
    pub fn absolute(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// Finds models in the other apps' folders (new ones are inspected once and
    /// added), and forgets external models whose files are gone.
    pub fn refresh(&mut self) -> Result<(), HubError> {
        let found = discover::scan(&self.sources);
        self.update(|models| {
            models.retain(|m| {
                !matches!(m.source, Source::External { .. }) || m.files.iter().all(|f| f.is_file())
            });
            for f in found {
                if models.iter().any(|m| m.files.first() == f.files.first()) {
                    continue;
                }
                let info = match gguf::inspect_parts(&f.files) {
                    Ok(info) => info,
                    Err(e) => {
                        tracing::debug!(error = %e, "skipping a file found in another app");
                        continue;
                    }
                };
                let id = unique_id(f.id_hint, |c| models.iter().any(|m| m.id == c));
                models.push(ModelEntry {
                    id,
                    size: total_size(&f.files),
                    files: f.files,
                    source: Source::External {
                        app: f.app,
                        label: f.label,
                    },
                    sha256: Vec::new(),
                    unverified: false,
                    info,
                    added_at: now(),
                    last_used: None,
                    measured: None,
                    load: LoadPrefs::default(),
                });
            }
            Ok(())
        })
    }

    /// Resolves a model name: a library id, a unique id prefix, or a path to a file.
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel, HubError> {
        if let Some(m) = self.models.iter().find(|m| m.id.eq_ignore_ascii_case(name)) {
            return Ok(self.resolved(m));
        }
        let path = Path::new(name);
        if path.is_file() {
            return Ok(ResolvedModel {
                id: None,
                path: path.to_path_buf(),
                files: vec![path.to_path_buf()],
            });
        }
        self.resolve_id(name)
    }

    /// Like [`Self::resolve`], for library ids only (exact, or a unique prefix):
    /// never looks at the file system, so a name from a remote client cannot
    /// probe for files.
    pub fn resolve_id(&self, name: &str) -> Result<ResolvedModel, HubError> {
        if let Some(m) = self.models.iter().find(|m| m.id.eq_ignore_ascii_case(name)) {
            return Ok(self.resolved(m));
        }
        let lower = name.to_ascii_lowercase();
        let matches: Vec<&ModelEntry> = self
            .models
            .iter()
            .filter(|m| !lower.is_empty() && m.id.starts_with(&lower))
            .collect();
        match matches.as_slice() {
            [one] => Ok(self.resolved(one)),
            [] => Err(HubError::UnknownModel(name.to_owned())),
            many => Err(HubError::AmbiguousModel {
                query: name.to_owned(),
                candidates: many
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn resolved(&self, m: &ModelEntry) -> ResolvedModel {
        let files: Vec<PathBuf> = m.files.iter().map(|f| self.absolute(f)).collect();
        ResolvedModel {
            id: Some(m.id.clone()),
            path: files.first().cloned().unwrap_or_default(),
            files,
        }
    }

    /// Notes that a model was just used.
    pub fn touch_last_used(&mut self, id: &str) -> Result<(), HubError> {
        self.with_entry(id, |m| m.last_used = Some(now()))
    }

    /// Stores what a real run measured; later fit estimates use it. The
    /// decode speeds of the last few runs of the same kind of build
    /// (`optimized` or not) are kept; a run of the other kind starts afresh.
    pub fn record_measurement(
        &mut self,
        id: &str,
        load_secs: f64,
        decode_tok_s: f64,
        peak_rss_bytes: u64,
        optimized: bool,
    ) -> Result<(), HubError> {
        self.with_entry(id, |m| {
            let mut recent = match m.measured.take() {
                Some(old) if old.optimized == Some(optimized) => old.recent_tok_s,
                _ => Vec::new(),
            };
            recent.push(decode_tok_s);
            let extra = recent.len().saturating_sub(RECENT_RUNS);
            recent.drain(..extra);
            m.measured = Some(Measurement {
                load_secs,
                decode_tok_s,
                peak_rss_bytes,
                recent_tok_s: recent,
                optimized: Some(optimized),
            });
        })
    }

    /// Keeps how the user chose to load a model.
    pub fn set_load(&mut self, id: &str, load: LoadPrefs) -> Result<(), HubError> {
        self.with_entry(id, |m| m.load = load)
    }

    /// Deletes a model Hearth downloaded or copied (freeing the disk), or
    /// forgets a by-reference import (the user's file stays). Refuses models
    /// that belong to other apps.
    pub fn remove(&mut self, id: &str) -> Result<Removed, HubError> {
        let dir = self.dir.clone();
        self.update(|models| {
            let at = models
                .iter()
                .position(|m| m.id == id)
                .ok_or_else(|| HubError::UnknownModel(id.to_owned()))?;
            if let Source::External { app, .. } = &models[at].source {
                return Err(HubError::NotOwned {
                    id: id.to_owned(),
                    app: app.label().to_owned(),
                });
            }
            let entry = models.remove(at);
            let mut freed = 0;
            if entry.owned() {
                for file in &entry.files {
                    let path = if file.is_absolute() {
                        file.clone()
                    } else {
                        dir.join(file)
                    };
                    match fs::remove_file(&path) {
                        Ok(()) => freed += entry.size / entry.files.len().max(1) as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(HubError::io(&path, e)),
                    }
                    remove_empty_parents(&dir, &path);
                }
            }
            Ok(Removed { freed })
        })
    }

    /// Adds a local `.gguf`: copied into the models folder, or referenced where
    /// it is. The file is inspected first; a broken one is refused.
    pub fn import(&mut self, path: &Path, copy: bool) -> Result<ModelEntry, HubError> {
        let source = path.canonicalize().map_err(|e| HubError::io(path, e))?;
        let info = gguf::inspect(&source)?;
        let file_name = source
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model.gguf")
            .to_owned();
        let stored = if copy {
            let rel = PathBuf::from("imported").join(&file_name);
            let dest = crate::names::contained_path(&self.dir, &rel)?;
            if dest.exists() {
                return Err(HubError::io(
                    &dest,
                    std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already imported"),
                ));
            }
            let tmp = dest.with_extension("gguf.importing");
            fs::copy(&source, &tmp).map_err(|e| HubError::io(&tmp, e))?;
            fs::rename(&tmp, &dest).map_err(|e| HubError::io(&dest, e))?;
            rel
        } else {
            source.clone()
        };
        let size = total_size(&[source]);
        self.update(|models| {
            if let Some(existing) = models.iter().find(|m| m.files.first() == Some(&stored)) {
                return Ok(existing.clone());
            }
            let entry = ModelEntry {
                id: unique_id(id_from_file_name(&file_name), |c| {
                    models.iter().any(|m| m.id == c)
                }),
                files: vec![stored],
                source: Source::Imported { copied: copy },
                size,
                sha256: Vec::new(),
                unverified: false,
                info,
                added_at: now(),
                last_used: None,
                measured: None,
                load: LoadPrefs::default(),
            };
            models.push(entry.clone());
            Ok(entry)
        })
    }

    /// Records a download whose files are already in place (verified unless
    /// `checked` says otherwise).
    pub(crate) fn add_downloaded(
        &mut self,
        repo: &str,
        commit: &str,
        name: &str,
        files: Vec<PathBuf>,
        checked: Checked,
        info: GgufInfo,
    ) -> Result<ModelEntry, HubError> {
        let dir = self.dir.clone();
        let size = total_size(&files.iter().map(|f| dir.join(f)).collect::<Vec<_>>());
        self.update(|models| {
            let previous = models.iter().position(|m| m.files == files);
            let id = match previous {
                Some(at) => models.remove(at).id,
                None => unique_id(id_from_file_name(name), |c| {
                    models.iter().any(|m| m.id == c)
                }),
            };
            let entry = ModelEntry {
                id,
                files,
                source: Source::Downloaded {
                    repo: repo.to_owned(),
                    commit: commit.to_owned(),
                },
                size,
                sha256: checked.sha256,
                unverified: checked.unverified,
                info,
                added_at: now(),
                last_used: None,
                measured: None,
                load: LoadPrefs::default(),
            };
            models.push(entry.clone());
            Ok(entry)
        })
    }

    fn with_entry(&mut self, id: &str, f: impl FnOnce(&mut ModelEntry)) -> Result<(), HubError> {
        self.update(|models| {
            let entry = models
                .iter_mut()
                .find(|m| m.id == id)
                .ok_or_else(|| HubError::UnknownModel(id.to_owned()))?;
            f(entry);
            Ok(())
        })
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST)
    }

    fn reload(&mut self) -> Result<(), HubError> {
        let path = self.manifest_path();
        self.models = match fs::read(&path) {
            Ok(bytes) => {
                let manifest: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| HubError::Manifest {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                manifest.models
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(HubError::io(&path, e)),
        };
        Ok(())
    }

    /// Re-reads the manifest, applies `f`, writes it back atomically.
    fn update<T>(
        &mut self,
        f: impl FnOnce(&mut Vec<ModelEntry>) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        self.reload()?;
        let before = self.models.clone();
        let out = f(&mut self.models)?;
        if self.models != before {
            let manifest = Manifest {
                version: 1,
                models: std::mem::take(&mut self.models),
            };
            let result = write_atomic(&self.manifest_path(), &manifest);
            self.models = manifest.models;
            result?;
        }
        Ok(out)
    }
}

pub(crate) fn write_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), HubError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| HubError::Manifest {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, bytes).map_err(|e| HubError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| HubError::io(path, e))
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

fn total_size(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
