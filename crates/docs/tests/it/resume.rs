//! Indexing that is stopped resumes: files done are kept and skipped the next
//! time, the file that was stopped starts afresh, no chunk is stored twice; a
//! file changed between two runs is indexed again, its old chunks replaced.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hearth_docs::{AddOptions, EMBED_BATCH, Embed, FileOutcome, add_files, add_files_cancellable};
use hearth_store::Store;

use crate::{Letters, key};

/// Letters that asks to stop once it has embedded `after` batches.
struct StopAfter<'a> {
    after: usize,
    calls: AtomicUsize,
    cancel: &'a AtomicBool,
}

impl Embed for StopAfter<'_> {
    fn model_id(&self) -> &str {
        Letters.model_id()
    }
    fn dim(&self) -> usize {
        Letters.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        if self.calls.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.store(true, Ordering::SeqCst);
        }
        Letters.embed(texts)
    }
}

/// Three files; `b.txt` has more than two batches of chunks.
fn corpus(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let para = |w: &str, i: usize| format!("{w} paragraph number {i} says something.\n\n");
    let a: String = (0..3).map(|i| para("alpha", i)).collect();
    let b: String = (0..EMBED_BATCH * 2 + 5).map(|i| para("bravo", i)).collect();
    let c: String = (0..4).map(|i| para("charlie", i)).collect();
    for (name, text) in [("a.txt", a), ("b.txt", b), ("c.txt", c)] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    vec![dir.to_path_buf()]
}

/// Small chunks: one paragraph each.
const OPTIONS: AddOptions = AddOptions { chunk_chars: 50 };

#[test]
fn a_stopped_run_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let paths = corpus(&docs);

    // The count a run that is never stopped gives.
    let clean = Store::open(&dir.path().join("clean.db"), &key()).unwrap();
    add_files(&clean, &Letters, "c", &paths, OPTIONS, |_| {}).unwrap();
    let (docs_n, chunks_n, fts_n) = clean.doc_row_counts().unwrap();
    assert_eq!(docs_n, 3);
    assert!(chunks_n > (EMBED_BATCH * 2) as u64, "{chunks_n}");

    let store = Store::open(&dir.path().join("h.db"), &key()).unwrap();
    // Stopped in b.txt's second batch (a.txt took one call).
    let cancel = AtomicBool::new(false);
    let stopper = StopAfter {
        after: 2,
        calls: AtomicUsize::new(0),
        cancel: &cancel,
    };
    let mut progress = Vec::new();
    let reports = add_files_cancellable(&store, &stopper, "c", &paths, OPTIONS, &cancel, |r| {
        progress.push((r.n, r.of))
    })
    .unwrap();
    assert_eq!(progress, [(1, 3), (2, 3)], "c.txt was not reached");
    assert!(matches!(reports[0].outcome, FileOutcome::Indexed { .. }));
    assert!(matches!(reports[1].outcome, FileOutcome::Cancelled));
    // Only a.txt is stored: nothing of the file that was stopped.
    let (d, k, _) = store.doc_row_counts().unwrap();
    assert_eq!(d, 1);
    assert_eq!(k, 3);

    // The same run again: a.txt skipped, b.txt and c.txt indexed.
    let reports = add_files(&store, &Letters, "c", &paths, OPTIONS, |_| {}).unwrap();
    assert!(matches!(reports[0].outcome, FileOutcome::Unchanged));
    assert!(matches!(reports[1].outcome, FileOutcome::Indexed { .. }));
    assert!(matches!(reports[2].outcome, FileOutcome::Indexed { .. }));
    assert_eq!(store.doc_row_counts().unwrap(), (docs_n, chunks_n, fts_n));

    // And again: nothing to do, nothing added.
    let reports = add_files(&store, &Letters, "c", &paths, OPTIONS, |_| {}).unwrap();
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, FileOutcome::Unchanged))
    );
    assert_eq!(store.doc_row_counts().unwrap(), (docs_n, chunks_n, fts_n));
}

#[test]
fn a_file_changed_between_runs_is_indexed_again_and_its_old_chunks_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let paths = corpus(&docs);
    let store = Store::open(&dir.path().join("h.db"), &key()).unwrap();
    add_files(&store, &Letters, "c", &paths, OPTIONS, |_| {}).unwrap();
    let (d, k, f) = store.doc_row_counts().unwrap();

    // c.txt: four paragraphs become one new one.
    std::fs::write(docs.join("c.txt"), "delta replaces everything.\n").unwrap();
    let reports = add_files(&store, &Letters, "c", &paths, OPTIONS, |_| {}).unwrap();
    let outcomes: Vec<_> = reports.iter().map(|r| &r.outcome).collect();
    assert!(matches!(outcomes[0], FileOutcome::Unchanged));
    assert!(matches!(outcomes[1], FileOutcome::Unchanged));
    assert!(matches!(
        outcomes[2],
        FileOutcome::Indexed { chunks: 1, .. }
    ));
    assert_eq!(store.doc_row_counts().unwrap(), (d, k - 4 + 1, f - 4 + 1));
    let id = store.doc_collection("c").unwrap().unwrap().id;
    let chunks = store.doc_collection_chunks(id).unwrap();
    assert!(
        chunks.iter().all(|c| !c.text.contains("charlie")),
        "old chunks gone"
    );
    let c_txt: Vec<_> = chunks
        .iter()
        .filter(|c| c.source.ends_with("c.txt"))
        .collect();
    assert_eq!(c_txt.len(), 1);
    assert_eq!(c_txt[0].text, "delta replaces everything.");
}

#[test]
fn a_stop_between_two_files_is_reported_on_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let paths = corpus(&docs);
    let store = Store::open(&dir.path().join("h.db"), &key()).unwrap();
    // Asked during a.txt's only batch: a.txt is finished and kept, b.txt is
    // where the run says it stopped, c.txt is not reached.
    let cancel = AtomicBool::new(false);
    let stopper = StopAfter {
        after: 1,
        calls: AtomicUsize::new(0),
        cancel: &cancel,
    };
    let mut progress = Vec::new();
    let reports = add_files_cancellable(&store, &stopper, "c", &paths, OPTIONS, &cancel, |r| {
        progress.push((r.n, r.of))
    })
    .unwrap();
    assert_eq!(progress, [(1, 3), (2, 3)]);
    assert!(matches!(reports[0].outcome, FileOutcome::Indexed { .. }));
    assert!(matches!(reports[1].outcome, FileOutcome::Cancelled));
    assert_eq!(
        stopper.calls.load(Ordering::SeqCst),
        1,
        "b.txt not embedded"
    );
    assert_eq!(store.doc_row_counts().unwrap().0, 1);
}
