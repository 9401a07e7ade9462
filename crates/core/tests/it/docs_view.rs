//! The documents screen's views (issue 23): collections with their files,
//! indexing with per-file events (bad files reported, the rest indexed),
//! refresh by content hash, a run stopped and resumed after the app was
//! opened again, files attached to a chat, and a cited passage with its
//! neighbours. On the real all-MiniLM-L6-v2.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use hearth_core::view::{FileOutcomeView, IndexEventView, chat_collection_name};
use hearth_core::{App, Config};
use hearth_engine::EngineOptions;
use hearth_store::NewConversation;

use crate::{Home, standin_http};

fn open(home: &Home) -> App {
    let mut config: Config = home.config();
    config.embed_model = Some(hearth_testkit::models::minilm());
    home.open_custom(config, EngineOptions::default(), standin_http())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Indexes `paths` into `name`, returning the events seen.
fn index(app: &App, name: &str, paths: &[String]) -> Vec<IndexEventView> {
    let mut events = Vec::new();
    let never = AtomicBool::new(false);
    app.index_docs_view(name, paths, &never, |e| events.push(e))
        .unwrap();
    events
}

fn outcomes(events: &[IndexEventView]) -> Vec<(u32, &FileOutcomeView)> {
    events
        .iter()
        .filter_map(|e| match e {
            IndexEventView::File { n, outcome, .. } => Some((*n, outcome)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_collection_is_created_indexed_with_bad_files_reported_refreshed_renamed_and_deleted() {
    let home = Home::new();
    let app = open(&home);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("notes");
    std::fs::create_dir(&folder).unwrap();
    write(
        &folder,
        "otters.md",
        "# Otters\n\nSea otters hold hands while they sleep.\n",
    );
    write(
        &folder,
        "tides.txt",
        "Spring tides come twice a month, at new and full moon.\n",
    );
    let binary = dir.path().join("blob.txt");
    std::fs::write(&binary, [0u8, 159, 146, 150, 0, 0, 1, 2, 3, 0]).unwrap();
    let missing = dir.path().join("gone.md").display().to_string();

    let created = app.create_collection_view("notes").unwrap();
    assert_eq!((created.files, created.chunks), (0, 0));
    assert_eq!(created.last_indexed, None);
    assert!(
        created.embed_model.to_lowercase().contains("minilm"),
        "{}",
        created.embed_model
    );

    let events = index(
        &app,
        "notes",
        &[
            folder.display().to_string(),
            binary.display().to_string(),
            missing,
        ],
    );
    assert!(
        matches!(&events[0], IndexEventView::Started { collection, files: 4 } if collection == "notes"),
        "{events:?}"
    );
    // Each file is announced before its outcome.
    assert!(matches!(
        &events[1],
        IndexEventView::Reading { n: 1, of: 4, .. }
    ));
    let done = outcomes(&events);
    assert_eq!(done.len(), 4);
    assert!(matches!(done[0], (1, FileOutcomeView::Indexed { .. })));
    assert!(matches!(done[1], (2, FileOutcomeView::Indexed { .. })));
    assert!(
        matches!(done[2], (3, FileOutcomeView::Failed { message }) if message.contains("binary")),
        "{done:?}"
    );
    assert!(matches!(done[3], (4, FileOutcomeView::Failed { .. })));

    let list = app.collections_view().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].files, 2);
    assert!(list[0].chunks >= 2);
    assert!(list[0].last_indexed.is_some());
    assert_eq!(list[0].unfinished, None);
    let files = app.collection_files_view("notes").unwrap();
    assert_eq!(
        files.iter().map(|f| f.file.as_str()).collect::<Vec<_>>(),
        ["otters.md", "tides.txt"]
    );
    assert_eq!(files[0].kind, "markdown");

    // Refresh: the changed file is indexed again, the other skipped.
    write(
        &folder,
        "tides.txt",
        "Neap tides come between the spring tides.\n",
    );
    let never = AtomicBool::new(false);
    let report = app
        .refresh_collection_view("notes", &never, |_| {})
        .unwrap();
    assert_eq!((report.indexed, report.unchanged), (1, 1), "{report:?}");
    assert!(report.failed.is_empty());

    // A file removed, with its chunks.
    let (_, before, _) = app.store().doc_row_counts().unwrap();
    app.remove_doc_file_view("notes", &files[0].source).unwrap();
    let (docs, after, fts) = app.store().doc_row_counts().unwrap();
    assert_eq!(docs, 1);
    assert!(after < before);
    assert_eq!(after, fts);
    assert!(app.remove_doc_file_view("notes", &files[0].source).is_err());

    // A rename: a chat using it follows.
    let conv = app
        .store()
        .create_conversation(&NewConversation::default())
        .unwrap()
        .id;
    app.attach_docs(&conv, Some("notes")).unwrap();
    let renamed = app.rename_collection_view("notes", "tides").unwrap();
    assert_eq!(renamed.name, "tides");
    assert_eq!(app.attached_docs(&conv).unwrap().as_deref(), Some("tides"));
    assert!(app.rename_collection_view("notes", "x").is_err());

    // Delete: no chunk, vector or index row left.
    app.delete_collection_view("tides").unwrap();
    assert!(app.collections_view().unwrap().is_empty());
    assert_eq!(app.store().doc_row_counts().unwrap(), (0, 0, 0));
    assert!(app.delete_collection_view("tides").is_err());
}

#[test]
fn a_stopped_run_keeps_what_it_did_and_resumes_after_reopening_without_duplicates() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..3)
        .map(|i| {
            write(
                dir.path(),
                &format!("part{i}.md"),
                &format!("# Part {i}\n\nThe {i}th part speaks of lighthouses and keepers.\n"),
            )
        })
        .collect();
    {
        let app = open(&home);
        let cancel = AtomicBool::new(false);
        // Stopped once the first file is done.
        let report = app
            .index_docs_view("light", &paths, &cancel, |e| {
                if matches!(e, IndexEventView::File { n: 1, .. }) {
                    cancel.store(true, Ordering::Relaxed);
                }
            })
            .unwrap();
        assert!(report.cancelled);
        assert_eq!(report.indexed, 1);
        let c = &app.collections_view().unwrap()[0];
        assert_eq!(c.files, 1);
        let unfinished = c.unfinished.clone().unwrap();
        assert!(unfinished.stopped);
        assert_eq!(unfinished.paths, paths);
    }
    // Opened again: the run is still there, and resuming finishes it.
    let app = open(&home);
    let c = &app.collections_view().unwrap()[0];
    assert!(c.unfinished.is_some());
    let never = AtomicBool::new(false);
    let report = app.resume_indexing_view("light", &never, |_| {}).unwrap();
    assert!(!report.cancelled);
    assert_eq!((report.unchanged, report.indexed), (1, 2), "{report:?}");
    let c = &app.collections_view().unwrap()[0];
    assert_eq!(c.files, 3);
    assert_eq!(c.unfinished, None);

    // The same collection indexed from scratch has as many chunks: none twice.
    let fresh = Home::new();
    let other = open(&fresh);
    index(&other, "light", &paths);
    assert_eq!(other.collections_view().unwrap()[0].chunks, c.chunks);
}

#[test]
fn files_attached_in_a_chat_go_to_its_own_collection_and_a_passage_shows_its_neighbours() {
    let home = Home::new();
    let app = open(&home);
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("# Lighthouses\n\n");
    for i in 0..40 {
        text.push_str(&format!(
            "Paragraph {i}: the keeper climbed {i} steps to trim the wick and log the weather.\n\n"
        ));
    }
    let path = write(dir.path(), "keepers.md", &text);
    let conv = app
        .store()
        .create_conversation(&NewConversation::default())
        .unwrap()
        .id;
    let never = AtomicBool::new(false);
    let report = app
        .attach_files_view(conv.as_str(), std::slice::from_ref(&path), &never, |_| {})
        .unwrap();
    let name = chat_collection_name(conv.as_str());
    assert_eq!(report.collection, name);
    assert_eq!(report.indexed, 1);
    assert_eq!(app.attached_docs(&conv).unwrap(), Some(name.clone()));
    assert!(
        app.attach_files_view("nope", &[path], &never, |_| {})
            .is_err()
    );

    let store_chunks = {
        let store = app.store();
        let c = store.doc_collection(&name).unwrap().unwrap();
        store.doc_collection_chunks(c.id).unwrap()
    };
    assert!(store_chunks.len() >= 3, "{} chunks", store_chunks.len());
    let middle = &store_chunks[1];
    let p = app.passage_view(middle.chunk_id).unwrap();
    assert_eq!(p.collection, name);
    assert_eq!(p.file, "keepers.md");
    assert_eq!(p.passage.text, middle.text);
    assert_eq!(p.before.len(), 1);
    assert_eq!(p.before[0].text, store_chunks[0].text);
    assert_eq!(p.after.len(), 1);
    assert_eq!(p.after[0].text, store_chunks[2].text);
    let first = app.passage_view(store_chunks[0].chunk_id).unwrap();
    assert!(first.before.is_empty());

    // A chunk gone (the file removed) is a clear not-found.
    app.remove_doc_file_view(&name, &p.source).unwrap();
    let err = hearth_core::view::ErrorView::from(app.passage_view(middle.chunk_id).unwrap_err());
    assert_eq!(err.kind, hearth_core::view::ErrorKind::NotFound);
    assert!(
        err.message.contains("re-indexed or removed"),
        "{}",
        err.message
    );
}
