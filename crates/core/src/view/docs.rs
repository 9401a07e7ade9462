//! The documents screen and documents in a chat: collections (files, chunks,
//! when last indexed, the embedding model), their files, indexing with
//! per-file progress that can be stopped and resumes after a restart, files
//! attached to a chat (into the chat's own collection), and a cited passage
//! with its neighbours.
//!
//! Indexing is hearth-docs' resumable [`hearth_docs::add_files_cancellable`],
//! called one file at a time so the database is held only while a file is
//! stored, never for a whole run. The paths of a run are kept (a setting in
//! the encrypted database) until it finishes: a run cut short by a quit is
//! offered again, and files already stored are skipped by content hash.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use hearth_docs::{AddOptions, FileOutcome};
use hearth_store::{ChunkHit, Citation, StoreError};
use serde::{Deserialize, Serialize};

use super::parse_conversation;
use crate::docs::LocalEmbed;
use crate::turn::documents::{DocMode, DocumentsUsed};
use crate::{App, CoreError};

/// Chunks shown on each side of a cited passage.
const PASSAGE_AROUND: u32 = 1;

/// Settings key prefix of an unfinished run's paths (`docs.pending.NAME`).
const PENDING: &str = "docs.pending.";

/// A document collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CollectionView {
    pub name: String,
    pub files: u32,
    pub chunks: u32,
    /// When a file was last indexed; `null`: no file yet.
    #[cfg_attr(feature = "specta", specta(type = Option<u32>))]
    pub last_indexed: Option<i64>,
    /// The embedding model its vectors came from.
    pub embed_model: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub created_at: i64,
    /// A run that did not finish (stopped, or cut short by a quit).
    pub unfinished: Option<UnfinishedView>,
}

/// An indexing run that did not finish; running it again resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct UnfinishedView {
    /// The files and folders it was given.
    pub paths: Vec<String>,
    /// Stopped by the user (else cut short: resume it without asking).
    pub stopped: bool,
}

/// One file of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct DocFileView {
    /// Its path when it was indexed (what `removeDocFile` takes).
    pub source: String,
    /// Its name.
    pub file: String,
    /// What it was read as ("markdown", "pdf", …).
    pub kind: String,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub bytes: u64,
    pub chunks: u32,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub indexed_at: i64,
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FileOutcomeView {
    Indexed {
        read_as: String,
        chunks: u32,
    },
    /// Stored already with the same content.
    Unchanged,
    /// Skipped, and why (a scanned PDF, a binary file, unreadable…).
    Failed {
        message: String,
    },
    /// Stopped halfway: nothing of it stored; the next run starts it afresh.
    Cancelled,
}

/// Progress of an indexing run, file by file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum IndexEventView {
    /// The files found under the paths given.
    Started { collection: String, files: u32 },
    /// File `n` of `of` is being read and embedded.
    Reading { n: u32, of: u32, path: String },
    /// File `n` of `of` is done.
    File {
        n: u32,
        of: u32,
        path: String,
        outcome: FileOutcomeView,
    },
}

/// A file that could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FileErrorView {
    pub path: String,
    pub message: String,
}

/// How an indexing run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct IndexReportView {
    pub collection: String,
    /// Files found under the paths given.
    pub files: u32,
    pub indexed: u32,
    pub unchanged: u32,
    /// Chunks stored by this run.
    pub chunks: u32,
    pub failed: Vec<FileErrorView>,
    /// Stopped before the end (what was done is kept; run it again to resume).
    pub cancelled: bool,
}

/// A chunk beside a cited passage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PassagePartView {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub chunk_id: i64,
    pub heading: Option<String>,
    pub page: Option<u32>,
    pub text: String,
}

impl From<ChunkHit> for PassagePartView {
    fn from(c: ChunkHit) -> Self {
        Self {
            chunk_id: c.chunk_id,
            heading: c.heading,
            page: c.page,
            text: c.text,
        }
    }
}

/// A cited passage with the chunks around it in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct PassageView {
    pub collection: String,
    /// The file's path.
    pub source: String,
    /// Its name.
    pub file: String,
    pub passage: PassagePartView,
    pub before: Vec<PassagePartView>,
    pub after: Vec<PassagePartView>,
}

/// The pending-run record kept in the settings.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    paths: Vec<String>,
    stopped: bool,
}

fn file_name(source: &str) -> String {
    source
        .rsplit(['/', '\\'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(source)
        .to_owned()
}

fn count(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

fn no_collection(name: &str) -> CoreError {
    hearth_docs::DocError::NoCollection(name.to_owned()).into()
}

/// The line a chat shows above an answer's sources (`using 2 passages from
/// "notes" (retrieval)`), from the citations it kept; `None` without any.
pub(super) fn documents_line(citations: &[Citation]) -> Option<String> {
    let first = citations.first()?;
    let files: BTreeSet<&str> = citations.iter().map(|c| c.source.as_str()).collect();
    let used = DocumentsUsed {
        collection: first.collection.clone(),
        mode: if first.mode == DocMode::Whole.as_str() {
            DocMode::Whole
        } else {
            DocMode::Retrieval
        },
        sources: count(citations.len()),
        files: count(files.len()),
        chars: 0,
    };
    Some(used.summary())
}

/// The name of the collection that files attached in a chat go into.
pub fn chat_collection_name(conversation_id: &str) -> String {
    let short: String = conversation_id.chars().take(8).collect();
    format!("chat-{short}")
}

impl App {
    fn pending(&self, name: &str) -> Result<Option<Pending>, CoreError> {
        let Some(text) = self.store().setting(&format!("{PENDING}{name}"))? else {
            return Ok(None);
        };
        // A record this version cannot read is dropped, not fatal.
        Ok(serde_json::from_str(&text).ok())
    }

    fn set_pending(&self, name: &str, pending: Option<&Pending>) -> Result<(), CoreError> {
        let key = format!("{PENDING}{name}");
        match pending {
            Some(p) => {
                let text = serde_json::to_string(p)
                    .map_err(|e| CoreError::Invalid(format!("cannot keep the run: {e}")))?;
                self.store().set_setting(&key, &text)?;
            }
            None => {
                self.store().delete_setting(&key)?;
            }
        }
        Ok(())
    }

    /// Every collection, by name.
    pub fn collections_view(&self) -> Result<Vec<CollectionView>, CoreError> {
        let list = self.store().doc_collections()?;
        list.into_iter()
            .map(|c| -> Result<CollectionView, CoreError> {
                let last_indexed = self.store().doc_last_indexed(c.collection.id)?;
                let unfinished = self.pending(&c.collection.name)?.map(|p| UnfinishedView {
                    paths: p.paths,
                    stopped: p.stopped,
                });
                Ok(CollectionView {
                    name: c.collection.name,
                    files: count(c.documents),
                    chunks: count(c.chunks),
                    last_indexed,
                    embed_model: c.collection.embed_model,
                    created_at: c.collection.created_at,
                    unfinished,
                })
            })
            .collect()
    }

    fn collection_view(&self, name: &str) -> Result<CollectionView, CoreError> {
        self.collections_view()?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| no_collection(name))
    }

    /// Creates an empty collection for the default embedding model (loaded
    /// here to learn its name and size). An existing one is returned as is.
    pub fn create_collection_view(&self, name: &str) -> Result<CollectionView, CoreError> {
        let name = name.trim();
        let embedder = self.embedder()?;
        self.store()
            .ensure_doc_collection(name, embedder.name(), embedder.dim())?;
        self.collection_view(name)
    }

    /// Renames a collection; chats it is attached to follow.
    pub fn rename_collection_view(
        &self,
        from: &str,
        to: &str,
    ) -> Result<CollectionView, CoreError> {
        let to = to.trim();
        if !self.store().rename_doc_collection(from, to)? {
            return Err(no_collection(from));
        }
        if let Some(p) = self.pending(from)? {
            self.set_pending(to, Some(&p))?;
            self.set_pending(from, None)?;
        }
        self.collection_view(to)
    }

    /// Deletes a collection with its chunks and vectors. Chats it was
    /// attached to say so at their next turn.
    pub fn delete_collection_view(&self, name: &str) -> Result<(), CoreError> {
        if !self.store().delete_doc_collection(name)? {
            return Err(no_collection(name));
        }
        self.set_pending(name, None)
    }

    /// The files of a collection, by path.
    pub fn collection_files_view(&self, name: &str) -> Result<Vec<DocFileView>, CoreError> {
        let store = self.store();
        let collection = store
            .doc_collection(name)?
            .ok_or_else(|| no_collection(name))?;
        Ok(store
            .doc_documents(collection.id)?
            .into_iter()
            .map(|d| DocFileView {
                file: file_name(&d.source),
                source: d.source,
                kind: d.kind,
                bytes: d.bytes,
                chunks: count(d.chunks),
                indexed_at: d.added_at,
            })
            .collect())
    }

    /// Removes one file (its chunks and vectors) from a collection.
    pub fn remove_doc_file_view(&self, name: &str, source: &str) -> Result<(), CoreError> {
        let store = self.store();
        let collection = store
            .doc_collection(name)?
            .ok_or_else(|| no_collection(name))?;
        if !store.delete_document(collection.id, source)? {
            return Err(StoreError::NotFound {
                what: "file in the collection",
                id: source.to_owned(),
            }
            .into());
        }
        Ok(())
    }

    /// Indexes `paths` (files and folders) into the collection `name`
    /// (created for the default embedding model if new), telling `on_event`
    /// about each file. Blocking: run it off the async threads. One bad file
    /// is reported and the rest indexed; `cancel` stops it after the batch
    /// being embedded, and the same call (or [`App::resume_indexing_view`])
    /// resumes.
    pub fn index_docs_view(
        &self,
        name: &str,
        paths: &[String],
        cancel: &AtomicBool,
        mut on_event: impl FnMut(IndexEventView),
    ) -> Result<IndexReportView, CoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::Invalid("a collection needs a name".into()));
        }
        let embed = LocalEmbed(self.embedder()?);
        // Remember the run (with any unfinished one's paths) until it ends.
        let mut pending = self.pending(name)?.unwrap_or_default();
        for p in paths {
            if !pending.paths.contains(p) {
                pending.paths.push(p.clone());
            }
        }
        pending.stopped = false;
        self.set_pending(name, Some(&pending))?;

        let given: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let files = hearth_docs::expand_paths(&given);
        let of = count(files.len());
        on_event(IndexEventView::Started {
            collection: name.to_owned(),
            files: of,
        });
        let mut report = IndexReportView {
            collection: name.to_owned(),
            files: of,
            indexed: 0,
            unchanged: 0,
            chunks: 0,
            failed: Vec::new(),
            cancelled: false,
        };
        // A run given no file still creates the collection.
        if files.is_empty() {
            self.store()
                .ensure_doc_collection(name, embed.0.name(), embed.0.dim())?;
        }
        for (file, n) in files.iter().zip(1u32..) {
            if cancel.load(Ordering::Relaxed) {
                report.cancelled = true;
                break;
            }
            let path = file.display().to_string();
            on_event(IndexEventView::Reading {
                n,
                of,
                path: path.clone(),
            });
            // The store is held for this file only.
            let added = hearth_docs::add_files_cancellable(
                &self.store(),
                &embed,
                name,
                std::slice::from_ref(file),
                AddOptions::default(),
                cancel,
                |_| {},
            );
            let reports = match added {
                Ok(reports) => reports,
                Err(e) => {
                    // The collection itself failed (the database, another
                    // model): kept as stopped, not resumed on its own.
                    pending.stopped = true;
                    self.set_pending(name, Some(&pending))?;
                    return Err(e.into());
                }
            };
            let outcome = match reports.into_iter().next().map(|r| r.outcome) {
                Some(FileOutcome::Indexed { kind, chunks }) => {
                    report.indexed += 1;
                    report.chunks = report.chunks.saturating_add(count(chunks));
                    FileOutcomeView::Indexed {
                        read_as: kind.to_owned(),
                        chunks: count(chunks),
                    }
                }
                Some(FileOutcome::Unchanged) => {
                    report.unchanged += 1;
                    FileOutcomeView::Unchanged
                }
                Some(FileOutcome::Failed(e)) => {
                    let message = e.to_string();
                    report.failed.push(FileErrorView {
                        path: path.clone(),
                        message: message.clone(),
                    });
                    FileOutcomeView::Failed { message }
                }
                // No report: it was stopped before the file began.
                Some(FileOutcome::Cancelled) | None => {
                    report.cancelled = true;
                    FileOutcomeView::Cancelled
                }
            };
            on_event(IndexEventView::File {
                n,
                of,
                path,
                outcome,
            });
            if report.cancelled {
                break;
            }
        }
        if report.cancelled {
            pending.stopped = true;
            self.set_pending(name, Some(&pending))?;
        } else {
            self.set_pending(name, None)?;
        }
        Ok(report)
    }

    /// Indexes the collection's files again: those whose content changed
    /// are replaced, the others skipped (by content hash); a file gone from
    /// the disk is reported and kept.
    pub fn refresh_collection_view(
        &self,
        name: &str,
        cancel: &AtomicBool,
        on_event: impl FnMut(IndexEventView),
    ) -> Result<IndexReportView, CoreError> {
        let sources: Vec<String> = self
            .collection_files_view(name)?
            .into_iter()
            .map(|f| f.source)
            .collect();
        self.index_docs_view(name, &sources, cancel, on_event)
    }

    /// Runs an unfinished run of the collection again (files already stored
    /// are skipped). A collection with none has nothing to do.
    pub fn resume_indexing_view(
        &self,
        name: &str,
        cancel: &AtomicBool,
        on_event: impl FnMut(IndexEventView),
    ) -> Result<IndexReportView, CoreError> {
        let paths = self.pending(name)?.map(|p| p.paths).unwrap_or_default();
        self.index_docs_view(name, &paths, cancel, on_event)
    }

    /// Indexes files attached in a chat into the chat's own collection
    /// ([`chat_collection_name`]) and attaches that collection to the chat
    /// (in place of any other). The chat's next turns use them, whole when
    /// they fit, else by retrieval.
    pub fn attach_files_view(
        &self,
        conversation_id: &str,
        paths: &[String],
        cancel: &AtomicBool,
        on_event: impl FnMut(IndexEventView),
    ) -> Result<IndexReportView, CoreError> {
        let id = parse_conversation(conversation_id)?;
        // Fails on a conversation that does not exist, before any work.
        self.store().conversation(&id)?;
        let name = chat_collection_name(id.as_str());
        let report = self.index_docs_view(&name, paths, cancel, on_event)?;
        self.attach_docs(&id, Some(name.as_str()))?;
        Ok(report)
    }

    /// A cited passage (by its chunk) with the chunks around it. A chunk no
    /// longer stored (its file re-indexed or removed since) is `notFound`.
    pub fn passage_view(&self, chunk_id: i64) -> Result<PassageView, CoreError> {
        let passage = self
            .store()
            .doc_passage(chunk_id, PASSAGE_AROUND)?
            .ok_or_else(|| StoreError::NotFound {
                what: "passage (its file was re-indexed or removed since the answer)",
                id: chunk_id.to_string(),
            })?;
        Ok(PassageView {
            collection: passage.collection,
            file: file_name(&passage.chunk.source),
            source: passage.chunk.source.clone(),
            passage: passage.chunk.into(),
            before: passage.before.into_iter().map(Into::into).collect(),
            after: passage.after.into_iter().map(Into::into).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citation(n: u32, source: &str, mode: &str) -> Citation {
        Citation {
            n,
            collection: "notes".into(),
            source: source.into(),
            heading: None,
            page: None,
            chunk_id: Some(i64::from(n)),
            snippet: "s".into(),
            mode: mode.into(),
        }
    }

    #[test]
    fn the_mode_line_comes_back_from_the_citations() {
        assert_eq!(documents_line(&[]), None);
        let line = documents_line(&[
            citation(1, "/a.md", "retrieval"),
            citation(2, "/a.md", "retrieval"),
        ]);
        assert_eq!(
            line.as_deref(),
            Some("using 2 passages from \"notes\" (retrieval)")
        );
        let line = documents_line(&[citation(1, "/a.md", "whole"), citation(2, "/b.md", "whole")]);
        assert_eq!(
            line.as_deref(),
            Some("using whole documents (2 files) from \"notes\"")
        );
    }

    #[test]
    fn a_chat_collection_is_named_after_the_chat() {
        assert_eq!(
            chat_collection_name("0123456789abcdef0123456789abcdef"),
            "chat-01234567"
        );
        assert_eq!(file_name("/a/b/c.txt"), "c.txt");
        assert_eq!(file_name("c.txt"), "c.txt");
    }
}
