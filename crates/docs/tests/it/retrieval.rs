//! Retrieval with the real encoder over a small built-in corpus
//! (tests/data/corpus, questions in tests/data/questions.json).

use hearth_docs::{AddOptions, FileOutcome, add_files, search};
use hearth_store::Store;
use serde::Deserialize;

use crate::Minilm;

#[derive(Deserialize)]
struct Question {
    q: String,
    source: String,
}

#[test]
#[allow(clippy::print_stderr)] // the measured recall is worth seeing in the log
fn hybrid_search_finds_the_right_document_in_the_top_five() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let embedder = Minilm(hearth_engine::Embedder::load(hearth_testkit::models::minilm()).unwrap());
    let store = Store::open_in_memory().unwrap();
    let reports = add_files(
        &store,
        &embedder,
        "corpus",
        &[data.join("corpus")],
        AddOptions::default(),
        |_| {},
    )
    .unwrap();
    assert_eq!(reports.len(), 10);
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, FileOutcome::Indexed { .. }))
    );

    let questions: Vec<Question> =
        serde_json::from_str(&std::fs::read_to_string(data.join("questions.json")).unwrap())
            .unwrap();
    let (mut at1, mut at5) = (0, 0);
    for q in &questions {
        let hits = search(&store, &embedder, "corpus", &q.q, 5).unwrap();
        let rank = hits.iter().position(|h| h.source.ends_with(&q.source));
        if rank == Some(0) {
            at1 += 1;
        }
        if rank.is_some() {
            at5 += 1;
        }
    }
    let n = questions.len();
    eprintln!("recall@1 {at1}/{n}, recall@5 {at5}/{n}");
    assert!(at5 * 10 >= n * 9, "recall@5 {at5}/{n}");
    assert!(at1 * 10 >= n * 7, "recall@1 {at1}/{n}");
}
