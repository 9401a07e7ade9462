//! The network and privacy screen: every outbound connection Hearth made,
//! and what redaction replaces before a message goes to a cloud model.

use hearth_store::NetworkRecord;
use serde::{Deserialize, Serialize};

use crate::redact::RedactionSettings;
use crate::{App, CoreError};

/// One outbound connection Hearth made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct NetworkRecordView {
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub at: i64,
    pub host: String,
    pub purpose: String,
    pub detail: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub bytes_sent: u64,
    #[cfg_attr(feature = "specta", specta(type = u32))]
    pub bytes_received: u64,
    pub status: Option<u16>,
    pub ok: bool,
    /// The proxy (`host:port`) the connection went through; `null`: direct.
    pub via: Option<String>,
}

impl From<&NetworkRecord> for NetworkRecordView {
    fn from(r: &NetworkRecord) -> Self {
        Self {
            at: r.at,
            host: r.host.clone(),
            purpose: r.purpose.clone(),
            detail: r.detail.clone(),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            status: r.status,
            ok: r.ok,
            via: r.via.clone(),
        }
    }
}

/// What is replaced before a message goes to a cloud model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RedactionView {
    pub enabled: bool,
    /// Words and names always replaced (whole words, ignoring case).
    pub words: Vec<String>,
}

impl From<&RedactionSettings> for RedactionView {
    fn from(r: &RedactionSettings) -> Self {
        Self {
            enabled: r.enabled,
            words: r.words.clone(),
        }
    }
}

impl From<&RedactionView> for RedactionSettings {
    fn from(r: &RedactionView) -> Self {
        Self {
            enabled: r.enabled,
            words: r
                .words
                .iter()
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }
}

impl App {
    /// The newest `limit` connections, newest first.
    pub fn network_view(&self, limit: u32) -> Result<Vec<NetworkRecordView>, CoreError> {
        Ok(self
            .network_log(limit as usize)?
            .iter()
            .map(Into::into)
            .collect())
    }

    pub fn redaction_view(&self) -> Result<RedactionView, CoreError> {
        Ok((&self.redaction()?).into())
    }

    pub fn set_redaction_view(&self, settings: &RedactionView) -> Result<RedactionView, CoreError> {
        self.set_redaction(&settings.into())?;
        self.redaction_view()
    }
}
