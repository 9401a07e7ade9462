//! Export to JSON (everything, every branch; the import format) and Markdown
//! (the active branch, for reading), and import from JSON.

use std::collections::HashSet;
use std::fmt::Write;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::conversations::{self, json};
use crate::{Conversation, ConversationId, ImportReport, Message, Store, StoreError, messages};

const FORMAT: &str = "hearth-export";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Export {
    format: String,
    version: u32,
    conversations: Vec<ExportedConversation>,
}

#[derive(Serialize, Deserialize)]
struct ExportedConversation {
    #[serde(flatten)]
    conversation: Conversation,
    /// Every message of every branch, parents before children.
    messages: Vec<Message>,
}

impl Store {
    /// One conversation (or all), with every branch, as versioned JSON.
    pub fn export_json(&self, which: Option<&ConversationId>) -> Result<String, StoreError> {
        let conversations = self
            .export_set(which)?
            .into_iter()
            .map(|conversation| {
                let messages = self.all_messages(&conversation.id)?;
                Ok(ExportedConversation {
                    conversation,
                    messages,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let export = Export {
            format: FORMAT.into(),
            version: VERSION,
            conversations,
        };
        let mut text = serde_json::to_string_pretty(&export)
            .map_err(|e| StoreError::Invalid(format!("cannot write JSON: {e}")))?;
        text.push('\n');
        Ok(text)
    }

    /// One conversation (or all) as Markdown: the active branch of each.
    pub fn export_markdown(&self, which: Option<&ConversationId>) -> Result<String, StoreError> {
        let mut out = String::new();
        for (i, conv) in self.export_set(which)?.iter().enumerate() {
            if i > 0 {
                out.push_str("\n---\n\n");
            }
            let _ = writeln!(out, "# {}\n", conv.title);
            if let Some(model) = &conv.model {
                let _ = writeln!(out, "*Model: {model}*\n");
            }
            if let Some(system) = conv.system_prompt.as_deref().filter(|s| !s.is_empty()) {
                let _ = writeln!(out, "**System:** {system}\n");
            }
            for m in self.active_path(&conv.id)? {
                let who = match m.role {
                    hearth_backend::Role::System => "System",
                    hearth_backend::Role::User => "You",
                    hearth_backend::Role::Assistant => "Assistant",
                };
                let _ = writeln!(out, "## {who}\n\n{}\n", m.content.trim_end());
                if m.status != crate::MessageStatus::Complete {
                    let _ = writeln!(out, "*({})*\n", m.status);
                }
            }
        }
        Ok(out)
    }

    /// Imports an export. All or nothing: invalid input writes nothing.
    /// Conversations already present (same id) are skipped and reported.
    pub fn import_json(&self, text: &str) -> Result<ImportReport, StoreError> {
        let export: Export = serde_json::from_str(text)
            .map_err(|e| StoreError::InvalidImport(format!("not a Hearth export: {e}")))?;
        if export.format != FORMAT {
            return Err(StoreError::InvalidImport(format!(
                "the format is {:?}, not {FORMAT:?}",
                export.format
            )));
        }
        if export.version != VERSION {
            return Err(StoreError::InvalidImport(format!(
                "export version {} is not supported (this build reads {VERSION})",
                export.version
            )));
        }
        let mut report = ImportReport::default();
        let tx = self.conn.unchecked_transaction()?;
        for item in &export.conversations {
            validate(item)?;
            let conv = &item.conversation;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ?1)",
                [conv.id.as_str()],
                |r| r.get(0),
            )?;
            if exists {
                report.skipped.push(conv.id.clone());
                continue;
            }
            let (preset_id, preset_version) = match &conv.preset {
                Some((id, v)) => (Some(id.as_str()), Some(*v)),
                None => (None, None),
            };
            tx.execute(
                &format!(
                    "INSERT INTO conversations ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    conversations::COLUMNS
                ),
                params![
                    conv.id.as_str(),
                    conv.title,
                    conv.created_at,
                    conv.updated_at,
                    conv.model,
                    conv.backend,
                    conv.system_prompt,
                    json(&conv.sampling),
                    json(&conv.privacy),
                    conv.archived,
                    conv.active_leaf.as_ref().map(|l| l.as_str()),
                    preset_id,
                    preset_version,
                ],
            )?;
            for m in &item.messages {
                messages::insert(&tx, m).map_err(|e| match e {
                    StoreError::Sqlite(err) => StoreError::InvalidImport(format!(
                        "message {} cannot be stored: {err}",
                        m.id
                    )),
                    other => other,
                })?;
            }
            report.conversations += 1;
            report.messages += item.messages.len();
        }
        tx.commit()?;
        Ok(report)
    }

    fn export_set(&self, which: Option<&ConversationId>) -> Result<Vec<Conversation>, StoreError> {
        match which {
            Some(id) => Ok(vec![self.conversation(id)?]),
            None => {
                let mut stmt = self.conn.prepare(&format!(
                    "SELECT {} FROM conversations ORDER BY created_at, id",
                    conversations::COLUMNS
                ))?;
                let rows = stmt.query_map([], conversations::from_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
        }
    }

    fn all_messages(&self, id: &ConversationId) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {} FROM messages WHERE conversation_id = ?1 ORDER BY seq",
            messages::COLUMNS
        ))?;
        let rows = stmt.query_map([id.as_str()], messages::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Checks one exported conversation before anything is written.
fn validate(item: &ExportedConversation) -> Result<(), StoreError> {
    let conv = &item.conversation;
    let bad = |why: String| {
        Err(StoreError::InvalidImport(format!(
            "conversation {}: {why}",
            conv.id
        )))
    };
    if !crate::types::is_id(conv.id.as_str()) {
        return bad("the id is not a Hearth id".into());
    }
    let mut seen = HashSet::new();
    for m in &item.messages {
        if !crate::types::is_id(m.id.as_str()) {
            return bad(format!("message id {:?} is not a Hearth id", m.id.as_str()));
        }
        if m.conversation_id != conv.id {
            return bad(format!("message {} belongs to another conversation", m.id));
        }
        if let Some(parent) = &m.parent_id
            && !seen.contains(parent)
        {
            return bad(format!("message {} comes before its parent", m.id));
        }
        if !seen.insert(m.id.clone()) {
            return bad(format!("message {} appears twice", m.id));
        }
    }
    if let Some(leaf) = &conv.active_leaf
        && !seen.contains(leaf)
    {
        return bad("its active message is missing".into());
    }
    Ok(())
}
