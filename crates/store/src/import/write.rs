//! Writing what was read, in one transaction: new conversations, the new
//! messages of conversations imported before, and the report.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::detect::Found;
use super::hearth::Export;
use super::source::ImportLimits;
use super::{Draft, ImportFormat, ImportReport, Skipped, title_or_first_words};
use crate::conversations::{self, json};
use crate::types::now;
use crate::{
    ConversationId, Message, MessageId, MessageMetrics, PrivacyPolicy, Sampling, Store, StoreError,
    messages,
};

/// Writes everything found; with `dry_run` rolls it all back and reports
/// what would have been written.
pub(crate) fn write(
    store: &Store,
    found: Vec<Found>,
    other_files: usize,
    limits: &ImportLimits,
    dry_run: bool,
) -> Result<ImportReport, StoreError> {
    let count: usize = found
        .iter()
        .map(|f| match f {
            Found::Hearth(export) => export.conversations.len(),
            Found::Drafts(_, parsed) => parsed.drafts.len(),
        })
        .sum();
    if count > limits.max_conversations {
        return Err(StoreError::InvalidImport(format!(
            "{count} conversations are more than the {} one import takes; import in parts",
            limits.max_conversations
        )));
    }
    let mut report = ImportReport {
        other_files,
        dry_run,
        ..ImportReport::default()
    };
    let tx = store.conn.unchecked_transaction()?;
    for item in found {
        match item {
            Found::Hearth(export) => {
                add_format(&mut report, ImportFormat::Hearth);
                write_hearth(&tx, export, &mut report)?;
            }
            Found::Drafts(format, parsed) => {
                add_format(&mut report, format);
                for u in parsed.unreadable {
                    report.skipped.push(Skipped {
                        format,
                        title: u.title,
                        source_id: u.source_id,
                        reason: u.reason,
                    });
                }
                for draft in parsed.drafts {
                    write_draft(&tx, format, draft, limits, &mut report)?;
                }
            }
        }
    }
    if dry_run {
        tx.rollback()?;
    } else {
        tx.commit()?;
    }
    Ok(report)
}

fn add_format(report: &mut ImportReport, format: ImportFormat) {
    if !report.formats.contains(&format) {
        report.formats.push(format);
    }
}

/// A Hearth export: conversations already present (same id) are skipped.
fn write_hearth(
    tx: &Transaction<'_>,
    export: Export,
    report: &mut ImportReport,
) -> Result<(), StoreError> {
    for item in export.conversations {
        let conv = &item.conversation;
        if conversation_exists(tx, &conv.id)? {
            report.skipped.push(Skipped {
                format: ImportFormat::Hearth,
                title: conv.title.clone(),
                source_id: conv.id.to_string(),
                reason: "already in the history".into(),
            });
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
                conv.active_leaf.as_ref().map(MessageId::as_str),
                preset_id,
                preset_version,
            ],
        )?;
        for m in &item.messages {
            messages::insert(tx, m).map_err(|e| match e {
                StoreError::Sqlite(err) => {
                    StoreError::InvalidImport(format!("message {} cannot be stored: {err}", m.id))
                }
                other => other,
            })?;
        }
        for (message, citations) in &item.citations {
            crate::citations::insert(tx, message, citations).map_err(|e| match e {
                StoreError::Sqlite(err) => StoreError::InvalidImport(format!(
                    "the sources of message {message} cannot be stored: {err}"
                )),
                other => other,
            })?;
        }
        report.conversations += 1;
        report.messages += item.messages.len();
    }
    Ok(())
}

fn conversation_exists(tx: &Transaction<'_>, id: &ConversationId) -> Result<bool, StoreError> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ?1)",
        [id.as_str()],
        |r| r.get(0),
    )?)
}

/// A Hearth id for something another app named `parts`: the same input
/// always gives the same id, which is what makes importing idempotent.
fn derived_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"hearth-import");
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the source said about a conversation, to tell whether it changed
/// since the last import.
fn content_hash(draft: &Draft) -> String {
    let mut hasher = Sha256::new();
    let mut field = |text: &str| {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    };
    field(&draft.title);
    field(draft.system_prompt.as_deref().unwrap_or(""));
    field(draft.active_leaf.as_deref().unwrap_or(""));
    for m in &draft.messages {
        field(&m.source_id);
        field(m.parent.as_deref().unwrap_or(""));
        field(m.role.as_str());
        field(m.status.as_str());
        field(&m.content);
    }
    format!("{:x}", hasher.finalize())
}

struct Previous {
    hash: String,
    leaf: Option<String>,
}

fn write_draft(
    tx: &Transaction<'_>,
    format: ImportFormat,
    draft: Draft,
    limits: &ImportLimits,
    report: &mut ImportReport,
) -> Result<(), StoreError> {
    let title = title_or_first_words(&draft.title, &draft.messages);
    let skip = |report: &mut ImportReport, reason: String| {
        report.skipped.push(Skipped {
            format,
            title: title.clone(),
            source_id: draft.source_id.clone(),
            reason,
        });
    };
    if draft.messages.is_empty() {
        skip(report, "no messages with text".into());
        return Ok(());
    }
    if draft.messages.len() > limits.max_messages {
        skip(
            report,
            format!("more than {} messages", limits.max_messages),
        );
        return Ok(());
    }
    let source = format.as_str();
    let conv_id = ConversationId::from_db(derived_id(&[source, &draft.source_id]));
    let message_id =
        |source_id: &str| MessageId::from_db(derived_id(&[source, &draft.source_id, source_id]));
    // Every parent must come before its child (the readers make it so; a
    // damaged input that slips through is skipped, not half-written).
    let mut seen = HashSet::new();
    for m in &draft.messages {
        if let Some(parent) = &m.parent
            && !seen.contains(parent.as_str())
        {
            skip(report, "damaged: a message's parent is missing".into());
            return Ok(());
        }
        if !seen.insert(m.source_id.as_str()) {
            skip(report, "damaged: two messages share an id".into());
            return Ok(());
        }
    }
    let leaf_source = draft
        .active_leaf
        .as_deref()
        .filter(|leaf| seen.contains(leaf))
        .or_else(|| draft.messages.last().map(|m| m.source_id.as_str()))
        .map(str::to_owned);
    let leaf = leaf_source.as_deref().map(message_id);
    let hash = content_hash(&draft);
    let previous: Option<Previous> = tx
        .query_row(
            "SELECT content_hash, leaf_id FROM imports WHERE conversation_id = ?1",
            [conv_id.as_str()],
            |r| {
                Ok(Previous {
                    hash: r.get(0)?,
                    leaf: r.get(1)?,
                })
            },
        )
        .optional()?;
    let exists = conversation_exists(tx, &conv_id)?;
    if exists && previous.as_ref().is_some_and(|p| p.hash == hash) {
        skip(report, "already imported, unchanged".into());
        return Ok(());
    }
    let at = now();
    if !exists {
        tx.execute(
            &format!(
                "INSERT INTO conversations ({}) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5, ?6, ?7, ?8, ?9, NULL, NULL)",
                conversations::COLUMNS
            ),
            params![
                conv_id.as_str(),
                title,
                draft.created_at,
                draft.updated_at.max(draft.created_at),
                draft.system_prompt,
                json(&Sampling::default()),
                // Imported chats stay on this machine until the user says otherwise.
                json(&PrivacyPolicy::LocalOnly),
                draft.archived,
                leaf.as_ref().map(MessageId::as_str),
            ],
        )?;
    }
    // Messages already there (imported before) are left as they are; new
    // ones are added where they belong in the tree.
    let existing: HashMap<String, String> = if exists {
        let mut stmt = tx.prepare("SELECT id, content FROM messages WHERE conversation_id = ?1")?;
        let rows = stmt.query_map([conv_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    } else {
        HashMap::new()
    };
    let mut added = 0;
    let mut changed = 0;
    for m in &draft.messages {
        let id = message_id(&m.source_id);
        if let Some(content) = existing.get(id.as_str()) {
            if *content != m.content {
                changed += 1;
            }
            continue;
        }
        let created = if m.created_at > 0 {
            m.created_at
        } else {
            draft.created_at
        };
        messages::insert(
            tx,
            &Message {
                id,
                conversation_id: conv_id.clone(),
                parent_id: m.parent.as_deref().map(message_id),
                role: m.role,
                content: m.content.clone(),
                status: m.status,
                backend: None,
                model: m.model.clone(),
                metrics: MessageMetrics::default(),
                fallback_reason: None,
                error: None,
                created_at: created,
                updated_at: created,
                tool_calls: Vec::new(),
                tool_call_id: None,
            },
        )?;
        added += 1;
    }
    if exists {
        if added == 0 {
            // The source changed only in what Hearth does not keep (or in
            // messages edited there): nothing new to add.
            let reason = if changed > 0 {
                format!(
                    "already imported; {changed} message(s) edited in {} since were kept as first imported",
                    format.label()
                )
            } else {
                "already imported".into()
            };
            skip(report, reason);
            record(
                tx,
                &conv_id,
                format,
                &draft.source_id,
                &hash,
                leaf.as_ref(),
                at,
            )?;
            return Ok(());
        }
        // Follow the source's active branch unless the user has moved on in
        // Hearth since the last import.
        let active: Option<String> = tx.query_row(
            "SELECT active_leaf FROM conversations WHERE id = ?1",
            [conv_id.as_str()],
            |r| r.get(0),
        )?;
        let untouched = previous.as_ref().is_some_and(|p| p.leaf == active);
        if untouched && let Some(leaf) = &leaf {
            tx.execute(
                "UPDATE conversations SET active_leaf = ?2 WHERE id = ?1",
                params![conv_id.as_str(), leaf.as_str()],
            )?;
        }
        tx.execute(
            "UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1",
            params![conv_id.as_str(), draft.updated_at],
        )?;
        report.updated += 1;
    } else {
        report.conversations += 1;
    }
    report.messages += added;
    for (what, n) in &draft.left_out {
        report.leave_out(what, *n);
    }
    record(
        tx,
        &conv_id,
        format,
        &draft.source_id,
        &hash,
        leaf.as_ref(),
        at,
    )?;
    Ok(())
}

/// Remembers what this import read, for the next one.
fn record(
    tx: &Transaction<'_>,
    conv: &ConversationId,
    format: ImportFormat,
    source_id: &str,
    hash: &str,
    leaf: Option<&MessageId>,
    at: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO imports (conversation_id, source, source_id, content_hash, leaf_id, imported_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (conversation_id) DO UPDATE SET content_hash = excluded.content_hash, \
         leaf_id = excluded.leaf_id, imported_at = excluded.imported_at",
        params![
            conv.as_str(),
            format.as_str(),
            source_id,
            hash,
            leaf.map(MessageId::as_str),
            at
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_hearth_ids_and_keep_parts_apart() {
        let a = derived_id(&["chatgpt", "ab", "c"]);
        assert!(crate::types::is_id(&a), "{a}");
        assert_eq!(a, derived_id(&["chatgpt", "ab", "c"]));
        assert_ne!(a, derived_id(&["chatgpt", "a", "bc"]));
        assert_ne!(a, derived_id(&["jan", "ab", "c"]));
    }
}
