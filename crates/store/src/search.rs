//! Full-text search over every message (FTS5).

use rusqlite::params;

use crate::types::role_from_db;
use crate::{ConversationId, HIGHLIGHT, MessageId, SearchHit, Store, StoreError};

/// Turns what a person typed into a safe FTS5 query: every word must appear,
/// the last one as a prefix (search as you type). FTS5 syntax in the input
/// (quotes, `AND`, `NEAR(`, `*`, `-`, column filters) is taken literally.
pub(crate) fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    let (last, rest) = words.split_last()?;
    let mut query = rest.join(" ");
    if !query.is_empty() {
        query.push(' ');
    }
    query.push_str(last);
    query.push('*');
    Some(query)
}

impl Store {
    /// Messages matching `query`, newest first, with highlighted snippets.
    ///
    /// Newest first, not best match: the index walks matches in order and stops
    /// at `limit`, so a common word costs the same as a rare one (ranking every
    /// match of "the" across 100,000 messages took 80 ms; this takes a few).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        // Message text and the tools messages called (name and arguments),
        // each index walked newest first and the two merged.
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, conversation_id, title, role, snip FROM ( \
               SELECT * FROM ( \
                 SELECT m.seq AS seq, m.id AS id, m.conversation_id AS conversation_id, \
                        c.title AS title, m.role AS role, \
                        snippet(messages_fts, 0, ?3, ?4, '…', 16) AS snip \
                 FROM messages_fts \
                 JOIN messages m ON m.seq = messages_fts.rowid \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE messages_fts MATCH ?1 \
                 ORDER BY messages_fts.rowid DESC LIMIT ?2) \
               UNION ALL \
               SELECT * FROM ( \
                 SELECT m.seq, m.id, m.conversation_id, c.title, m.role, \
                        snippet(tool_calls_fts, 0, ?3, ?4, '…', 16) \
                 FROM tool_calls_fts \
                 JOIN messages m ON m.seq = tool_calls_fts.rowid \
                 JOIN conversations c ON c.id = m.conversation_id \
                 WHERE tool_calls_fts MATCH ?1 \
                 ORDER BY tool_calls_fts.rowid DESC LIMIT ?2)) \
             GROUP BY seq ORDER BY seq DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![fts, limit, HIGHLIGHT.0, HIGHLIGHT.1], |row| {
            let role: String = row.get(3)?;
            Ok(SearchHit {
                message_id: MessageId::from_db(row.get(0)?),
                conversation_id: ConversationId::from_db(row.get(1)?),
                conversation_title: row.get(2)?,
                role: role_from_db(&role),
                snippet: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_words_with_a_prefix_at_the_end() {
        assert_eq!(
            fts_query("hello world").as_deref(),
            Some("\"hello\" \"world\"*")
        );
        assert_eq!(
            fts_query("\"quoted\" AND NEAR(x").as_deref(),
            Some("\"quoted\" \"AND\" \"NEAR\" \"x\"*")
        );
        assert_eq!(fts_query("*-^:()").as_deref(), None);
        assert_eq!(fts_query("").as_deref(), None);
        assert_eq!(fts_query("café").as_deref(), Some("\"café\"*"));
    }
}
