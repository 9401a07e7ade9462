//! What can go wrong with documents.

/// Errors of hearth-docs. A per-file extraction failure is a [`DocError`] too,
/// reported for that file while the others are indexed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: looks like a binary file, not {expected} (skipped)")]
    Binary {
        path: String,
        expected: &'static str,
    },
    #[error(
        "{path}: this PDF has no text layer (a scan or images only); run OCR on it first (skipped)"
    )]
    PdfNoText { path: String },
    #[error("{path}: cannot read it as {kind}: {reason} (skipped)")]
    Unreadable {
        path: String,
        kind: &'static str,
        reason: String,
    },
    #[error("{path}: no text in it (skipped)")]
    Empty { path: String },
    #[error("no collection named \"{0}\" (see `hearth docs list`)")]
    NoCollection(String),
    #[error("embedding failed: {0}")]
    Embed(String),
    #[error(
        "collection \"{collection}\" was built with the embedding model {built_with}, but the \
         model loaded is {loaded}; search it with the same model"
    )]
    ModelMismatch {
        collection: String,
        built_with: String,
        loaded: String,
    },
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
}
