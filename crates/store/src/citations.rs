//! Chatting with documents: the collection attached to a conversation, and
//! the sources each answer was given ([`Citation`]), kept with the message.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{ConversationId, MessageId, Store, StoreError};

/// One source an answer was given, numbered `[n]` as the model saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The number the model was asked to cite (from 1).
    pub n: u32,
    pub collection: String,
    /// The file (its path when it was indexed).
    pub source: String,
    /// The heading above the passage, if the document had headings.
    pub heading: Option<String>,
    /// The page the passage is on (from 1), for documents with pages (PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The chunk given (the first of the file, for a whole document).
    pub chunk_id: Option<i64>,
    /// The beginning of the text given.
    pub snippet: String,
    /// How the documents entered the turn: `whole` or `retrieval`.
    pub mode: String,
}

impl Citation {
    /// The file's name without its folders.
    pub fn file_name(&self) -> &str {
        self.source
            .rsplit(['/', '\\'])
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.source)
    }

    /// One line for people: `[1] notes/contract.md § Termination — "…"`.
    pub fn line(&self) -> String {
        let page = self.page.map(|p| format!(" p. {p}")).unwrap_or_default();
        let heading = self
            .heading
            .as_deref()
            .map(|h| format!(" § {h}"))
            .unwrap_or_default();
        format!(
            "[{}] {}/{}{page}{heading} — \"{}\"",
            self.n,
            self.collection,
            self.file_name(),
            self.snippet
        )
    }
}

impl Store {
    /// Attaches the collection `name` to a conversation (replacing the one it
    /// had), or detaches it with `None`.
    pub fn set_conversation_docs(
        &self,
        conversation: &ConversationId,
        name: Option<&str>,
    ) -> Result<(), StoreError> {
        // Fails on a conversation that does not exist.
        self.conversation(conversation)?;
        match name {
            Some(name) => {
                self.conn.execute(
                    "INSERT INTO conversation_docs (conversation_id, collection) VALUES (?1, ?2) \
                     ON CONFLICT (conversation_id) DO UPDATE SET collection = excluded.collection",
                    params![conversation.as_str(), name],
                )?;
            }
            None => {
                self.conn.execute(
                    "DELETE FROM conversation_docs WHERE conversation_id = ?1",
                    [conversation.as_str()],
                )?;
            }
        }
        Ok(())
    }

    /// The collection attached to a conversation, if any.
    pub fn conversation_docs(
        &self,
        conversation: &ConversationId,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT collection FROM conversation_docs WHERE conversation_id = ?1",
                [conversation.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps the sources `message` was given (replacing any it had).
    pub fn record_citations(
        &self,
        message: &MessageId,
        citations: &[Citation],
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM citations WHERE message_id = ?1",
            [message.as_str()],
        )?;
        insert(&tx, message.as_str(), citations)?;
        tx.commit()?;
        Ok(())
    }

    /// The sources `message` was given, by number.
    pub fn citations(&self, message: &MessageId) -> Result<Vec<Citation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n, collection, source, heading, chunk_id, snippet, mode, page FROM citations \
             WHERE message_id = ?1 ORDER BY n",
        )?;
        let rows = stmt.query_map([message.as_str()], |r| {
            Ok(Citation {
                n: r.get(0)?,
                collection: r.get(1)?,
                source: r.get(2)?,
                heading: r.get(3)?,
                chunk_id: r.get(4)?,
                snippet: r.get(5)?,
                mode: r.get(6)?,
                page: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Writes `citations` of the message `message_id` (an import writes them too).
pub(crate) fn insert(
    conn: &rusqlite::Connection,
    message_id: &str,
    citations: &[Citation],
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO citations (message_id, n, collection, source, heading, chunk_id, snippet, \
         mode, page) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for c in citations {
        stmt.execute(params![
            message_id,
            c.n,
            c.collection,
            c.source,
            c.heading,
            c.chunk_id,
            c.snippet,
            c.mode,
            c.page
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_citation_line_names_collection_file_heading_and_snippet() {
        let c = Citation {
            n: 2,
            collection: "notes".into(),
            source: "/home/a/docs/contract.md".into(),
            heading: Some("Termination".into()),
            page: None,
            chunk_id: Some(7),
            snippet: "Either party may end".into(),
            mode: "retrieval".into(),
        };
        assert_eq!(
            c.line(),
            "[2] notes/contract.md § Termination — \"Either party may end\""
        );
        let c = Citation {
            heading: None,
            source: "plain".into(),
            ..c
        };
        assert_eq!(c.line(), "[2] notes/plain — \"Either party may end\"");
        let c = Citation {
            page: Some(3),
            source: "/p/report.pdf".into(),
            ..c
        };
        assert_eq!(
            c.line(),
            "[2] notes/report.pdf p. 3 — \"Either party may end\""
        );
    }
}
