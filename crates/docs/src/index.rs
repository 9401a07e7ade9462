//! Adding files to a collection: extract, chunk, embed, store. A file that
//! cannot be read is reported by name and the others are still indexed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use hearth_store::{NewChunk, NewDocument, Store};
use sha2::{Digest, Sha256};

use crate::{Chunk, DEFAULT_CHUNK_CHARS, DocError, Embed, chunk_text, extract_file};

/// How files are split.
#[derive(Debug, Clone, Copy)]
pub struct AddOptions {
    pub chunk_chars: usize,
}

impl Default for AddOptions {
    fn default() -> Self {
        Self {
            chunk_chars: DEFAULT_CHUNK_CHARS,
        }
    }
}

/// What happened to one file.
#[derive(Debug)]
pub enum FileOutcome {
    Indexed {
        kind: &'static str,
        chunks: usize,
    },
    /// Already in the collection with the same text.
    Unchanged,
    Failed(DocError),
    /// Stopped before or while it was embedded: nothing of it was stored, and
    /// adding it again starts it afresh.
    Cancelled,
}

/// One file's outcome.
#[derive(Debug)]
pub struct FileReport {
    pub path: String,
    /// Its place in the run (from 1), of `of` files.
    pub n: usize,
    pub of: usize,
    pub outcome: FileOutcome,
}

/// Chunks embedded at a time; a cancel is seen between two batches.
pub const EMBED_BATCH: usize = 32;

/// The files under `paths`: files as given, folders walked (hidden entries
/// skipped), sorted within each folder.
pub fn expand_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out, 0);
    }
    out
}

fn walk(path: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 0
        && path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    {
        return;
    }
    if path.is_dir() && depth < 32 {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            // An unreadable folder becomes a per-file error when it is read.
            Err(_) => vec![],
        };
        entries.sort();
        for e in entries {
            walk(&e, out, depth + 1);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

/// Adds `paths` (files or folders) to the collection `name`, creating it for
/// the embedder's model if new. `progress` hears about each file as it is done.
/// Errors of the collection itself (the database, another model) stop it.
pub fn add_files(
    store: &Store,
    embedder: &dyn Embed,
    name: &str,
    paths: &[PathBuf],
    options: AddOptions,
    progress: impl FnMut(&FileReport),
) -> Result<Vec<FileReport>, DocError> {
    let never = AtomicBool::new(false);
    add_files_cancellable(store, embedder, name, paths, options, &never, progress)
}

/// [`add_files`] that stops when `cancel` is set: after the batch of
/// [`EMBED_BATCH`] chunks being embedded, before the next file. Each file is
/// stored whole or not at all (one transaction), so the files done are kept
/// and adding the same paths again resumes: files stored with the same
/// content hash are skipped, the file that was stopped starts afresh, and no
/// chunk is stored twice. The last report of a stopped run is
/// [`FileOutcome::Cancelled`], for the file it stopped in or before; files
/// after it have no report.
pub fn add_files_cancellable(
    store: &Store,
    embedder: &dyn Embed,
    name: &str,
    paths: &[PathBuf],
    options: AddOptions,
    cancel: &AtomicBool,
    mut progress: impl FnMut(&FileReport),
) -> Result<Vec<FileReport>, DocError> {
    let collection = store.ensure_doc_collection(name, embedder.model_id(), embedder.dim())?;
    let mut reports = Vec::new();
    let files = expand_paths(paths);
    let of = files.len();
    for (i, path) in files.into_iter().enumerate() {
        let source = std::fs::canonicalize(&path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string();
        // A stop asked between two files is reported on the next one, as a
        // stop inside it would be: the user sees where the run ended.
        let outcome = match add_one(
            store,
            embedder,
            collection.id,
            &path,
            &source,
            options,
            cancel,
        ) {
            Ok(outcome) => outcome,
            Err(e @ DocError::Store(_)) => return Err(e),
            Err(e) => FileOutcome::Failed(e),
        };
        if let FileOutcome::Failed(e) = &outcome {
            tracing::debug!(error = %e, "document skipped");
        }
        let stopped = matches!(outcome, FileOutcome::Cancelled);
        let report = FileReport {
            path: path.display().to_string(),
            n: i + 1,
            of,
            outcome,
        };
        progress(&report);
        reports.push(report);
        if stopped {
            break;
        }
    }
    Ok(reports)
}

fn add_one(
    store: &Store,
    embedder: &dyn Embed,
    collection_id: i64,
    path: &Path,
    source: &str,
    options: AddOptions,
    cancel: &AtomicBool,
) -> Result<FileOutcome, DocError> {
    if cancel.load(Ordering::Relaxed) {
        return Ok(FileOutcome::Cancelled);
    }
    let doc = extract_file(path)?;
    let hash = format!("{:x}", Sha256::digest(doc.text.as_bytes()));
    if store.doc_hash(collection_id, source)?.as_deref() == Some(hash.as_str()) {
        return Ok(FileOutcome::Unchanged);
    }
    // A document with pages is chunked page by page, so each chunk has one
    // page to cite (a paragraph running over a page break is cut there).
    let chunks: Vec<(Option<u32>, Chunk)> = if doc.pages.is_empty() {
        chunk_text(&doc.text, doc.kind, options.chunk_chars)
            .into_iter()
            .map(|c| (None, c))
            .collect()
    } else {
        doc.pages
            .iter()
            .zip(1u32..)
            .flat_map(|(text, page)| {
                chunk_text(text, doc.kind, options.chunk_chars)
                    .into_iter()
                    .map(move |c| (Some(page), c))
            })
            .collect()
    };
    if chunks.is_empty() {
        return Err(DocError::Empty {
            path: path.display().to_string(),
        });
    }
    let inputs: Vec<String> = chunks.iter().map(|(_, c)| c.embed_text()).collect();
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut vectors = Vec::with_capacity(refs.len());
    for batch in refs.chunks(EMBED_BATCH) {
        if cancel.load(Ordering::Relaxed) {
            return Ok(FileOutcome::Cancelled);
        }
        vectors.extend(embedder.embed(batch).map_err(DocError::Embed)?);
    }
    if vectors.len() != chunks.len() || vectors.iter().any(|v| v.len() != embedder.dim()) {
        return Err(DocError::Embed(format!(
            "the model returned {} vectors for {} chunks",
            vectors.len(),
            chunks.len()
        )));
    }
    let n = chunks.len();
    let new = NewDocument {
        source: source.to_owned(),
        kind: doc.kind.as_str().to_owned(),
        content_hash: hash,
        bytes: doc.bytes,
        chunks: chunks
            .into_iter()
            .zip(vectors)
            .map(|((page, c), vector)| NewChunk {
                text: c.text,
                heading: c.heading,
                page,
                vector,
            })
            .collect(),
    };
    store.put_document(collection_id, &new)?;
    Ok(FileOutcome::Indexed {
        kind: doc.kind.as_str(),
        chunks: n,
    })
}
