//! Export to JSON (everything, every branch; the import format, read back by
//! `import/hearth.rs`) and Markdown (the active branch, for reading).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::conversations;
use crate::import::hearth::{Export, ExportedConversation, FORMAT, VERSION};
use crate::{Conversation, ConversationId, Message, Store, StoreError, messages};

impl Store {
    /// One conversation (or all), with every branch, as versioned JSON.
    pub fn export_json(&self, which: Option<&ConversationId>) -> Result<String, StoreError> {
        let conversations = self
            .export_set(which)?
            .into_iter()
            .map(|conversation| {
                let messages = self.all_messages(&conversation.id)?;
                let mut citations = BTreeMap::new();
                for m in &messages {
                    let cited = self.citations(&m.id)?;
                    if !cited.is_empty() {
                        citations.insert(m.id.to_string(), cited);
                    }
                }
                Ok(ExportedConversation {
                    conversation,
                    messages,
                    citations,
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
                    hearth_backend::Role::Tool => "Tool",
                };
                if m.role == hearth_backend::Role::Tool {
                    // A result is the tool's text, shown as it came.
                    let fence = fence_for(&m.content);
                    let _ = writeln!(
                        out,
                        "## {who}\n\n{fence}\n{}\n{fence}\n",
                        m.content.trim_end()
                    );
                } else if !m.content.trim().is_empty() || m.tool_calls.is_empty() {
                    let _ = writeln!(out, "## {who}\n\n{}\n", m.content.trim_end());
                } else {
                    let _ = writeln!(out, "## {who}\n");
                }
                for call in &m.tool_calls {
                    let _ = writeln!(out, "- Called `{}` with `{}`", call.name, call.arguments);
                }
                if !m.tool_calls.is_empty() {
                    out.push('\n');
                }
                if m.status != crate::MessageStatus::Complete {
                    let _ = writeln!(out, "*({})*\n", m.status);
                }
                let cited = self.citations(&m.id)?;
                if !cited.is_empty() {
                    let _ = writeln!(out, "**Sources:**\n");
                    for c in &cited {
                        let _ = writeln!(out, "- {}", c.line());
                    }
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn export_set(
        &self,
        which: Option<&ConversationId>,
    ) -> Result<Vec<Conversation>, StoreError> {
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

/// A code fence longer than any run of backticks in `text`.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}
