//! Usage records, key-value settings and versioned presets.

use rusqlite::{OptionalExtension, Row, params};

use crate::conversations::json;
use crate::types::now;
use crate::{
    ConversationId, MessageId, NetworkRecord, Preset, PresetDraft, PresetId, Redaction, Store,
    StoreError, Timestamp, UsageRecord, UsageRow, UsageSummary,
};

impl Store {
    /// Records one request to a backend.
    pub fn record_usage(&self, rec: &UsageRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO usage (at, conversation_id, message_id, backend, model, tokens_in, \
                 tokens_out, ttft_ms, latency_ms, cost_usd, fallback_reason, error_kind, retries) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                rec.at,
                rec.conversation_id.as_ref().map(ConversationId::as_str),
                rec.message_id.as_ref().map(|m| m.as_str()),
                rec.backend,
                rec.model,
                rec.tokens_in,
                rec.tokens_out,
                rec.ttft_ms,
                rec.latency_ms,
                rec.cost_usd,
                rec.fallback_reason,
                rec.error_kind,
                rec.retries,
            ])?;
        Ok(())
    }

    /// Every usage record since `since` (all time when `None`), oldest first.
    pub fn usage_records(&self, since: Option<Timestamp>) -> Result<Vec<UsageRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, conversation_id, message_id, backend, model, tokens_in, tokens_out, \
                    ttft_ms, latency_ms, cost_usd, fallback_reason, error_kind, retries \
             FROM usage WHERE at >= ?1 ORDER BY at, rowid",
        )?;
        let rows = stmt.query_map([since.unwrap_or(i64::MIN)], |r| {
            let conversation: Option<String> = r.get(1)?;
            let message: Option<String> = r.get(2)?;
            Ok(UsageRecord {
                at: r.get(0)?,
                conversation_id: conversation.and_then(|c| ConversationId::parse(&c).ok()),
                message_id: message.and_then(|m| MessageId::parse(&m).ok()),
                backend: r.get(3)?,
                model: r.get(4)?,
                tokens_in: r.get(5)?,
                tokens_out: r.get(6)?,
                ttft_ms: r.get(7)?,
                latency_ms: r.get(8)?,
                cost_usd: r.get(9)?,
                fallback_reason: r.get(10)?,
                error_kind: r.get(11)?,
                retries: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The cost of all requests since `since`, in US dollars.
    pub fn cost_since(&self, since: Timestamp) -> Result<f64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(cost_usd), 0.0) FROM usage WHERE at >= ?1",
            [since],
            |r| r.get(0),
        )?)
    }

    /// Records an outbound connection in the network ledger.
    pub fn record_network(&self, rec: &NetworkRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO network_log (at, host, purpose, detail, bytes_sent, bytes_received, \
                 status, ok, via) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                rec.at,
                rec.host,
                rec.purpose,
                rec.detail,
                rec.bytes_sent,
                rec.bytes_received,
                rec.status,
                rec.ok,
                rec.via,
            ])?;
        Ok(())
    }

    /// Notes what was redacted from the request that produced `message`.
    pub fn record_redactions(
        &self,
        message: &MessageId,
        redactions: &[Redaction],
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM redactions WHERE message_id = ?1",
            [message.as_str()],
        )?;
        for r in redactions {
            tx.execute(
                "INSERT INTO redactions (message_id, kind, placeholder, original) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![message.as_str(), r.kind, r.placeholder, r.original],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// What was redacted from the request that produced `message`.
    pub fn redactions(&self, message: &MessageId) -> Result<Vec<Redaction>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, placeholder, original FROM redactions WHERE message_id = ?1 \
             ORDER BY rowid",
        )?;
        let rows = stmt.query_map([message.as_str()], |r| {
            Ok(Redaction {
                kind: r.get(0)?,
                placeholder: r.get(1)?,
                original: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` entries of the network ledger, newest first.
    pub fn network_log(&self, limit: usize) -> Result<Vec<NetworkRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, host, purpose, detail, bytes_sent, bytes_received, status, ok, via \
             FROM network_log ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(NetworkRecord {
                at: r.get(0)?,
                host: r.get(1)?,
                purpose: r.get(2)?,
                detail: r.get(3)?,
                bytes_sent: r.get(4)?,
                bytes_received: r.get(5)?,
                status: r.get(6)?,
                ok: r.get(7)?,
                via: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Totals since `since` (all time when `None`), overall and per model.
    pub fn usage_summary(&self, since: Option<Timestamp>) -> Result<UsageSummary, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT backend, model, count(*), sum(tokens_in), sum(tokens_out), \
                    coalesce(sum(cost_usd), 0.0) \
             FROM usage WHERE at >= ?1 GROUP BY backend, model ORDER BY backend, model",
        )?;
        let rows = stmt.query_map([since.unwrap_or(i64::MIN)], |r| {
            Ok(UsageRow {
                backend: r.get(0)?,
                model: r.get(1)?,
                requests: r.get(2)?,
                tokens_in: r.get(3)?,
                tokens_out: r.get(4)?,
                cost_usd: r.get(5)?,
            })
        })?;
        let by_model: Vec<UsageRow> = rows.collect::<Result<_, _>>()?;
        let mut summary = UsageSummary::default();
        for row in &by_model {
            summary.requests += row.requests;
            summary.tokens_in += row.tokens_in;
            summary.tokens_out += row.tokens_out;
            summary.cost_usd += row.cost_usd;
        }
        summary.by_model = by_model;
        Ok(summary)
    }

    /// A setting's value.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Removes a setting; returns whether it was set.
    pub fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?
            > 0)
    }

    /// A new preset, version 1.
    pub fn create_preset(&self, draft: &PresetDraft) -> Result<Preset, StoreError> {
        let id = PresetId::random();
        self.insert_preset(&id, 1, draft)?;
        self.preset(&id, Some(1))
    }

    /// Saves `draft` as the next version of preset `id`. Earlier versions stay,
    /// so conversations that used them still show what they were given.
    pub fn update_preset(&self, id: &PresetId, draft: &PresetDraft) -> Result<Preset, StoreError> {
        let latest = self.preset(id, None)?;
        if latest.deleted {
            return Err(StoreError::NotFound {
                what: "preset",
                id: id.to_string(),
            });
        }
        self.insert_preset(id, latest.version + 1, draft)?;
        self.preset(id, Some(latest.version + 1))
    }

    /// A preset version (the latest when `version` is `None`), deleted or not.
    pub fn preset(&self, id: &PresetId, version: Option<u32>) -> Result<Preset, StoreError> {
        self.conn
            .query_row(
                "SELECT id, version, name, system_prompt, sampling, created_at, deleted \
                 FROM presets WHERE id = ?1 AND (?2 IS NULL OR version = ?2) \
                 ORDER BY version DESC LIMIT 1",
                params![id.as_str(), version],
                preset_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "preset",
                id: id.to_string(),
            })
    }

    /// The latest version of every preset not deleted, by name.
    pub fn list_presets(&self) -> Result<Vec<Preset>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, version, name, system_prompt, sampling, created_at, deleted \
             FROM presets p WHERE deleted = 0 \
               AND version = (SELECT max(version) FROM presets q WHERE q.id = p.id) \
             ORDER BY name, id",
        )?;
        let rows = stmt.query_map([], preset_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Hides a preset from the list; its versions stay readable by id.
    pub fn delete_preset(&self, id: &PresetId) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE presets SET deleted = 1 WHERE id = ?1",
            [id.as_str()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "preset",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    fn insert_preset(
        &self,
        id: &PresetId,
        version: u32,
        draft: &PresetDraft,
    ) -> Result<(), StoreError> {
        if draft.name.trim().is_empty() {
            return Err(StoreError::Invalid("a preset needs a name".into()));
        }
        self.conn.execute(
            "INSERT INTO presets (id, version, name, system_prompt, sampling, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.as_str(),
                version,
                draft.name,
                draft.system_prompt,
                json(&draft.sampling),
                now()
            ],
        )?;
        Ok(())
    }
}

fn preset_from_row(row: &Row<'_>) -> rusqlite::Result<Preset> {
    let sampling: String = row.get(4)?;
    Ok(Preset {
        id: PresetId::from_db(row.get(0)?),
        version: row.get(1)?,
        name: row.get(2)?,
        system_prompt: row.get(3)?,
        sampling: serde_json::from_str(&sampling).unwrap_or_default(),
        created_at: row.get(5)?,
        deleted: row.get(6)?,
    })
}
