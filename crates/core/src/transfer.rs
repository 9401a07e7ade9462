//! Bringing history in from other apps (ChatGPT, Jan, Open WebUI, LM
//! Studio, Hearth) and taking all of it out, for every front end: `hearth
//! history import|export --all`, and the app's import and export (the views
//! here are what its screens get).
//!
//! Reading an export needs no database, so it happens before the store is
//! locked; the write is one transaction (see hearth-store's `import`).

use std::collections::BTreeMap;
use std::path::Path;

use hearth_store::{ArchiveReport, ImportLimits, ImportReport, PreparedImport};
use serde::{Deserialize, Serialize};

use crate::{App, CoreError};

impl App {
    /// Imports the conversations in `path`: a ChatGPT export (zip or
    /// `conversations.json`), Jan threads, an Open WebUI export, LM Studio
    /// conversation files, or a Hearth export (file, folder or zip). Nothing
    /// is written when it fails; `dry_run` only reports what it would do.
    pub fn import_history(&self, path: &Path, dry_run: bool) -> Result<ImportReport, CoreError> {
        let prepared = PreparedImport::read(path, &ImportLimits::default())?;
        let report = self.store().import(prepared, dry_run)?;
        tracing::info!(
            conversations = report.conversations,
            messages = report.messages,
            updated = report.updated,
            skipped = report.skipped.len(),
            dry_run,
            "history imported"
        );
        Ok(report)
    }

    /// Writes every conversation to `dest` (a folder, or a zip when the name
    /// ends in `.zip`): `hearth-export.json` with every branch (importable)
    /// and one Markdown file per conversation. Never overwrites anything.
    pub fn export_history(&self, dest: &Path) -> Result<ArchiveReport, CoreError> {
        Ok(self.store().export_archive(dest)?)
    }

    /// [`App::import_history`] as the app's screen shows it.
    pub fn import_history_view(
        &self,
        path: &str,
        dry_run: bool,
    ) -> Result<ImportReportView, CoreError> {
        Ok((&self.import_history(Path::new(path), dry_run)?).into())
    }

    /// [`App::export_history`] as the app's screen shows it.
    pub fn export_history_view(&self, dest: &str) -> Result<ExportReportView, CoreError> {
        let report = self.export_history(Path::new(dest))?;
        Ok(ExportReportView {
            path: report.path.display().to_string(),
            zip: report.zip,
            conversations: count(report.conversations),
            files: count(report.files),
        })
    }
}

/// What an import did, for the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ImportReportView {
    /// "ChatGPT", "Jan", … (more than one for a folder of several apps').
    pub sources: Vec<String>,
    pub conversations: u32,
    pub messages: u32,
    /// Conversations imported before that got new messages.
    pub updated: u32,
    pub skipped: Vec<SkippedView>,
    /// What Hearth cannot keep, by kind ("images": 3).
    pub left_out: BTreeMap<String, u32>,
    /// JSON files in a folder or zip that were not conversations.
    pub other_files: u32,
    pub dry_run: bool,
    /// The whole report in one sentence.
    pub summary: String,
}

/// A conversation not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SkippedView {
    pub source: String,
    pub title: String,
    pub reason: String,
}

/// What an export wrote, for the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ExportReportView {
    pub path: String,
    pub zip: bool,
    pub conversations: u32,
    pub files: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&ImportReport> for ImportReportView {
    fn from(r: &ImportReport) -> Self {
        Self {
            sources: r.formats.iter().map(|f| f.label().to_owned()).collect(),
            conversations: count(r.conversations),
            messages: count(r.messages),
            updated: count(r.updated),
            skipped: r
                .skipped
                .iter()
                .map(|s| SkippedView {
                    source: s.format.label().to_owned(),
                    title: s.title.clone(),
                    reason: s.reason.clone(),
                })
                .collect(),
            left_out: r
                .left_out
                .iter()
                .map(|(k, v)| (k.clone(), count(*v)))
                .collect(),
            other_files: count(r.other_files),
            dry_run: r.dry_run,
            summary: r.to_string(),
        }
    }
}
