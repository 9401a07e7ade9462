//! Errors as front ends show them: a tagged kind to switch on, a message to
//! show, and for a consent question where the message would go.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// An error as a front end shows it: switch on `kind`, show `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub kind: ErrorKind,
    pub message: String,
    /// With `consentNeeded`: where the message would go and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "specta", specta(optional))]
    pub consent: Option<ConsentRequestView>,
}

/// What a consent dialog asks: "Send this message to `backend`?" and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequestView {
    /// `provider:model`.
    pub backend: String,
    /// Why the router wants to go there (a fallback's reason), if not chosen.
    pub reason: Option<String>,
    /// How much document text would go too (a chat with documents attached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<String>,
}

/// What went wrong, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    NotFound,
    Invalid,
    TooLong,
    NoModel,
    Model,
    Hub,
    Store,
    Locked,
    Keychain,
    Internal,
    /// A cloud provider failed (the message says how).
    Cloud,
    /// The conversation asks before cloud: ask the user, then send again.
    ConsentNeeded,
    /// Refused by the privacy policy or a budget; nothing was sent.
    Refused,
}

impl From<&CoreError> for ErrorView {
    fn from(err: &CoreError) -> Self {
        use hearth_store::StoreError;
        let kind = match err {
            CoreError::NoModel
            | CoreError::ModelNotFound(_)
            | CoreError::NoModelFile(_)
            | CoreError::UnknownApiModel(_) => ErrorKind::NoModel,
            CoreError::Engine(_) | CoreError::LocalModel(_) => ErrorKind::Model,
            CoreError::Hub(_) => ErrorKind::Hub,
            CoreError::TooLong(_) => ErrorKind::TooLong,
            CoreError::Invalid(_) => ErrorKind::Invalid,
            CoreError::Tools(_) => ErrorKind::Invalid,
            CoreError::Store(StoreError::NotFound { .. }) => ErrorKind::NotFound,
            CoreError::Store(StoreError::InvalidImport(_) | StoreError::Invalid(_)) => {
                ErrorKind::Invalid
            }
            CoreError::Store(StoreError::CannotUnlock | StoreError::NewerSchema { .. }) => {
                ErrorKind::Locked
            }
            CoreError::Store(_) => ErrorKind::Store,
            CoreError::NeedPassphrase
            | CoreError::KeyNotInKeychain
            | CoreError::BadKeyInKeychain
            | CoreError::NoKeychain
            | CoreError::KeychainLocked { .. }
            | CoreError::Secrets(_) => ErrorKind::Keychain,
            CoreError::Config(_) | CoreError::Io { .. } | CoreError::WorkerGone => {
                ErrorKind::Internal
            }
            CoreError::Backend(_) | CoreError::UnknownProvider(_) => ErrorKind::Cloud,
            CoreError::ConsentNeeded { .. } => ErrorKind::ConsentNeeded,
            CoreError::NoEmbedModel { .. } => ErrorKind::NoModel,
            CoreError::Docs(hearth_docs::DocError::NoCollection(_)) => ErrorKind::NotFound,
            CoreError::Docs(hearth_docs::DocError::Store(_)) => ErrorKind::Store,
            CoreError::Docs(_) => ErrorKind::Invalid,
            CoreError::Refused(_) | CoreError::OverBudget(_) | CoreError::Offline(_) => {
                ErrorKind::Refused
            }
        };
        let consent = match err {
            CoreError::ConsentNeeded {
                backend,
                reason,
                documents,
            } => Some(ConsentRequestView {
                backend: backend.clone(),
                reason: reason.clone(),
                documents: documents.clone(),
            }),
            _ => None,
        };
        Self {
            kind,
            message: err.to_string(),
            consent,
        }
    }
}

impl From<CoreError> for ErrorView {
    fn from(err: CoreError) -> Self {
        Self::from(&err)
    }
}

impl ErrorView {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            consent: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_errors_say_where_and_why() {
        let e = ErrorView::from(&CoreError::ConsentNeeded {
            backend: "openai:gpt-4o-mini".into(),
            reason: Some("the local model is too slow".into()),
            documents: None,
        });
        assert_eq!(e.kind, ErrorKind::ConsentNeeded);
        let text = serde_json::to_string(&e).unwrap_or_default();
        assert!(text.contains(r#""kind":"consentNeeded""#), "{text}");
        assert!(
            text.contains(r#""consent":{"backend":"openai:gpt-4o-mini","reason":"the local model is too slow"}"#),
            "{text}"
        );
        // Other errors carry no consent field at all.
        let other =
            serde_json::to_string(&ErrorView::new(ErrorKind::Invalid, "x")).unwrap_or_default();
        assert!(!other.contains("consent"), "{other}");
    }
}
