//! Hearth's own JSON export (`hearth history export --format json`): every
//! conversation with every branch, ids, statuses and metrics, so that export
//! → import → export gives the same bytes.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Citation, Conversation, Message, StoreError};

/// The `format` field of a Hearth export.
pub(crate) const FORMAT: &str = "hearth-export";
/// The export version this build writes and reads.
pub(crate) const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(crate) struct Export {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) conversations: Vec<ExportedConversation>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ExportedConversation {
    #[serde(flatten)]
    pub(crate) conversation: Conversation,
    /// Every message of every branch, parents before children.
    pub(crate) messages: Vec<Message>,
    /// The document sources answers were given, by message id (absent in
    /// exports of chats without documents, and in older exports).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) citations: BTreeMap<String, Vec<Citation>>,
}

/// Reads and checks a Hearth export; a bad one is refused whole.
pub(crate) fn parse(bytes: &[u8]) -> Result<Export, StoreError> {
    #[derive(Deserialize)]
    struct Header {
        format: String,
        version: u32,
    }
    // The header first, so an unknown version says so rather than failing on
    // a field the newer version added.
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::InvalidImport(format!("not a Hearth export: {e}")))?;
    if header.format != FORMAT {
        return Err(StoreError::InvalidImport(format!(
            "the format is {:?}, not {FORMAT:?}",
            header.format
        )));
    }
    if header.version != VERSION {
        return Err(StoreError::InvalidImport(format!(
            "export version {} is not supported (this build reads {VERSION}); \
             a newer Hearth wrote it",
            header.version
        )));
    }
    let export: Export = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::InvalidImport(format!("not a Hearth export: {e}")))?;
    for item in &export.conversations {
        validate(item)?;
    }
    Ok(export)
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
