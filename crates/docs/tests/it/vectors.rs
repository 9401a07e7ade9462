//! The vectors kept in memory follow the store: a file added, changed or a
//! collection deleted and made again (through hearth-docs, the store, or
//! another connection to the same database) is what the next search sees.

use hearth_docs::{
    AddOptions, DocError, SearchMode, VectorCache, add_files, search_cached, search_with,
};
use hearth_store::Store;

use crate::{Letters, key};

/// The sources of a vector-only search through the cache, best first.
fn nearest(store: &Store, cache: &VectorCache, query: &str) -> Vec<String> {
    search_cached(store, cache, &Letters, "c", query, 3, SearchMode::Vector)
        .unwrap()
        .into_iter()
        .map(|h| {
            std::path::Path::new(&h.source)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn the_cached_vectors_follow_adds_changes_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let store = Store::open(&db, &key()).unwrap();
    let cache = VectorCache::new();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let add = |store: &Store, path: &std::path::Path| {
        add_files(
            store,
            &Letters,
            "c",
            &[path.to_path_buf()],
            AddOptions::default(),
            |_| {},
        )
        .unwrap();
    };

    let a = file("a.txt", "zzzz zzzz zzzz");
    add(&store, &a);
    assert_eq!(nearest(&store, &cache, "zzz"), ["a.txt"]);
    assert_eq!(cache.usage().0, 1);

    // Added after the vectors were loaded: found by the next search.
    let b = file("b.txt", "qqqq qqqq qqqq");
    add(&store, &b);
    assert_eq!(nearest(&store, &cache, "qqq")[0], "b.txt");

    // Changed: its new vector replaces the old one.
    std::fs::write(&a, "xxxx xxxx xxxx").unwrap();
    add(&store, &a);
    assert_eq!(nearest(&store, &cache, "xxx")[0], "a.txt");
    assert_eq!(nearest(&store, &cache, "zzz").len(), 2);

    // Another connection to the same database (as another process would).
    let other = Store::open(&db, &key()).unwrap();
    let c = file("c.txt", "jjjj jjjj jjjj");
    add(&other, &c);
    assert_eq!(nearest(&store, &cache, "jjj")[0], "c.txt");

    // The same answers as a search that reads every vector again.
    let uncached: Vec<i64> = search_with(&store, &Letters, "c", "jjj qqq", 3, SearchMode::Hybrid)
        .unwrap()
        .iter()
        .map(|h| h.chunk_id)
        .collect();
    let cached: Vec<i64> = search_cached(
        &store,
        &cache,
        &Letters,
        "c",
        "jjj qqq",
        3,
        SearchMode::Hybrid,
    )
    .unwrap()
    .iter()
    .map(|h| h.chunk_id)
    .collect();
    assert_eq!(cached, uncached);

    // Deleted: the collection is gone for the cache too; made again under
    // the same name, only its new document is found.
    assert!(store.delete_doc_collection("c").unwrap());
    let err =
        search_cached(&store, &cache, &Letters, "c", "jjj", 3, SearchMode::Vector).unwrap_err();
    assert!(matches!(err, DocError::NoCollection(_)), "{err}");
    let d = file("d.txt", "kkkk kkkk kkkk");
    add(&store, &d);
    assert_eq!(nearest(&store, &cache, "jjj"), ["d.txt"]);
    assert_eq!(cache.usage().0, 1);

    cache.clear();
    assert_eq!(cache.usage(), (0, 0));
}

#[test]
fn a_deleted_collections_vectors_leave_memory_when_another_loads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("h.db"), &key()).unwrap();
    let cache = VectorCache::new();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "some words to find").unwrap();
    for name in ["one", "two"] {
        add_files(
            &store,
            &Letters,
            name,
            std::slice::from_ref(&path),
            AddOptions::default(),
            |_| {},
        )
        .unwrap();
    }
    search_cached(
        &store,
        &cache,
        &Letters,
        "one",
        "words",
        3,
        SearchMode::Vector,
    )
    .unwrap();
    assert_eq!(cache.usage().0, 1);
    assert!(store.delete_doc_collection("one").unwrap());
    search_cached(
        &store,
        &cache,
        &Letters,
        "two",
        "words",
        3,
        SearchMode::Vector,
    )
    .unwrap();
    assert_eq!(cache.usage().0, 1, "the copy of \"one\" was dropped");
}
