//! Conversations: create, read, list a page, change, delete.

use rusqlite::{OptionalExtension, Row, params};

use crate::types::{is_id, now};
use crate::{
    Conversation, ConversationId, ConversationPatch, ConversationSummary, ListQuery, MessageId,
    NewConversation, PresetId, Store, StoreError,
};

/// The title of a conversation that has none yet.
pub const DEFAULT_TITLE: &str = "New chat";

pub(crate) const COLUMNS: &str = "id, title, created_at, updated_at, model, backend, \
     system_prompt, sampling, privacy, archived, active_leaf, preset_id, preset_version";

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    let sampling: String = row.get(7)?;
    let privacy: String = row.get(8)?;
    let preset_id: Option<String> = row.get(11)?;
    let preset_version: Option<u32> = row.get(12)?;
    Ok(Conversation {
        id: ConversationId::from_db(row.get(0)?),
        title: row.get(1)?,
        created_at: row.get(2)?,
        updated_at: row.get(3)?,
        model: row.get(4)?,
        backend: row.get(5)?,
        system_prompt: row.get(6)?,
        sampling: serde_json::from_str(&sampling).unwrap_or_default(),
        privacy: serde_json::from_str(&privacy).unwrap_or_default(),
        archived: row.get(9)?,
        active_leaf: row.get::<_, Option<String>>(10)?.map(MessageId::from_db),
        preset: preset_id
            .zip(preset_version)
            .map(|(id, v)| (PresetId::from_db(id), v)),
    })
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    // Plain data with string keys: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

impl Store {
    /// Starts a conversation.
    pub fn create_conversation(&self, new: &NewConversation) -> Result<Conversation, StoreError> {
        let id = ConversationId::random();
        let at = now();
        let (preset_id, preset_version) = match &new.preset {
            Some((id, v)) => (Some(id.as_str()), Some(*v)),
            None => (None, None),
        };
        self.conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at, model, backend, \
             system_prompt, sampling, privacy, preset_id, preset_version) \
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id.as_str(),
                new.title.as_deref().unwrap_or(DEFAULT_TITLE),
                at,
                new.model,
                new.backend,
                new.system_prompt,
                json(&new.sampling),
                json(&new.privacy),
                preset_id,
                preset_version,
            ],
        )?;
        self.conversation(&id)
    }

    /// One conversation.
    pub fn conversation(&self, id: &ConversationId) -> Result<Conversation, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM conversations WHERE id = ?1"),
                [id.as_str()],
                from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "conversation",
                id: id.to_string(),
            })
    }

    /// Conversations, most recently updated first, one page at a time.
    pub fn list_conversations(
        &self,
        query: &ListQuery,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let (after_at, after_id) = match &query.after {
            Some((at, id)) => (*at, id.as_str().to_owned()),
            None => (i64::MAX, String::new()),
        };
        let archived_max = i64::from(query.include_archived);
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id, c.title, c.created_at, c.updated_at, c.model, c.archived, \
                    (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) \
             FROM conversations c \
             WHERE c.archived <= ?1 \
               AND (c.updated_at < ?2 OR (c.updated_at = ?2 AND (?3 = '' OR c.id < ?3))) \
             ORDER BY c.updated_at DESC, c.id DESC \
             LIMIT ?4",
        )?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![archived_max, after_at, after_id, limit], |row| {
            Ok(ConversationSummary {
                id: ConversationId::from_db(row.get(0)?),
                title: row.get(1)?,
                created_at: row.get(2)?,
                updated_at: row.get(3)?,
                model: row.get(4)?,
                archived: row.get(5)?,
                message_count: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes the fields set in `patch`.
    pub fn update_conversation(
        &self,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> Result<Conversation, StoreError> {
        let mut conv = self.conversation(id)?;
        if let Some(title) = &patch.title {
            conv.title = title.clone();
        }
        if let Some(model) = &patch.model {
            conv.model = model.clone();
        }
        if let Some(backend) = &patch.backend {
            conv.backend = backend.clone();
        }
        if let Some(system) = &patch.system_prompt {
            conv.system_prompt = system.clone();
        }
        if let Some(sampling) = &patch.sampling {
            conv.sampling = sampling.clone();
        }
        if let Some(privacy) = &patch.privacy {
            conv.privacy = privacy.clone();
        }
        if let Some(archived) = patch.archived {
            conv.archived = archived;
        }
        if let Some(preset) = &patch.preset {
            conv.preset = preset.clone();
        }
        let (preset_id, preset_version) = match &conv.preset {
            Some((id, v)) => (Some(id.as_str()), Some(*v)),
            None => (None, None),
        };
        self.conn.execute(
            "UPDATE conversations SET title = ?2, updated_at = ?3, model = ?4, backend = ?5, \
             system_prompt = ?6, sampling = ?7, privacy = ?8, archived = ?9, preset_id = ?10, \
             preset_version = ?11 WHERE id = ?1",
            params![
                id.as_str(),
                conv.title,
                now().max(conv.updated_at),
                conv.model,
                conv.backend,
                conv.system_prompt,
                json(&conv.sampling),
                json(&conv.privacy),
                conv.archived,
                preset_id,
                preset_version,
            ],
        )?;
        self.conversation(id)
    }

    /// Deletes a conversation and all its messages (from the search index too).
    pub fn delete_conversation(&self, id: &ConversationId) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        // Children before parents, so every row passes through the FTS trigger.
        tx.execute(
            "DELETE FROM messages WHERE conversation_id = ?1",
            [id.as_str()],
        )?;
        let n = tx.execute("DELETE FROM conversations WHERE id = ?1", [id.as_str()])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "conversation",
                id: id.to_string(),
            });
        }
        tx.commit()?;
        Ok(())
    }

    /// The conversation whose id starts with `prefix` (at least 4 characters).
    pub fn resolve_conversation_prefix(&self, prefix: &str) -> Result<ConversationId, StoreError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        let not_found = || StoreError::NotFound {
            what: "conversation",
            id: prefix.clone(),
        };
        if prefix.len() < 4 || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        if is_id(&prefix) {
            return self
                .conversation(&ConversationId::from_db(prefix.clone()))
                .map(|c| c.id);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM conversations WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2",
        )?;
        let ids: Vec<String> = stmt
            .query_map([&prefix], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        match ids.as_slice() {
            [one] => Ok(ConversationId::from_db(one.clone())),
            [] => Err(not_found()),
            _ => Err(StoreError::Ambiguous { prefix }),
        }
    }

    pub(crate) fn touch_conversation(&self, id: &ConversationId) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1",
            params![id.as_str(), now()],
        )?;
        Ok(())
    }
}
