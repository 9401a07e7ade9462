//! The files of a document collection as a screen shows them: each file with
//! its chunk count, removing one file, renaming a collection, and a passage
//! read with its neighbours (for a citation's viewer).

use rusqlite::{OptionalExtension, params};

use crate::docs::chunk_from_row;
use crate::{ChunkHit, Store, StoreError, Timestamp};

/// One file of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentSummary {
    /// Its path when it was indexed.
    pub source: String,
    /// What it was read as ("markdown", "pdf", …).
    pub kind: String,
    pub bytes: u64,
    pub chunks: u64,
    /// When its current version was indexed.
    pub added_at: Timestamp,
}

/// A chunk with the chunks around it in its file, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct DocPassage {
    pub before: Vec<ChunkHit>,
    pub chunk: ChunkHit,
    pub after: Vec<ChunkHit>,
    /// The collection it is in.
    pub collection: String,
}

impl Store {
    /// The files of the collection, by path.
    pub fn doc_documents(&self, collection_id: i64) -> Result<Vec<DocumentSummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.source, d.kind, d.bytes, d.added_at, \
                    (SELECT count(*) FROM doc_chunks k WHERE k.document_id = d.id) \
             FROM doc_documents d WHERE d.collection_id = ?1 ORDER BY d.source",
        )?;
        let rows = stmt.query_map([collection_id], |row| {
            let bytes: i64 = row.get(2)?;
            let chunks: i64 = row.get(4)?;
            Ok(DocumentSummary {
                source: row.get(0)?,
                kind: row.get(1)?,
                bytes: u64::try_from(bytes).unwrap_or(0),
                chunks: u64::try_from(chunks).unwrap_or(0),
                added_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When a file of the collection was last indexed (`None`: no file yet).
    pub fn doc_last_indexed(&self, collection_id: i64) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT max(added_at) FROM doc_documents WHERE collection_id = ?1",
            [collection_id],
            |r| r.get(0),
        )?)
    }

    /// Removes one file with its chunks and vectors from the collection.
    /// False when it was not there.
    pub fn delete_document(&self, collection_id: i64, source: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM doc_documents WHERE collection_id = ?1 AND source = ?2",
            params![collection_id, source],
        )? > 0)
    }

    /// Renames a collection, and the conversations it is attached to follow
    /// (citations keep the name they were given under). False when there is
    /// no collection `from`; a name already taken is an error.
    pub fn rename_doc_collection(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        if to.trim().is_empty() {
            return Err(StoreError::Invalid("a collection needs a name".into()));
        }
        if from != to && self.doc_collection(to)?.is_some() {
            return Err(StoreError::Invalid(format!(
                "there is already a collection named \"{to}\""
            )));
        }
        let tx = self.conn.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE doc_collections SET name = ?2 WHERE name = ?1",
            params![from, to],
        )?;
        tx.execute(
            "UPDATE conversation_docs SET collection = ?2 WHERE collection = ?1",
            params![from, to],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// The chunk `chunk_id` with up to `around` chunks of its file on each
    /// side; `None` when it is no longer stored (its file was re-indexed or
    /// removed).
    pub fn doc_passage(
        &self,
        chunk_id: i64,
        around: u32,
    ) -> Result<Option<DocPassage>, StoreError> {
        let found: Option<(i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT k.document_id, k.ord, c.name FROM doc_chunks k \
                 JOIN doc_documents d ON d.id = k.document_id \
                 JOIN doc_collections c ON c.id = d.collection_id WHERE k.id = ?1",
                [chunk_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((document, ord, collection)) = found else {
            return Ok(None);
        };
        let around = i64::from(around);
        let mut stmt = self.conn.prepare_cached(
            "SELECT k.id, d.source, k.ord, k.heading, k.text, k.page FROM doc_chunks k \
             JOIN doc_documents d ON d.id = k.document_id \
             WHERE k.document_id = ?1 AND k.ord BETWEEN ?2 AND ?3 ORDER BY k.ord",
        )?;
        let rows: Vec<ChunkHit> = stmt
            .query_map(
                params![
                    document,
                    ord.saturating_sub(around),
                    ord.saturating_add(around)
                ],
                chunk_from_row,
            )?
            .collect::<Result<_, _>>()?;
        let mut before = Vec::new();
        let mut chunk = None;
        let mut after = Vec::new();
        for row in rows {
            if row.chunk_id == chunk_id {
                chunk = Some(row);
            } else if chunk.is_none() {
                before.push(row);
            } else {
                after.push(row);
            }
        }
        Ok(chunk.map(|chunk| DocPassage {
            before,
            chunk,
            after,
            collection,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{NewChunk, NewDocument, Store};

    fn doc(source: &str, texts: &[&str]) -> NewDocument {
        NewDocument {
            source: source.into(),
            kind: "text".into(),
            content_hash: format!("hash-{source}"),
            bytes: 10,
            chunks: texts
                .iter()
                .map(|t| NewChunk {
                    text: (*t).into(),
                    heading: None,
                    page: None,
                    vector: vec![1.0, 0.0],
                })
                .collect(),
        }
    }

    #[test]
    fn files_are_listed_removed_and_a_passage_has_its_neighbours() {
        let store = Store::open_in_memory().unwrap();
        let c = store.ensure_doc_collection("notes", "m", 2).unwrap();
        assert_eq!(store.doc_last_indexed(c.id).unwrap(), None);
        store
            .put_document(c.id, &doc("/a.txt", &["one", "two", "three", "four"]))
            .unwrap();
        store
            .put_document(c.id, &doc("/b.txt", &["other"]))
            .unwrap();
        let files = store.doc_documents(c.id).unwrap();
        assert_eq!(
            files
                .iter()
                .map(|f| (f.source.as_str(), f.chunks))
                .collect::<Vec<_>>(),
            [("/a.txt", 4), ("/b.txt", 1)]
        );
        assert!(store.doc_last_indexed(c.id).unwrap().is_some());

        let chunks = store.doc_collection_chunks(c.id).unwrap();
        let two = chunks.iter().find(|k| k.text == "two").unwrap();
        let p = store.doc_passage(two.chunk_id, 1).unwrap().unwrap();
        assert_eq!(p.collection, "notes");
        assert_eq!(p.chunk.text, "two");
        assert_eq!(
            p.before.iter().map(|k| k.text.as_str()).collect::<Vec<_>>(),
            ["one"]
        );
        assert_eq!(
            p.after.iter().map(|k| k.text.as_str()).collect::<Vec<_>>(),
            ["three"]
        );

        assert!(store.delete_document(c.id, "/a.txt").unwrap());
        assert!(!store.delete_document(c.id, "/a.txt").unwrap());
        assert_eq!(store.doc_passage(two.chunk_id, 1).unwrap(), None);
        let (docs, chunks, fts) = store.doc_row_counts().unwrap();
        assert_eq!((docs, chunks, fts), (1, 1, 1));
    }

    #[test]
    fn a_rename_moves_the_collection_and_refuses_a_taken_name() {
        let store = Store::open_in_memory().unwrap();
        store.ensure_doc_collection("a", "m", 2).unwrap();
        store.ensure_doc_collection("b", "m", 2).unwrap();
        assert!(store.rename_doc_collection("a", "b").is_err());
        assert!(store.rename_doc_collection("a", " ").is_err());
        assert!(store.rename_doc_collection("a", "c").unwrap());
        assert!(store.doc_collection("a").unwrap().is_none());
        assert!(store.doc_collection("c").unwrap().is_some());
        assert!(!store.rename_doc_collection("nothing", "d").unwrap());
    }
}
