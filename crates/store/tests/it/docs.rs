//! Document collections in a real encrypted database.

use hearth_store::{NewChunk, NewDocument, Store};

use crate::{Db, key};

fn doc(source: &str, texts: &[&str]) -> NewDocument {
    NewDocument {
        source: source.into(),
        kind: "text".into(),
        content_hash: format!("hash-{source}"),
        bytes: 10,
        chunks: texts
            .iter()
            .enumerate()
            .map(|(i, t)| NewChunk {
                text: (*t).into(),
                heading: None,
                page: None,
                vector: vec![i as f32, 1.0, 0.0],
            })
            .collect(),
    }
}

#[test]
fn deleting_a_collection_deletes_its_documents_chunks_vectors_and_index_rows() {
    let db = Db::new();
    let store = db.open();
    let keep = store.ensure_doc_collection("keep", "m", 3).unwrap();
    let gone = store.ensure_doc_collection("gone", "m", 3).unwrap();
    store
        .put_document(keep.id, &doc("a.txt", &["otters sleep holding hands"]))
        .unwrap();
    store
        .put_document(
            gone.id,
            &doc("b.txt", &["otters float", "beavers build dams"]),
        )
        .unwrap();
    assert_eq!(store.doc_row_counts().unwrap(), (2, 3, 3));
    // The whole text of a collection, in order, and its size.
    let whole = store.doc_collection_chunks(gone.id).unwrap();
    let texts: Vec<&str> = whole.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["otters float", "beavers build dams"]);
    assert_eq!(store.doc_collection_chars(gone.id).unwrap(), 30);
    assert_eq!(store.doc_collection_chars(-1).unwrap(), 0);
    assert_eq!(store.doc_fts(gone.id, "otters", 10).unwrap().len(), 1);

    assert!(store.delete_doc_collection("gone").unwrap());
    assert!(!store.delete_doc_collection("gone").unwrap());
    drop(store);
    let store = Store::open(&db.path, &key()).unwrap();
    assert_eq!(store.doc_row_counts().unwrap(), (1, 1, 1));
    assert!(store.doc_collection("gone").unwrap().is_none());
    assert_eq!(store.doc_vectors(gone.id).unwrap(), vec![]);
    let hits = store.doc_fts(keep.id, "otters", 10).unwrap();
    assert_eq!(hits.len(), 1);
    let list = store.doc_collections().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].documents, list[0].chunks), (1, 1));
    store.integrity_check().unwrap();
}

#[test]
fn a_document_added_again_replaces_its_chunks() {
    let db = Db::new();
    let store = db.open();
    let c = store.ensure_doc_collection("c", "m", 3).unwrap();
    store
        .put_document(c.id, &doc("a.txt", &["old text one", "old text two"]))
        .unwrap();
    store
        .put_document(c.id, &doc("a.txt", &["new words"]))
        .unwrap();
    assert_eq!(store.doc_row_counts().unwrap(), (1, 1, 1));
    assert!(store.doc_fts(c.id, "old", 10).unwrap().is_empty());
    let ids: Vec<i64> = store
        .doc_vectors(c.id)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let chunks = store.doc_chunks(&ids).unwrap();
    assert_eq!(chunks[0].text, "new words");
    assert_eq!(chunks[0].source, "a.txt");
    assert_eq!(
        store.doc_hash(c.id, "a.txt").unwrap().as_deref(),
        Some("hash-a.txt")
    );
}

#[test]
fn a_collection_keeps_its_embedding_model() {
    let store = Store::open_in_memory().unwrap();
    store.ensure_doc_collection("c", "minilm", 384).unwrap();
    let err = store
        .ensure_doc_collection("c", "other", 768)
        .unwrap_err()
        .to_string();
    assert!(err.contains("minilm"), "{err}");
    assert!(store.ensure_doc_collection("  ", "m", 3).is_err());
}

#[test]
fn full_text_ranks_the_better_match_first_and_ignores_other_collections() {
    let store = Store::open_in_memory().unwrap();
    let a = store.ensure_doc_collection("a", "m", 3).unwrap();
    let b = store.ensure_doc_collection("b", "m", 3).unwrap();
    store
        .put_document(
            a.id,
            &doc(
                "x",
                &["the river otter", "otter otter otter holt", "nothing here"],
            ),
        )
        .unwrap();
    store
        .put_document(b.id, &doc("y", &["otter in b"]))
        .unwrap();
    let hits = store.doc_fts(a.id, "otter holt \"NEAR(", 10).unwrap();
    assert_eq!(hits.len(), 2);
    let best = store.doc_chunks(&[hits[0].0]).unwrap();
    assert_eq!(best[0].text, "otter otter otter holt");
    assert!(hits[0].1 > hits[1].1);
}

#[test]
fn words_in_half_the_chunks_of_a_large_index_do_not_match_alone() {
    let store = Store::open_in_memory().unwrap();
    let c = store.ensure_doc_collection("c", "m", 3).unwrap();
    // Below a thousand chunks every word counts.
    let few: Vec<String> = (0..10).map(|i| format!("common filler {i}")).collect();
    let few: Vec<&str> = few.iter().map(String::as_str).collect();
    store.put_document(c.id, &doc("few", &few)).unwrap();
    assert_eq!(store.doc_fts(c.id, "common", 50).unwrap().len(), 10);
    // A thousand more: "common" is in every chunk, "otter" in three.
    let many: Vec<String> = (0..1000)
        .map(|i| match (i % 400, i % 3) {
            (0, _) => format!("common otter {i}"),
            (_, 0) => format!("common odd {i}"),
            _ => format!("common filler {i}"),
        })
        .collect();
    let odd = many.iter().filter(|t| t.contains("odd")).count();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    store.put_document(c.id, &doc("many", &many)).unwrap();
    let hits = store.doc_fts(c.id, "Common otter", 50).unwrap();
    assert_eq!(hits.len(), 3, "only the chunks with the word that counts");
    assert!(store.doc_fts(c.id, "common", 50).unwrap().is_empty());
    // A word in fewer than half still matches everywhere it is.
    assert_eq!(store.doc_fts(c.id, "odd", 2000).unwrap().len(), odd);
}

#[test]
fn a_conversation_keeps_its_collection_and_an_answer_its_sources() {
    let db = Db::new();
    {
        let store = db.open();
        let conv = crate::conversation(&store, "with documents");
        assert_eq!(store.conversation_docs(&conv).unwrap(), None);
        store.set_conversation_docs(&conv, Some("notes")).unwrap();
        store.set_conversation_docs(&conv, Some("papers")).unwrap();
        let q = crate::say(&store, &conv, None, hearth_backend::Role::User, "q");
        let cite = |n: u32| hearth_store::Citation {
            n,
            collection: "papers".into(),
            source: format!("/p/{n}.pdf"),
            heading: None,
            page: Some(n + 4),
            chunk_id: Some(i64::from(n) * 10),
            snippet: "text".into(),
            mode: "whole".into(),
        };
        store.record_citations(&q.id, &[cite(2), cite(1)]).unwrap();
        // Recording again replaces.
        store.record_citations(&q.id, &[cite(2), cite(1)]).unwrap();
    }
    let store = db.open();
    let conv = &store.list_conversations(&Default::default()).unwrap()[0];
    assert_eq!(
        store.conversation_docs(&conv.id).unwrap().as_deref(),
        Some("papers")
    );
    let q = &store.active_path(&conv.id).unwrap()[0];
    let cited = store.citations(&q.id).unwrap();
    assert_eq!(cited.iter().map(|c| c.n).collect::<Vec<_>>(), [1, 2]);
    // The page is kept (migration 9).
    assert_eq!(
        cited.iter().map(|c| c.page).collect::<Vec<_>>(),
        [Some(5), Some(6)]
    );
    store.set_conversation_docs(&conv.id, None).unwrap();
    assert_eq!(store.conversation_docs(&conv.id).unwrap(), None);
    // Deleting the conversation takes its attachment and citations along.
    store
        .set_conversation_docs(&conv.id, Some("notes"))
        .unwrap();
    store.delete_conversation(&conv.id).unwrap();
    assert!(store.citations(&q.id).unwrap().is_empty());
}
