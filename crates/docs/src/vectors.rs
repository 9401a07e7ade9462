//! The in-memory vector index: a collection's vectors read from the store once
//! and kept as one contiguous matrix of unit rows, so a query is a scan of
//! dot products (cosine, as every row and the query are scaled to length 1)
//! with a bounded heap for the best `k`, instead of reading and decrypting
//! every vector from the database again.
//!
//! [`VectorCache`] keeps one index per collection and checks the store's
//! [`DocStamp`] before each use: a document added, replaced or removed (here,
//! through the store directly, or by another process) makes the next search
//! load the vectors again, and a deleted collection's index is dropped.
//!
//! Why f32: the scan is bound by memory bandwidth, not arithmetic. Measured on
//! 100,000 × 384 rows (one core of an Intel Xeon, family 6 model 167): f32
//! 12.4 ms, f16 converted on the fly 14–70 ms (the conversion costs more than
//! the halved reads save without F16C in the baseline x86-64 target), int8
//! 3.0 ms but approximate (it would need the f32 rows again to rescore, 192 MB
//! in all). f32 gives the exact ranking the full scan gave, in 4 bytes per
//! dimension: 154 MB for 100,000 chunks of 384 dimensions.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use hearth_store::{DocCollection, DocStamp, Store};

use crate::DocError;

/// One collection's vectors, in memory.
#[derive(Debug, Clone, Default)]
pub struct VectorIndex {
    dim: usize,
    ids: Vec<i64>,
    /// `ids.len()` rows of `dim`, each of length 1 (or all zeros).
    rows: Vec<f32>,
    stamp: Option<DocStamp>,
}

impl VectorIndex {
    /// An index of `(chunk id, vector)` pairs of length `dim`, in that order
    /// (ties in a search go to the earlier one). Vectors of another length
    /// are left out (they cannot be compared with a query); the rest are
    /// scaled to length 1.
    pub fn from_vectors(dim: usize, vectors: impl IntoIterator<Item = (i64, Vec<f32>)>) -> Self {
        let vectors = vectors.into_iter();
        let mut ids = Vec::with_capacity(vectors.size_hint().0);
        let mut rows = Vec::with_capacity(vectors.size_hint().0 * dim);
        for (id, mut v) in vectors {
            if v.len() != dim || dim == 0 {
                continue;
            }
            normalise(&mut v);
            ids.push(id);
            rows.extend_from_slice(&v);
        }
        Self {
            dim,
            ids,
            rows,
            stamp: None,
        }
    }

    /// Reads every vector of `collection` from the store.
    pub fn load(store: &Store, collection: &DocCollection) -> Result<Self, DocError> {
        // The stamp first: a change made while the vectors are read gives the
        // next check a newer stamp, so it loads again rather than keep them.
        let stamp = store.doc_stamp(collection.id)?;
        let started = std::time::Instant::now();
        let mut index = Self::from_vectors(collection.dim, store.doc_vectors(collection.id)?);
        index.stamp = Some(stamp);
        tracing::debug!(
            collection = collection.id,
            chunks = index.len(),
            mb = index.memory_bytes() / 1_000_000,
            ms = started.elapsed().as_millis(),
            "vector index loaded"
        );
        Ok(index)
    }

    /// Vectors in the index.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Memory held by the vectors and their ids.
    pub fn memory_bytes(&self) -> usize {
        self.rows.len() * size_of::<f32>() + self.ids.len() * size_of::<i64>()
    }

    /// The `k` chunks nearest to `query` by cosine similarity, best first
    /// (ties: the earlier chunk first). A query of another length finds nothing.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        if query.len() != self.dim || k == 0 || self.dim == 0 {
            return Vec::new();
        }
        let mut q = query.to_vec();
        normalise(&mut q);
        // A min-heap of the best k so far: its top is the one to beat.
        let mut best: BinaryHeap<Worst> = BinaryHeap::with_capacity(k + 1);
        for (at, row) in self.rows.chunks_exact(self.dim).enumerate() {
            let score = dot(&q, row);
            if best.len() < k {
                best.push(Worst { score, at });
            } else if let Some(mut top) = best.peek_mut() {
                let candidate = Worst { score, at };
                // `Less` is "better" in this heap's order.
                if candidate.cmp(&*top) == Ordering::Less {
                    *top = candidate;
                }
            }
        }
        // Ascending in the heap's order is best first.
        best.into_sorted_vec()
            .into_iter()
            .map(|w| (self.ids[w.at], w.score))
            .collect()
    }
}

/// A scored row, ordered worst first so that `BinaryHeap` (a max-heap) keeps
/// the worst of the best at its top: lower score is greater; of equal scores
/// the later row is greater.
#[derive(Debug, Clone, Copy)]
struct Worst {
    score: f32,
    at: usize,
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.at.cmp(&other.at))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Worst {}

/// Lanes summed apart: independent sums the compiler turns into SIMD
/// registers (SSE2 in the baseline target already saturates memory bandwidth
/// here, so there is no run-time choice of wider code).
const LANES: usize = 16;

/// The dot product of two slices of equal length.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_blocks, a_rest) = a.as_chunks::<LANES>();
    let (b_blocks, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for ((sum, x), y) in acc.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Scales `v` to length 1 (a zero or non-finite vector becomes all zeros, so
/// it matches nothing, as the cosine of the full scan gave 0).
fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// The vector indexes of the collections searched, shared by every search of
/// one database (in Hearth: the app's, so the chat turn, the API and the app's
/// own search use one copy). Each is loaded on first use and loaded again
/// when its collection changed; see the module notes above.
#[derive(Debug, Default)]
pub struct VectorCache {
    by_collection: Mutex<HashMap<i64, Arc<VectorIndex>>>,
}

impl VectorCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `collection`, current with the store.
    pub fn index(
        &self,
        store: &Store,
        collection: &DocCollection,
    ) -> Result<Arc<VectorIndex>, DocError> {
        let stamp = store.doc_stamp(collection.id)?;
        let mut map = self
            .by_collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Collections deleted since (ids can be reused, so compare the stamp
        // and the dimension too).
        if let Some(index) = map.get(&collection.id)
            && index.stamp == Some(stamp)
            && index.dim == collection.dim
        {
            return Ok(Arc::clone(index));
        }
        // Drop the stale copy before reading the new one: never two in memory.
        map.remove(&collection.id);
        // The slow path anyway: also drop the copies of collections deleted
        // since (a deleted collection's stamp shows no documents).
        let mut gone = Vec::new();
        for (id, index) in map.iter() {
            if index.stamp.is_some_and(|s| s.documents > 0) && store.doc_stamp(*id)?.documents == 0
            {
                gone.push(*id);
            }
        }
        for id in gone {
            map.remove(&id);
        }
        let index = Arc::new(VectorIndex::load(store, collection)?);
        map.insert(collection.id, Arc::clone(&index));
        Ok(index)
    }

    /// Forgets the index of a collection (after deleting it, to free the
    /// memory at once rather than at the next search).
    pub fn forget(&self, collection_id: i64) {
        self.by_collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&collection_id);
    }

    /// Forgets every index.
    pub fn clear(&self) {
        self.by_collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Collections held, and the memory their vectors take.
    pub fn usage(&self) -> (usize, usize) {
        let map = self
            .by_collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (map.len(), map.values().map(|i| i.memory_bytes()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the property test needs
    /// no extra dependency and fails the same way every time.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn float(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// The full scan hearth-docs did before the index: cosine of every vector
    /// (f64 here, as the reference), sorted, best first, ties in order.
    fn exact(vectors: &[(i64, Vec<f32>)], q: &[f32], k: usize) -> Vec<(i64, f64)> {
        let cos = |a: &[f32], b: &[f32]| {
            let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
            for (x, y) in a.iter().zip(b) {
                d += f64::from(*x) * f64::from(*y);
                na += f64::from(*x) * f64::from(*x);
                nb += f64::from(*y) * f64::from(*y);
            }
            if na == 0.0 || nb == 0.0 {
                0.0
            } else {
                d / (na.sqrt() * nb.sqrt())
            }
        };
        let mut all: Vec<(i64, f64)> = vectors.iter().map(|(id, v)| (*id, cos(q, v))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all
    }

    #[test]
    fn nearest_is_the_exact_top_k_on_random_vectors() {
        let mut rng = Rng(0x2300_0000_dead_beef);
        for case in 0..200 {
            let dim = 1 + rng.below(70);
            let n = rng.below(300);
            let k = 1 + rng.below(60);
            // Unnormalised vectors, some duplicates (ties) and zero vectors.
            let mut vectors: Vec<(i64, Vec<f32>)> = Vec::new();
            for i in 0..n {
                let v: Vec<f32> = match rng.below(10) {
                    0 if !vectors.is_empty() => vectors[rng.below(vectors.len())].1.clone(),
                    1 => vec![0.0; dim],
                    _ => (0..dim).map(|_| rng.float() * 3.0).collect(),
                };
                vectors.push((1000 + i as i64 * 7, v));
            }
            let q: Vec<f32> = (0..dim).map(|_| rng.float()).collect();
            let index = VectorIndex::from_vectors(dim, vectors.clone());
            let got = index.nearest(&q, k);
            let all = exact(&vectors, &q, n);
            let want = &all[..k.min(n)];
            assert_eq!(got.len(), want.len(), "case {case}");
            let scores: HashMap<i64, f64> = all.iter().copied().collect();
            for (i, ((id, score), (_, want_score))) in got.iter().zip(want).enumerate() {
                // The same ranking: each place has the score the exact scan
                // has there, and the id's own exact score is that score (ids
                // may differ only between ties).
                assert!(
                    (f64::from(*score) - want_score).abs() < 1e-5,
                    "case {case} place {i}: {score} vs {want_score}"
                );
                assert!(
                    (scores[id] - want_score).abs() < 1e-5,
                    "case {case} place {i}: id {id}"
                );
            }
            // Ids appear once; where the exact scores are clearly apart, the
            // ids are the exact scan's.
            let mut unique: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), got.len(), "case {case}");
            for i in 0..want.len() {
                let apart = |j: usize| all.get(j).is_none_or(|w| (w.1 - want[i].1).abs() > 1e-4);
                if (i == 0 || apart(i - 1)) && apart(i + 1) {
                    assert_eq!(got[i].0, want[i].0, "case {case} place {i}");
                }
            }
        }
    }

    #[test]
    fn ties_go_to_the_earlier_chunk_and_odd_inputs_find_nothing() {
        let index = VectorIndex::from_vectors(
            2,
            vec![
                (5, vec![1.0, 0.0]),
                (3, vec![2.0, 0.0]),
                (9, vec![0.0, 1.0]),
                (4, vec![1.0, 0.0, 0.0]), // wrong length: left out
            ],
        );
        assert_eq!(index.len(), 3);
        let hits = index.nearest(&[1.0, 0.0], 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [5, 3]);
        assert!((hits[0].1 - 1.0).abs() < 1e-6);
        assert!(index.nearest(&[1.0], 2).is_empty());
        assert!(index.nearest(&[1.0, 0.0], 0).is_empty());
        assert_eq!(index.nearest(&[0.0, 1.0], 10).len(), 3);
        assert_eq!(index.memory_bytes(), 3 * 2 * 4 + 3 * 8);
    }

    #[test]
    fn dot_covers_the_lanes_and_the_tail() {
        for n in [0, 1, 15, 16, 17, 384, 385] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b = vec![2.0f32; n];
            let want: f32 = (0..n).map(|i| 2.0 * i as f32).sum();
            assert_eq!(dot(&a, &b), want, "{n}");
        }
    }
}
