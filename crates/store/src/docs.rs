//! Document collections for hearth-docs: collections, documents, chunks with
//! their embedding vectors (f32 little-endian BLOBs) and an FTS5 index.
//!
//! The store keeps rows and answers two candidate queries (every vector of a
//! collection; the best BM25 matches of a query); ranking and fusing them is
//! hearth-docs' job.

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError, Timestamp, now};

/// A collection of documents, embedded with one model.
#[derive(Debug, Clone, PartialEq)]
pub struct DocCollection {
    pub id: i64,
    pub name: String,
    /// The embedding model its vectors came from (queries must use the same).
    pub embed_model: String,
    pub dim: usize,
    pub created_at: Timestamp,
}

/// A collection with its counts, for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionSummary {
    pub collection: DocCollection,
    pub documents: u64,
    pub chunks: u64,
}

/// One chunk to store.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub text: String,
    /// The nearest heading above the chunk, if the document had headings.
    pub heading: Option<String>,
    /// The page it is on (from 1), for documents with pages (PDF).
    pub page: Option<u32>,
    pub vector: Vec<f32>,
}

/// A document and its chunks, stored in one transaction.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Where it came from (a path), unique in its collection.
    pub source: String,
    /// What it was read as ("markdown", "pdf", …).
    pub kind: String,
    pub content_hash: String,
    pub bytes: u64,
    pub chunks: Vec<NewChunk>,
}

/// What a collection's vectors are as of now: it changes whenever a document
/// is added, replaced or removed (by this connection or another process), so
/// an in-memory copy of the vectors knows when it is out of date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocStamp {
    pub documents: u64,
    /// The largest document id and the sum of the ids: adding or removing a
    /// document moves them, and so does replacing one (removed, then inserted
    /// again) unless it got its old id back; then its newer `last_added` shows.
    pub max_id: i64,
    pub id_sum: i64,
    pub last_added: Timestamp,
}

/// A stored chunk with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub source: String,
    pub ord: u32,
    pub heading: Option<String>,
    /// The page it is on (from 1), for documents with pages (PDF).
    pub page: Option<u32>,
    pub text: String,
}

fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The words of a search, as FTS5's tokenizer splits them (roughly: it also
/// folds case and diacritics).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Any of the words (OR), each quoted so FTS5 syntax in the input is literal.
fn fts_any<'a>(words: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let quoted: Vec<String> = words.into_iter().map(|w| format!("\"{w}\"")).collect();
    (!quoted.is_empty()).then(|| quoted.join(" OR "))
}

/// From this many indexed chunks on, words found in half of them or more are
/// left out of a full-text search (see [`Store::doc_fts`]).
const COMMON_WORDS_FROM: i64 = 1000;

fn collection_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DocCollection> {
    let dim: i64 = row.get(3)?;
    Ok(DocCollection {
        id: row.get(0)?,
        name: row.get(1)?,
        embed_model: row.get(2)?,
        dim: usize::try_from(dim).unwrap_or(0),
        created_at: row.get(4)?,
    })
}

impl Store {
    /// The collection called `name`, if there is one.
    pub fn doc_collection(&self, name: &str) -> Result<Option<DocCollection>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, embed_model, dim, created_at FROM doc_collections WHERE name = ?1",
                [name],
                collection_from_row,
            )
            .optional()?)
    }

    /// The collection `name`, created for `embed_model` vectors of `dim` if new.
    /// An existing collection built with another model is an error (its vectors
    /// and the new ones would not be comparable).
    pub fn ensure_doc_collection(
        &self,
        name: &str,
        embed_model: &str,
        dim: usize,
    ) -> Result<DocCollection, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a collection needs a name".into()));
        }
        if let Some(existing) = self.doc_collection(name)? {
            if existing.embed_model != embed_model || existing.dim != dim {
                return Err(StoreError::Invalid(format!(
                    "collection \"{name}\" was built with the embedding model {} ({} dimensions), \
                     not {embed_model} ({dim}); use that model or another collection",
                    existing.embed_model, existing.dim
                )));
            }
            return Ok(existing);
        }
        self.conn.execute(
            "INSERT INTO doc_collections (name, embed_model, dim, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, embed_model, i64::try_from(dim).unwrap_or(i64::MAX), now()],
        )?;
        self.doc_collection(name)?
            .ok_or_else(|| StoreError::NotFound {
                what: "collection",
                id: name.to_owned(),
            })
    }

    /// Every collection with its document and chunk counts, by name.
    pub fn doc_collections(&self) -> Result<Vec<CollectionSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id, c.name, c.embed_model, c.dim, c.created_at, \
                    (SELECT count(*) FROM doc_documents d WHERE d.collection_id = c.id), \
                    (SELECT count(*) FROM doc_chunks k JOIN doc_documents d ON d.id = k.document_id \
                     WHERE d.collection_id = c.id) \
             FROM doc_collections c ORDER BY c.name",
        )?;
        let rows = stmt.query_map([], |row| {
            let documents: i64 = row.get(5)?;
            let chunks: i64 = row.get(6)?;
            Ok(CollectionSummary {
                collection: collection_from_row(row)?,
                documents: u64::try_from(documents).unwrap_or(0),
                chunks: u64::try_from(chunks).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes the collection with its documents, chunks and vectors. False
    /// when there was none.
    pub fn delete_doc_collection(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM doc_collections WHERE name = ?1", [name])?
            > 0)
    }

    /// The content hash of `source` in the collection, if it is stored
    /// (to skip files that did not change).
    pub fn doc_hash(&self, collection_id: i64, source: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT content_hash FROM doc_documents WHERE collection_id = ?1 AND source = ?2",
                params![collection_id, source],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores `doc` in the collection, replacing an earlier version of the same
    /// source, all in one transaction. Returns the document id.
    pub fn put_document(&self, collection_id: i64, doc: &NewDocument) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM doc_documents WHERE collection_id = ?1 AND source = ?2",
            params![collection_id, doc.source],
        )?;
        tx.execute(
            "INSERT INTO doc_documents (collection_id, source, kind, content_hash, bytes, added_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                collection_id,
                doc.source,
                doc.kind,
                doc.content_hash,
                i64::try_from(doc.bytes).unwrap_or(i64::MAX),
                now()
            ],
        )?;
        let doc_id = tx.last_insert_rowid();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO doc_chunks (document_id, ord, heading, text, vector, page) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (ord, chunk) in doc.chunks.iter().enumerate() {
                stmt.execute(params![
                    doc_id,
                    i64::try_from(ord).unwrap_or(i64::MAX),
                    chunk.heading,
                    chunk.text,
                    vector_to_blob(&chunk.vector),
                    chunk.page
                ])?;
            }
        }
        tx.commit()?;
        Ok(doc_id)
    }

    /// Every chunk id of the collection with its vector (the candidates of a
    /// vector search; a few thousand chunks are a fast scan).
    pub fn doc_vectors(&self, collection_id: i64) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT k.id, k.vector FROM doc_chunks k JOIN doc_documents d ON d.id = k.document_id \
             WHERE d.collection_id = ?1",
        )?;
        let rows = stmt.query_map([collection_id], |row| {
            let blob: Vec<u8> = row.get(1)?;
            Ok((row.get(0)?, blob_to_vector(&blob)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The collection's [`DocStamp`]: one pass over its documents (not its
    /// chunks), cheap next to reading the vectors again.
    pub fn doc_stamp(&self, collection_id: i64) -> Result<DocStamp, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0), \
                    coalesce(max(added_at), 0) \
             FROM doc_documents WHERE collection_id = ?1",
            [collection_id],
            |row| {
                let documents: i64 = row.get(0)?;
                Ok(DocStamp {
                    documents: u64::try_from(documents).unwrap_or(0),
                    max_id: row.get(1)?,
                    id_sum: row.get(2)?,
                    last_added: row.get(3)?,
                })
            },
        )?)
    }

    /// The `limit` best full-text matches of `query` (any word) in the
    /// collection, best first, with their BM25 score (higher is better).
    ///
    /// Once the index is large, words found in at least half of its chunks
    /// are left out: FTS5's BM25 gives them an IDF of (almost) zero, so they
    /// cannot change the order, yet matching one ranks every chunk that has
    /// it (1.2 s for a common word among 100,000 chunks). A search of such
    /// words alone finds nothing by text (hybrid search still has vectors).
    pub fn doc_fts(
        &self,
        collection_id: i64,
        query: &str,
        limit: usize,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let kept = self.informative_words(query)?;
        let Some(fts) = fts_any(kept.iter().map(String::as_str)) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT doc_chunks_fts.rowid, bm25(doc_chunks_fts) AS score FROM doc_chunks_fts \
             JOIN doc_chunks k ON k.id = doc_chunks_fts.rowid \
             JOIN doc_documents d ON d.id = k.document_id \
             WHERE doc_chunks_fts MATCH ?1 AND d.collection_id = ?2 \
             ORDER BY score LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // FTS5's bm25() is negative (lower is better); flip it.
        let rows = stmt.query_map(params![fts, collection_id, limit], |row| {
            Ok((row.get(0)?, -row.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The words of `query` that carry weight in BM25 (see [`Self::doc_fts`]).
    fn informative_words(&self, query: &str) -> Result<Vec<String>, StoreError> {
        let all: Vec<String> = words(query).map(str::to_owned).collect();
        // The largest chunk id: at least the number of chunks, and found
        // without counting them. Overstating it only keeps more words.
        let chunks: i64 =
            self.conn
                .query_row("SELECT coalesce(max(id), 0) FROM doc_chunks", [], |r| {
                    r.get(0)
                })?;
        if chunks < COMMON_WORDS_FROM {
            return Ok(all);
        }
        // How many chunks hold each term (the index's own statistics).
        self.conn.execute_batch(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.doc_chunks_vocab \
             USING fts5vocab(main, 'doc_chunks_fts', 'row')",
        )?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc FROM temp.doc_chunks_vocab WHERE term = ?1")?;
        let mut kept = Vec::with_capacity(all.len());
        for word in all {
            // The tokenizer folds case; a word it would fold otherwise
            // (diacritics) is not found here and is kept.
            let holding: Option<i64> = stmt
                .query_row([word.to_lowercase()], |r| r.get(0))
                .optional()?;
            if holding.is_none_or(|n| 2 * n < chunks) {
                kept.push(word);
            }
        }
        Ok(kept)
    }

    /// The chunks with these ids, in the order asked (ids not found are left out).
    pub fn doc_chunks(&self, ids: &[i64]) -> Result<Vec<ChunkHit>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT k.id, d.source, k.ord, k.heading, k.text, k.page FROM doc_chunks k \
             JOIN doc_documents d ON d.id = k.document_id WHERE k.id = ?1",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let hit = stmt.query_row([id], chunk_from_row).optional()?;
            out.extend(hit);
        }
        Ok(out)
    }

    /// Characters of text in the collection's chunks (is the whole worth
    /// loading?).
    pub fn doc_collection_chars(&self, collection_id: i64) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT coalesce(sum(length(k.text)), 0) FROM doc_chunks k \
             JOIN doc_documents d ON d.id = k.document_id WHERE d.collection_id = ?1",
            [collection_id],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every chunk of the collection, document by document (by source), in
    /// order: the collection's whole text.
    pub fn doc_collection_chunks(&self, collection_id: i64) -> Result<Vec<ChunkHit>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT k.id, d.source, k.ord, k.heading, k.text, k.page FROM doc_chunks k \
             JOIN doc_documents d ON d.id = k.document_id WHERE d.collection_id = ?1 \
             ORDER BY d.source, k.ord",
        )?;
        let rows = stmt.query_map([collection_id], chunk_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows in the chunk table and its FTS index (tests: nothing is left behind).
    #[doc(hidden)]
    pub fn doc_row_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            let n: i64 = self.conn.query_row(sql, [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok((
            count("SELECT count(*) FROM doc_documents")?,
            count("SELECT count(*) FROM doc_chunks")?,
            // The index's own rows, not the content table's.
            count("SELECT count(*) FROM doc_chunks_fts_docsize")?,
        ))
    }
}

/// A [`ChunkHit`] from a row of `k.id, d.source, k.ord, k.heading, k.text,
/// k.page` (`doc_chunks k` joined to `doc_documents d`).
pub(crate) fn chunk_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ChunkHit> {
    let ord: i64 = row.get(2)?;
    Ok(ChunkHit {
        chunk_id: row.get(0)?,
        source: row.get(1)?,
        ord: u32::try_from(ord).unwrap_or(u32::MAX),
        heading: row.get(3)?,
        text: row.get(4)?,
        page: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_blobs() {
        let v = vec![0.5, -1.25, f32::MIN_POSITIVE, 3.0e7];
        assert_eq!(blob_to_vector(&vector_to_blob(&v)), v);
    }

    #[test]
    fn any_word_queries_quote_fts_syntax() {
        assert_eq!(
            fts_any(words("a AND b*")).as_deref(),
            Some("\"a\" OR \"AND\" OR \"b\"")
        );
        assert_eq!(fts_any(words("*()")).as_deref(), None);
    }
}
