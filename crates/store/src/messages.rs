//! Messages: a tree per conversation. Editing or regenerating adds a sibling;
//! the conversation's active leaf picks the branch shown.

use hearth_backend::{Role, ToolCall};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use crate::types::{now, role_from_db};
use crate::{
    ConversationId, Message, MessageFinish, MessageId, MessageMetrics, MessageStatus, NewMessage,
    Store, StoreError,
};

pub(crate) const COLUMNS: &str = "id, conversation_id, parent_id, role, content, status, \
     backend, model, tokens_in, tokens_out, prompt_tokens_reused, ttft_ms, decode_tok_s, \
     latency_ms, cost_usd, fallback_reason, error, created_at, updated_at, tool_calls, tool_call_id";

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let role: String = row.get(3)?;
    let status: String = row.get(5)?;
    Ok(Message {
        id: MessageId::from_db(row.get(0)?),
        conversation_id: ConversationId::from_db(row.get(1)?),
        parent_id: row.get::<_, Option<String>>(2)?.map(MessageId::from_db),
        role: role_from_db(&role),
        content: row.get(4)?,
        status: MessageStatus::from_db(&status),
        backend: row.get(6)?,
        model: row.get(7)?,
        metrics: MessageMetrics {
            tokens_in: row.get(8)?,
            tokens_out: row.get(9)?,
            prompt_tokens_reused: row.get(10)?,
            ttft_ms: row.get(11)?,
            decode_tok_s: row.get(12)?,
            latency_ms: row.get(13)?,
            cost_usd: row.get(14)?,
        },
        fallback_reason: row.get(15)?,
        error: row.get(16)?,
        created_at: row.get(17)?,
        updated_at: row.get(18)?,
        tool_calls: match row.get::<_, Option<String>>(19)? {
            Some(json) => serde_json::from_str(&json).map_err(|err| {
                rusqlite::Error::FromSqlConversionFailure(19, Type::Text, Box::new(err))
            })?,
            None => Vec::new(),
        },
        tool_call_id: row.get(20)?,
    })
}

/// The calls as stored: a JSON array, NULL when there are none.
fn calls_to_db(calls: &[ToolCall]) -> Result<Option<String>, StoreError> {
    if calls.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(calls)
        .map(Some)
        .map_err(|err| StoreError::Corrupt(format!("tool calls cannot be stored: {err}")))
}

/// Inserts a complete message row (also used by import).
pub(crate) fn insert(conn: &rusqlite::Connection, m: &Message) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO messages ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
         ?20, ?21)"
    ))?;
    let tool_calls = calls_to_db(&m.tool_calls)?;
    stmt.execute(params![
        m.id.as_str(),
        m.conversation_id.as_str(),
        m.parent_id.as_ref().map(MessageId::as_str),
        m.role.as_str(),
        m.content,
        m.status.as_str(),
        m.backend,
        m.model,
        m.metrics.tokens_in,
        m.metrics.tokens_out,
        m.metrics.prompt_tokens_reused,
        m.metrics.ttft_ms,
        m.metrics.decode_tok_s,
        m.metrics.latency_ms,
        m.metrics.cost_usd,
        m.fallback_reason,
        m.error,
        m.created_at,
        m.updated_at,
        tool_calls,
        m.tool_call_id,
    ])?;
    Ok(())
}

impl Store {
    /// Adds a message and makes it the conversation's active leaf.
    pub fn append_message(&self, new: &NewMessage) -> Result<Message, StoreError> {
        self.append(new, None, None)
    }

    /// Adds a tool's result, answering the call `call_id` of the assistant
    /// message `new.parent_id`, or of the assistant message above it when
    /// the parent is an earlier result of the same answer (an answer's
    /// calls are answered one under another). Its role is [`Role::Tool`]
    /// whatever `new` says; `error` is why the call failed, if it did (kept
    /// with the result in the same write). Makes it the active leaf.
    pub fn append_tool_result(
        &self,
        new: &NewMessage,
        call_id: &str,
        error: Option<&str>,
    ) -> Result<Message, StoreError> {
        let Some(parent) = &new.parent_id else {
            return Err(StoreError::Invalid(
                "a tool result answers an assistant message".into(),
            ));
        };
        let mut answer = self.message(parent)?;
        // Each step goes up the tree, which has no cycles (a parent is
        // older than its child), so this ends.
        while answer.role == Role::Tool {
            let Some(up) = &answer.parent_id else {
                break;
            };
            answer = self.message(up)?;
        }
        if answer.role != Role::Assistant || !answer.tool_calls.iter().any(|c| c.id == call_id) {
            return Err(StoreError::NotFound {
                what: "tool call",
                id: call_id.to_owned(),
            });
        }
        let new = NewMessage {
            role: Role::Tool,
            ..new.clone()
        };
        self.append(&new, Some(call_id), error)
    }

    /// Records the tools an assistant message called.
    pub fn set_tool_calls(
        &self,
        id: &MessageId,
        calls: &[ToolCall],
    ) -> Result<Message, StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE messages SET tool_calls = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id.as_str(), calls_to_db(calls)?, now()])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            });
        }
        self.message(id)
    }

    fn append(
        &self,
        new: &NewMessage,
        tool_call_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<Message, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        if let Some(parent) = &new.parent_id {
            let owner: Option<String> = tx
                .query_row(
                    "SELECT conversation_id FROM messages WHERE id = ?1",
                    [parent.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if owner.as_deref() != Some(new.conversation_id.as_str()) {
                return Err(StoreError::NotFound {
                    what: "parent message",
                    id: parent.to_string(),
                });
            }
        }
        let at = now();
        let message = Message {
            id: MessageId::random(),
            conversation_id: new.conversation_id.clone(),
            parent_id: new.parent_id.clone(),
            role: new.role,
            content: new.content.clone(),
            status: new.status,
            backend: new.backend.clone(),
            model: new.model.clone(),
            metrics: MessageMetrics::default(),
            fallback_reason: None,
            error: error.map(str::to_owned),
            created_at: at,
            updated_at: at,
            tool_calls: Vec::new(),
            tool_call_id: tool_call_id.map(str::to_owned),
        };
        insert(&tx, &message)?;
        let n = tx.execute(
            "UPDATE conversations SET active_leaf = ?2, updated_at = max(updated_at, ?3) WHERE id = ?1",
            params![new.conversation_id.as_str(), message.id.as_str(), at],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "conversation",
                id: new.conversation_id.to_string(),
            });
        }
        tx.commit()?;
        Ok(message)
    }

    /// One message.
    pub fn message(&self, id: &MessageId) -> Result<Message, StoreError> {
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
            .query_row([id.as_str()], from_row)
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            })
    }

    /// Saves the text of an answer that is still being written.
    pub fn checkpoint_message(&self, id: &MessageId, content: &str) -> Result<(), StoreError> {
        let n = self
            .conn
            .prepare_cached("UPDATE messages SET content = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![id.as_str(), content, now()])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// Sets an answer's final text, status and metrics.
    pub fn finish_message(
        &self,
        id: &MessageId,
        fin: &MessageFinish,
    ) -> Result<Message, StoreError> {
        let m = &fin.metrics;
        let n = self.conn.execute(
            "UPDATE messages SET content = ?2, status = ?3, backend = ?4, model = ?5, \
             tokens_in = ?6, tokens_out = ?7, prompt_tokens_reused = ?8, ttft_ms = ?9, \
             decode_tok_s = ?10, latency_ms = ?11, cost_usd = ?12, fallback_reason = ?13, \
             error = ?14, updated_at = ?15 WHERE id = ?1",
            params![
                id.as_str(),
                fin.content,
                fin.status.as_str(),
                fin.backend,
                fin.model,
                m.tokens_in,
                m.tokens_out,
                m.prompt_tokens_reused,
                m.ttft_ms,
                m.decode_tok_s,
                m.latency_ms,
                m.cost_usd,
                fin.fallback_reason,
                fin.error,
                now(),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "message",
                id: id.to_string(),
            });
        }
        let message = self.message(id)?;
        self.touch_conversation(&message.conversation_id)?;
        Ok(message)
    }

    /// A new version of a message as its sibling (same parent and role), made
    /// the active branch. The original stays.
    pub fn edit_message(&self, id: &MessageId, new_content: &str) -> Result<Message, StoreError> {
        let original = self.message(id)?;
        self.append_message(&NewMessage {
            conversation_id: original.conversation_id,
            parent_id: original.parent_id,
            role: original.role,
            content: new_content.to_owned(),
            status: MessageStatus::Complete,
            backend: original.backend,
            model: original.model,
        })
    }

    /// The active branch, from the first message to the active leaf.
    pub fn active_path(&self, conversation: &ConversationId) -> Result<Vec<Message>, StoreError> {
        let leaf: Option<String> = self
            .conn
            .query_row(
                "SELECT active_leaf FROM conversations WHERE id = ?1",
                [conversation.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "conversation",
                id: conversation.to_string(),
            })?;
        match leaf {
            Some(leaf) => self.path_to(&MessageId::from_db(leaf)),
            None => Ok(Vec::new()),
        }
    }

    /// The messages from the root down to `leaf`.
    fn path_to(&self, leaf: &MessageId) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "WITH RECURSIVE up (id, depth) AS ( \
                 SELECT ?1, 0 \
                 UNION ALL \
                 SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id \
                 WHERE m.parent_id IS NOT NULL \
             ) \
             SELECT {} FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC",
            COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let rows = stmt.query_map([leaf.as_str()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The versions of a message (itself and its siblings), oldest first.
    pub fn siblings(&self, id: &MessageId) -> Result<Vec<MessageId>, StoreError> {
        let message = self.message(id)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM messages WHERE conversation_id = ?1 AND parent_id IS ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(
            params![
                message.conversation_id.as_str(),
                message.parent_id.as_ref().map(MessageId::as_str)
            ],
            |r| r.get::<_, String>(0).map(MessageId::from_db),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Makes the branch through `to` active, following its most recently
    /// changed descendants down to a leaf; returns the new active path.
    pub fn switch_branch(&self, to: &MessageId) -> Result<Vec<Message>, StoreError> {
        let start = self.message(to)?;
        let mut leaf = start.id.clone();
        let mut child = self.conn.prepare_cached(
            "SELECT id FROM messages WHERE parent_id = ?1 ORDER BY updated_at DESC, seq DESC LIMIT 1",
        )?;
        while let Some(next) = child
            .query_row([leaf.as_str()], |r| r.get::<_, String>(0))
            .optional()?
        {
            leaf = MessageId::from_db(next);
        }
        self.conn.execute(
            "UPDATE conversations SET active_leaf = ?2 WHERE id = ?1",
            params![start.conversation_id.as_str(), leaf.as_str()],
        )?;
        self.path_to(&leaf)
    }

    /// Deletes a message and everything below it, from the search index too.
    /// If the active branch went with it, the parent's branch becomes active.
    pub fn delete_message(&self, id: &MessageId) -> Result<(), StoreError> {
        let message = self.message(id)?;
        let tx = self.conn.unchecked_transaction()?;
        // Collect the subtree, then delete leaves first so every row passes
        // through the FTS trigger (and no cascade is needed).
        let mut stmt = tx.prepare(
            "WITH RECURSIVE down (id, depth) AS ( \
                 SELECT ?1, 0 \
                 UNION ALL \
                 SELECT m.id, down.depth + 1 FROM messages m JOIN down ON m.parent_id = down.id \
             ) SELECT id FROM down ORDER BY depth DESC",
        )?;
        let ids: Vec<String> = stmt
            .query_map([id.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        for doomed in &ids {
            tx.execute("DELETE FROM messages WHERE id = ?1", [doomed])?;
        }
        let active: Option<String> = tx.query_row(
            "SELECT active_leaf FROM conversations WHERE id = ?1",
            [message.conversation_id.as_str()],
            |r| r.get(0),
        )?;
        let lost_active = active.is_some_and(|a| ids.contains(&a));
        if lost_active {
            tx.execute(
                "UPDATE conversations SET active_leaf = ?2 WHERE id = ?1",
                params![
                    message.conversation_id.as_str(),
                    message.parent_id.as_ref().map(MessageId::as_str)
                ],
            )?;
        }
        tx.commit()?;
        if lost_active && let Some(parent) = &message.parent_id {
            self.switch_branch(parent)?;
        }
        Ok(())
    }

    /// Marks answers left `streaming` (the process died while writing them) as
    /// `partial`. Call once at start-up; returns how many there were.
    pub fn recover_interrupted(&self) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE messages SET status = 'partial' WHERE status = 'streaming'",
            [],
        )?)
    }
}
