//! Models other apps already downloaded, found in place and never modified:
//! the Hugging Face cache, LM Studio's models folder and Ollama's blob store.
//!
//! - HF cache (hf-hub / `huggingface_hub` layout):
//!   `models--{owner}--{name}/snapshots/{rev}/{file}` -> `../../blobs/{hash}`
//! - LM Studio: `{dir}/{publisher}/{repo}/{file}.gguf`
//! - Ollama: `{dir}/manifests/{host}/{namespace}/{name}/{tag}` (JSON) whose layer
//!   with media type `application/vnd.ollama.image.model` names
//!   `{dir}/blobs/sha256-{hex}`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::names::split_part;

/// Where other apps keep their models (each optional; missing folders are fine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalSources {
    pub hf_cache: Option<PathBuf>,
    pub lmstudio: Vec<PathBuf>,
    pub ollama: Option<PathBuf>,
}

/// The app a found model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalApp {
    HuggingFaceCache,
    LmStudio,
    Ollama,
}

impl ExternalApp {
    /// The app's name, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::HuggingFaceCache => "the Hugging Face cache (huggingface-cli delete-cache)",
            Self::LmStudio => "LM Studio",
            Self::Ollama => "Ollama (ollama rm)",
        }
    }
}

/// A model found in another app's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) app: ExternalApp,
    /// `owner/name` for the HF cache and LM Studio, `name:tag` for Ollama.
    pub(crate) label: String,
    /// Suggested library id.
    pub(crate) id_hint: String,
    /// Parts, first first.
    pub(crate) files: Vec<PathBuf>,
}

pub(crate) fn scan(sources: &ExternalSources) -> Vec<Found> {
    let mut found = Vec::new();
    if let Some(dir) = &sources.hf_cache {
        found.extend(hf_cache(dir));
    }
    for dir in &sources.lmstudio {
        found.extend(lmstudio(dir));
    }
    if let Some(dir) = &sources.ollama {
        found.extend(ollama(dir));
    }
    found
}

fn dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// GGUF files directly in `dir` (following symlinks), split parts grouped.
fn gguf_groups(dir: &Path) -> Vec<Vec<PathBuf>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.to_ascii_lowercase().ends_with(".gguf")
                && !name.starts_with("mmproj")
                && p.is_file()
        })
        .collect();
    files.sort();
    let mut groups: Vec<Vec<PathBuf>> = Vec::new();
    let mut splits: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match split_part(name) {
            Some((base, _, _)) => splits.entry(base).or_default().push(file),
            None => groups.push(vec![file]),
        }
    }
    groups.extend(splits.into_values());
    groups
}

fn file_id(path: &Path) -> String {
    crate::names::id_from_file_name(path.file_name().and_then(|n| n.to_str()).unwrap_or("model"))
}

fn hf_cache(dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for repo_dir in dirs(dir) {
        let name = repo_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(rest) = name.strip_prefix("models--") else {
            continue;
        };
        let label = rest.replacen("--", "/", 1);
        for snapshot in dirs(&repo_dir.join("snapshots")) {
            let mut stack = vec![snapshot];
            while let Some(d) = stack.pop() {
                for group in gguf_groups(&d) {
                    found.push(Found {
                        app: ExternalApp::HuggingFaceCache,
                        label: label.clone(),
                        id_hint: file_id(&group[0]),
                        files: group,
                    });
                }
                stack.extend(dirs(&d));
            }
        }
    }
    found
}

fn lmstudio(dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for publisher in dirs(dir) {
        for repo in dirs(&publisher) {
            let label = format!(
                "{}/{}",
                publisher
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default(),
                repo.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
            );
            for group in gguf_groups(&repo) {
                found.push(Found {
                    app: ExternalApp::LmStudio,
                    label: label.clone(),
                    id_hint: file_id(&group[0]),
                    files: group,
                });
            }
        }
    }
    found
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OllamaManifest {
    #[serde(default)]
    layers: Vec<OllamaLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OllamaLayer {
    media_type: String,
    digest: String,
}

const OLLAMA_MODEL: &str = "application/vnd.ollama.image.model";

fn ollama(dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for host in dirs(&dir.join("manifests")) {
        for namespace in dirs(&host) {
            for model in dirs(&namespace) {
                let Ok(tags) = fs::read_dir(&model) else {
                    continue;
                };
                let mut tags: Vec<PathBuf> = tags.flatten().map(|e| e.path()).collect();
                tags.sort();
                for tag_path in tags.into_iter().filter(|p| p.is_file()) {
                    if let Some(f) = ollama_model(dir, &namespace, &model, &tag_path) {
                        found.push(f);
                    }
                }
            }
        }
    }
    found
}

fn ollama_model(dir: &Path, namespace: &Path, model: &Path, tag_path: &Path) -> Option<Found> {
    // Manifests are small; refuse anything that is not.
    let meta = fs::metadata(tag_path).ok()?;
    if meta.len() > 1024 * 1024 {
        return None;
    }
    let text = fs::read(tag_path).ok()?;
    let manifest: OllamaManifest = serde_json::from_slice(&text).ok()?;
    let layer = manifest
        .layers
        .iter()
        .find(|l| l.media_type == OLLAMA_MODEL)?;
    let hex = layer.digest.strip_prefix("sha256:")?;
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let blob = dir.join("blobs").join(format!("sha256-{hex}"));
    if !blob.is_file() {
        return None;
    }
    let name = model.file_name()?.to_str()?;
    let tag = tag_path.file_name()?.to_str()?;
    let ns = namespace.file_name()?.to_str()?;
    let label = if ns == "library" {
        format!("{name}:{tag}")
    } else {
        format!("{ns}/{name}:{tag}")
    };
    Some(Found {
        app: ExternalApp::Ollama,
        id_hint: crate::names::id_from_file_name(&format!("{name}-{tag}")),
        label,
        files: vec![blob],
    })
}
