//! Hybrid retrieval: the query's nearest chunks by cosine similarity (a scan
//! of the in-memory [`VectorIndex`]) and its best full-text (BM25) matches,
//! fused with reciprocal rank fusion, so a chunk either ranking finds well
//! comes first, without comparing their incomparable scores.

use std::collections::HashMap;

use hearth_store::Store;

use crate::{DocError, Embed, VectorCache, VectorIndex};

/// The RRF constant: 60, as in Cormack, Clarke & Büttcher (2009).
pub const RRF_K: f64 = 60.0;

/// Candidates taken from each ranking before fusing.
const CANDIDATES: usize = 50;

/// One retrieved chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// Fused score (higher is better).
    pub score: f64,
    /// Cosine similarity to the query, when the chunk was a vector candidate.
    pub cosine: Option<f32>,
    /// BM25 score, when the chunk matched the words.
    pub bm25: Option<f64>,
    /// The chunk's id in the store (what a citation points at).
    pub chunk_id: i64,
    pub source: String,
    pub heading: Option<String>,
    /// The page the chunk is on (from 1), for documents with pages (PDF).
    pub page: Option<u32>,
    /// Position of the chunk in its document (0-based).
    pub ord: u32,
    pub text: String,
}

/// Reciprocal rank fusion of rankings of ids (best first): each id scores
/// the sum of `1 / (RRF_K + rank)` over the rankings it is in (rank from 1).
/// Best first; ties keep the order in which ids were first seen.
pub fn rrf(rankings: &[Vec<i64>]) -> Vec<(i64, f64)> {
    let mut scores: Vec<(i64, f64)> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    for ranking in rankings {
        for (rank, id) in ranking.iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f64 + 1.0);
            match at.get(id) {
                Some(&i) => scores[i].1 += add,
                None => {
                    at.insert(*id, scores.len());
                    scores.push((*id, add));
                }
            }
        }
    }
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    scores
}

/// Which rankings a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    /// Vectors and words, fused by reciprocal rank (what Hearth uses).
    #[default]
    Hybrid,
    /// Cosine similarity of the vectors alone.
    Vector,
    /// FTS5 BM25 alone.
    Text,
}

/// The `limit` best chunks of the collection `name` for `query` (hybrid).
pub fn search(
    store: &Store,
    embedder: &dyn Embed,
    name: &str,
    query: &str,
    limit: usize,
) -> Result<Vec<SearchHit>, DocError> {
    search_with(store, embedder, name, query, limit, SearchMode::Hybrid)
}

/// [`search`] with a choice of rankings (the benchmark compares them). Reads
/// every vector of the collection for this one query; a program that searches
/// more than once keeps a [`VectorCache`] and calls [`search_cached`].
pub fn search_with(
    store: &Store,
    embedder: &dyn Embed,
    name: &str,
    query: &str,
    limit: usize,
    mode: SearchMode,
) -> Result<Vec<SearchHit>, DocError> {
    search_inner(store, None, embedder, name, query, limit, mode)
}

/// [`search_with`] over the vectors held in `vectors` (loaded on the first
/// search of a collection, and again only after it changed): the query costs
/// a scan of memory instead of reading the database.
pub fn search_cached(
    store: &Store,
    vectors: &VectorCache,
    embedder: &dyn Embed,
    name: &str,
    query: &str,
    limit: usize,
    mode: SearchMode,
) -> Result<Vec<SearchHit>, DocError> {
    search_inner(store, Some(vectors), embedder, name, query, limit, mode)
}

fn search_inner(
    store: &Store,
    cache: Option<&VectorCache>,
    embedder: &dyn Embed,
    name: &str,
    query: &str,
    limit: usize,
    mode: SearchMode,
) -> Result<Vec<SearchHit>, DocError> {
    let collection = store
        .doc_collection(name)?
        .ok_or_else(|| DocError::NoCollection(name.to_owned()))?;
    if collection.embed_model != embedder.model_id() {
        return Err(DocError::ModelMismatch {
            collection: name.to_owned(),
            built_with: collection.embed_model,
            loaded: embedder.model_id().to_owned(),
        });
    }
    let mut by_vector: Vec<(i64, f32)> = Vec::new();
    if mode != SearchMode::Text {
        let q = embedder
            .embed(&[query])
            .map_err(DocError::Embed)?
            .into_iter()
            .next()
            .ok_or_else(|| DocError::Embed("no vector for the query".to_owned()))?;
        by_vector = match cache {
            Some(cache) => cache.index(store, &collection)?.nearest(&q, CANDIDATES),
            None => VectorIndex::load(store, &collection)?.nearest(&q, CANDIDATES),
        };
    }
    let by_text = if mode == SearchMode::Vector {
        Vec::new()
    } else {
        store.doc_fts(collection.id, query, CANDIDATES)?
    };

    let cosines: HashMap<i64, f32> = by_vector.iter().copied().collect();
    let bm25s: HashMap<i64, f64> = by_text.iter().copied().collect();
    let fused = rrf(&[
        by_vector.iter().map(|(id, _)| *id).collect(),
        by_text.iter().map(|(id, _)| *id).collect(),
    ]);
    let top: Vec<(i64, f64)> = fused.into_iter().take(limit).collect();
    let ids: Vec<i64> = top.iter().map(|(id, _)| *id).collect();
    let chunks = store.doc_chunks(&ids)?;
    let scores: HashMap<i64, f64> = top.into_iter().collect();
    Ok(chunks
        .into_iter()
        .map(|c| SearchHit {
            score: scores.get(&c.chunk_id).copied().unwrap_or(0.0),
            cosine: cosines.get(&c.chunk_id).copied(),
            bm25: bm25s.get(&c.chunk_id).copied(),
            chunk_id: c.chunk_id,
            source: c.source,
            heading: c.heading,
            page: c.page,
            ord: c.ord,
            text: c.text,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement_between_rankings() {
        // 2 is second in both; 1 and 3 are first in one and absent from the other.
        let fused = rrf(&[vec![1, 2], vec![3, 2]]);
        assert_eq!(fused[0].0, 2);
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-12);
        assert_eq!(fused.len(), 3);
        assert!((fused[1].1 - 1.0 / 61.0).abs() < 1e-12);
        assert!(rrf(&[vec![], vec![]]).is_empty());
    }
}
