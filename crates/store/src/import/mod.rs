//! Bringing conversations in from other apps' exports, and from Hearth's own.
//!
//! `hearth history import PATH` takes a file, a folder or a zip:
//!
//! | from | what | branches |
//! | --- | --- | --- |
//! | ChatGPT | the data export zip, or its `conversations.json` | the `mapping` tree; `current_node` is the active branch |
//! | Jan | a thread folder (`thread.json` + `messages.jsonl`), the `threads` folder, or a zip of it | none (Jan keeps one line) |
//! | Open WebUI | "Export chats" JSON (`chat-export-*.json`) | `history.messages` with `parentId`; `currentId` |
//! | LM Studio | `*.conversation.json` files, or the `conversations` folder | each message's `versions`; `currentlySelected` |
//! | Hearth | `hearth history export --format json` or an `--all` archive | every branch, ids and metrics kept |
//!
//! Each file is recognised by its content ([`detect`]), read by its own
//! module into plain [`Draft`]s, and written by [`write`] in one transaction:
//! an import that fails part-way writes nothing.
//!
//! Importing is idempotent. Imported conversations and messages get ids
//! derived from their ids in the source app, so importing the same export
//! again finds them: an unchanged conversation is skipped, one that grew in
//! the other app gets only its new messages (the `imports` table remembers
//! what each import read). Hearth's own exports keep their ids and skip
//! conversations already present.
//!
//! Hearth keeps text. What it cannot keep (images, tool calls and their
//! output, hidden reasoning) is counted in the report's `left_out`, and
//! conversations it cannot read are listed in `skipped` with the reason;
//! nothing is dropped silently. Inputs are capped ([`ImportLimits`]): a huge
//! file, a zip bomb or a folder of millions of files is refused up front.

mod chatgpt;
mod detect;
pub(crate) mod hearth;
mod jan;
mod lmstudio;
mod openwebui;
mod source;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use hearth_backend::Role;
use serde::{Deserialize, Serialize};

use crate::{MessageStatus, Store, StoreError, Timestamp};

pub use source::ImportLimits;

/// The apps Hearth imports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    ChatGpt,
    Jan,
    OpenWebUi,
    LmStudio,
    Hearth,
}

impl ImportFormat {
    /// The stable name stored with imported conversations.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatGpt => "chatgpt",
            Self::Jan => "jan",
            Self::OpenWebUi => "open-webui",
            Self::LmStudio => "lm-studio",
            Self::Hearth => "hearth",
        }
    }

    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            Self::ChatGpt => "ChatGPT",
            Self::Jan => "Jan",
            Self::OpenWebUi => "Open WebUI",
            Self::LmStudio => "LM Studio",
            Self::Hearth => "Hearth",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A conversation Hearth did not import, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub format: ImportFormat,
    pub title: String,
    /// Its id in the source app (or the file it came from).
    pub source_id: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Where the conversations came from (more than one when a folder held
    /// several apps' exports).
    pub formats: Vec<ImportFormat>,
    /// New conversations.
    pub conversations: usize,
    /// Messages written, new conversations' and added ones together.
    pub messages: usize,
    /// Conversations imported before that had grown in the other app: their
    /// new messages were added.
    pub updated: usize,
    /// Conversations not imported, with the reason (already there, empty,
    /// damaged).
    pub skipped: Vec<Skipped>,
    /// What Hearth cannot keep, counted by kind ("images", "tool output").
    pub left_out: BTreeMap<String, usize>,
    /// Files in a folder or zip that were not conversation exports.
    pub other_files: usize,
    /// Whether nothing was written (a dry run).
    pub dry_run: bool,
}

impl ImportReport {
    fn leave_out(&mut self, what: &str, n: usize) {
        if n > 0 {
            *self.left_out.entry(what.to_owned()).or_default() += n;
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = if self.formats.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = self.formats.iter().map(|f| f.label()).collect();
            format!(" from {}", names.join(", "))
        };
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        write!(
            f,
            "{verb} {} conversation(s) with {} message(s){from}",
            self.conversations, self.messages
        )?;
        if self.updated > 0 {
            write!(f, "; {} conversation(s) got new messages", self.updated)?;
        }
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.skipped {
            *reasons.entry(s.reason.as_str()).or_default() += 1;
        }
        for (reason, n) in reasons {
            write!(f, "; skipped {n}: {reason}")?;
        }
        if !self.left_out.is_empty() {
            let parts: Vec<String> = self
                .left_out
                .iter()
                .map(|(what, n)| format!("{n} {what}"))
                .collect();
            write!(f, "; left out (Hearth keeps text): {}", parts.join(", "))?;
        }
        if self.other_files > 0 {
            write!(
                f,
                "; {} other file(s) were not conversations",
                self.other_files
            )?;
        }
        Ok(())
    }
}

/// One conversation read from another app, before it is written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    /// Its id in the source app (stable across exports).
    pub(crate) source_id: String,
    pub(crate) title: String,
    pub(crate) created_at: Timestamp,
    pub(crate) updated_at: Timestamp,
    pub(crate) system_prompt: Option<String>,
    pub(crate) archived: bool,
    /// Parents before children.
    pub(crate) messages: Vec<DraftMessage>,
    /// The source id of the last message of the branch shown in the app.
    pub(crate) active_leaf: Option<String>,
    /// What was left out of this conversation, by kind.
    pub(crate) left_out: BTreeMap<&'static str, usize>,
}

impl Draft {
    pub(crate) fn leave_out(&mut self, what: &'static str) {
        *self.left_out.entry(what).or_default() += 1;
    }
}

/// One message read from another app.
#[derive(Debug, Clone)]
pub(crate) struct DraftMessage {
    pub(crate) source_id: String,
    pub(crate) parent: Option<String>,
    pub(crate) role: Role,
    pub(crate) content: String,
    pub(crate) status: MessageStatus,
    pub(crate) created_at: Timestamp,
    /// The model that wrote it, as the source app named it.
    pub(crate) model: Option<String>,
}

/// A conversation a reader could not turn into a draft.
#[derive(Debug, Clone)]
pub(crate) struct Unreadable {
    pub(crate) source_id: String,
    pub(crate) title: String,
    pub(crate) reason: String,
}

/// What one reader made of one input.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) drafts: Vec<Draft>,
    pub(crate) unreadable: Vec<Unreadable>,
}

/// Conversations read from an export, not yet written. Reading needs no
/// database, so a caller can read without holding the store.
pub struct PreparedImport {
    found: Vec<detect::Found>,
    other_files: usize,
    limits: ImportLimits,
}

impl std::fmt::Debug for PreparedImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedImport")
            .field("conversations", &self.conversations())
            .field("other_files", &self.other_files)
            .finish_non_exhaustive()
    }
}

impl PreparedImport {
    /// Reads `path` (a file, a folder or a zip; see the module guide for what
    /// is recognised) within `limits`. A file that is not an export, is
    /// damaged or is too big is an error that says which and why.
    pub fn read(path: &Path, limits: &ImportLimits) -> Result<Self, StoreError> {
        let input = source::read(path, limits)?;
        let (found, other_files) = detect::sort(&input, limits)?;
        Ok(Self {
            found,
            other_files,
            limits: limits.clone(),
        })
    }

    /// How many conversations were read.
    pub fn conversations(&self) -> usize {
        self.found
            .iter()
            .map(|f| match f {
                detect::Found::Hearth(export) => export.conversations.len(),
                detect::Found::Drafts(_, parsed) => parsed.drafts.len() + parsed.unreadable.len(),
            })
            .sum()
    }
}

impl Store {
    /// Writes what [`PreparedImport::read`] read, in one transaction: all or
    /// nothing. With `dry_run`, reports what it would do and writes nothing.
    pub fn import(
        &self,
        prepared: PreparedImport,
        dry_run: bool,
    ) -> Result<ImportReport, StoreError> {
        write::write(
            self,
            prepared.found,
            prepared.other_files,
            &prepared.limits,
            dry_run,
        )
    }

    /// [`PreparedImport::read`] then [`Store::import`].
    pub fn import_path(
        &self,
        path: &Path,
        limits: &ImportLimits,
        dry_run: bool,
    ) -> Result<ImportReport, StoreError> {
        self.import(PreparedImport::read(path, limits)?, dry_run)
    }

    /// Imports one Hearth JSON export given as text (`hearth history export
    /// --format json`). All or nothing.
    pub fn import_json(&self, text: &str) -> Result<ImportReport, StoreError> {
        let export = hearth::parse(text.as_bytes())?;
        write::write(
            self,
            vec![detect::Found::Hearth(export)],
            0,
            &ImportLimits::default(),
            false,
        )
    }
}

/// A title from the first user message, for conversations without one.
pub(crate) fn title_or_first_words(title: &str, messages: &[DraftMessage]) -> String {
    let title = title.trim();
    if !title.is_empty() {
        return clip(title, 200);
    }
    messages
        .iter()
        .find(|m| m.role == Role::User && !m.content.trim().is_empty())
        .map(|m| {
            let line = m.content.trim().lines().next().unwrap_or_default();
            clip(line, 60)
        })
        .unwrap_or_else(|| "Imported chat".to_owned())
}

/// `text` cut to `max` characters (with an ellipsis when cut).
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A time from another app, which may count seconds (with a fraction) or
/// milliseconds, as Hearth's milliseconds. Anything before 2001 in
/// milliseconds is taken as seconds; nonsense (negative, not finite, past
/// the year 3000) is `None`.
pub(crate) fn millis(value: f64) -> Option<Timestamp> {
    const YEAR_3000_MS: f64 = 32_503_680_000_000.0;
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let ms = if value < 1e12 { value * 1000.0 } else { value };
    (ms < YEAR_3000_MS).then_some(ms as Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_seconds_or_milliseconds() {
        assert_eq!(millis(1_700_000_000.5), Some(1_700_000_000_500));
        assert_eq!(millis(1_700_000_000_123.0), Some(1_700_000_000_123));
        assert_eq!(millis(-1.0), None);
        assert_eq!(millis(f64::NAN), None);
        assert_eq!(millis(1e20), None);
    }

    #[test]
    fn titles_fall_back_to_the_first_question() {
        let m = DraftMessage {
            source_id: "1".into(),
            parent: None,
            role: Role::User,
            content: "  How do otters sleep?\nThey hold hands.".into(),
            status: MessageStatus::Complete,
            created_at: 0,
            model: None,
        };
        assert_eq!(
            title_or_first_words("", std::slice::from_ref(&m)),
            "How do otters sleep?"
        );
        assert_eq!(title_or_first_words(" Otters ", &[m]), "Otters");
        assert_eq!(title_or_first_words("", &[]), "Imported chat");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
