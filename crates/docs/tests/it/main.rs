//! hearth-docs integration tests: files on disk, a real encrypted database,
//! and (in `retrieval`) the real all-MiniLM-L6-v2 encoder.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod files;
mod pages;
mod resume;
mod retrieval;
mod vectors;

use hearth_docs::Embed;

/// A deterministic stand-in embedder: letter counts (no model needed).
pub(crate) struct Letters;

impl Embed for Letters {
    fn model_id(&self) -> &str {
        "letters"
    }
    fn dim(&self) -> usize {
        26
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.01f32; 26];
                for c in t.chars().filter(char::is_ascii_alphabetic) {
                    v[(c.to_ascii_lowercase() as u8 - b'a') as usize] += 1.0;
                }
                v
            })
            .collect())
    }
}

/// The engine's sentence encoder as an [`Embed`].
pub(crate) struct Minilm(pub(crate) hearth_engine::Embedder);

impl Embed for Minilm {
    fn model_id(&self) -> &str {
        self.0.name()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.0
            .embed(texts)
            .map(|e| e.vectors)
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn key() -> hearth_store::DbKey {
    hearth_store::DbKey::Raw(std::array::from_fn(|i| i as u8 * 3 + 5))
}
