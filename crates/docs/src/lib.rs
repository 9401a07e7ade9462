//! hearth-docs: documents for retrieval — text extraction, chunking, document
//! collections stored through hearth-store (the same encrypted database), and
//! hybrid search.
//!
//! - [`extract_file`] reads plain text, Markdown, HTML, CSV, source code, PDF
//!   (its text layer; a scan is reported as such) and DOCX into text.
//! - [`chunk_text`] splits it into [`Chunk`]s that respect headings and paragraphs.
//! - [`add_files`] extracts, chunks, embeds (through any [`Embed`], in Hearth the
//!   engine's sentence encoder) and stores files, reporting each file's
//!   [`FileOutcome`]; one bad file never stops the rest. [`add_files_cancellable`]
//!   stops cleanly when asked, and the same call again resumes.
//! - [`search`] ranks a collection's chunks for a query: cosine similarity over
//!   the vectors and FTS5 BM25, fused by reciprocal rank ([`rrf`]).
//! - [`VectorCache`] keeps each collection's vectors in memory as a
//!   [`VectorIndex`] (loaded once, loaded again when the collection changes),
//!   so a program that searches often calls [`search_cached`] and a query
//!   scans memory instead of the database.
//!
//! ```
//! use hearth_docs::{Embed, add_files, search, AddOptions};
//!
//! /// A toy embedder: counts of a few letters.
//! struct Letters;
//! impl Embed for Letters {
//!     fn model_id(&self) -> &str { "letters" }
//!     fn dim(&self) -> usize { 3 }
//!     fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
//!         Ok(texts.iter().map(|t| "aeo".chars()
//!             .map(|c| t.matches(c).count() as f32 + 0.1).collect()).collect())
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("otters.md");
//! std::fs::write(&file, "# Otters\n\nOtters sleep holding hands.\n")?;
//! let store = hearth_store::Store::open_in_memory()?;
//! add_files(&store, &Letters, "notes", &[file], AddOptions::default(), |_| {})?;
//! let hits = search(&store, &Letters, "notes", "how do otters sleep", 5)?;
//! assert_eq!(hits[0].heading.as_deref(), Some("Otters"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chunk;
mod error;
mod extract;
mod index;
mod search;
mod vectors;

pub use chunk::{Chunk, DEFAULT_CHUNK_CHARS, chunk_text};
pub use error::DocError;
pub use extract::{DocKind, Extracted, MAX_FILE_BYTES, extract_bytes, extract_file, pdf_pages};
pub use index::{
    AddOptions, EMBED_BATCH, FileOutcome, FileReport, add_files, add_files_cancellable,
    expand_paths,
};
pub use search::{RRF_K, SearchHit, SearchMode, rrf, search, search_cached, search_with};
pub use vectors::{VectorCache, VectorIndex};

/// Turns texts into vectors (in Hearth: `hearth_engine::Embedder`, adapted by
/// the front end). Vectors of one model are comparable only with each other,
/// so a collection remembers [`Embed::model_id`].
pub trait Embed {
    /// Names the model (a collection built with one is searched with the same).
    fn model_id(&self) -> &str;
    /// Length of every vector.
    fn dim(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}
