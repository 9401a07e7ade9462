//! Adding files: bad input is reported per file and the rest indexed; deleting
//! a collection removes its chunks and vectors from the database.

use hearth_docs::{AddOptions, DocError, FileOutcome, add_files, search};
use hearth_store::Store;

use crate::{Letters, key};

#[test]
fn bad_files_are_reported_by_name_and_the_rest_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("good.md"),
        "# Notes\n\nOtters sleep holding hands.\n",
    )
    .unwrap();
    std::fs::write(
        d.join("fake.txt"),
        [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0],
    )
    .unwrap();
    std::fs::write(d.join("scan.pdf"), b"%PDF-1.4\n%%EOF\n").unwrap();
    std::fs::write(d.join("empty.txt"), "   \n").unwrap();
    std::fs::write(d.join("rows.csv"), "animal,food\notter,urchins\n").unwrap();
    let missing = d.join("missing.txt");

    let store = Store::open(&d.join("h.db"), &key()).unwrap();
    let mut lines = Vec::new();
    let reports = add_files(
        &store,
        &Letters,
        "notes",
        &[
            d.join("fake.txt"),
            d.join("good.md"),
            missing.clone(),
            d.join("scan.pdf"),
            d.join("empty.txt"),
            d.join("rows.csv"),
        ],
        AddOptions::default(),
        |r| lines.push(r.path.clone()),
    )
    .unwrap();
    assert_eq!(lines.len(), 6, "one progress line per file");
    let outcome = |name: &str| {
        &reports
            .iter()
            .find(|r| r.path.ends_with(name))
            .unwrap()
            .outcome
    };
    assert!(matches!(
        outcome("good.md"),
        FileOutcome::Indexed {
            chunks: 1,
            kind: "markdown"
        }
    ));
    assert!(matches!(
        outcome("rows.csv"),
        FileOutcome::Indexed {
            chunks: 1,
            kind: "csv"
        }
    ));
    let msg = |name: &str| match outcome(name) {
        FileOutcome::Failed(e) => e.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    assert!(msg("fake.txt").contains("binary"), "{}", msg("fake.txt"));
    assert!(msg("fake.txt").contains("fake.txt"));
    assert!(
        msg("missing.txt").contains("cannot read"),
        "{}",
        msg("missing.txt")
    );
    let pdf = msg("scan.pdf");
    assert!(
        pdf.contains("scan.pdf") && (pdf.contains("no text layer") || pdf.contains("PDF")),
        "{pdf}"
    );
    assert!(matches!(
        outcome("empty.txt"),
        FileOutcome::Failed(DocError::Empty { .. })
    ));

    // Adding the same file again changes nothing.
    let again = add_files(
        &store,
        &Letters,
        "notes",
        &[d.join("good.md")],
        AddOptions::default(),
        |_| {},
    )
    .unwrap();
    assert!(matches!(again[0].outcome, FileOutcome::Unchanged));

    let hits = search(&store, &Letters, "notes", "otters", 5).unwrap();
    assert!(hits[0].text.contains("Otters"), "{hits:?}");
    assert!(hits[0].bm25.is_some());
    // A hit names its chunk (what a citation points at).
    let stored = store.doc_chunks(&[hits[0].chunk_id]).unwrap();
    assert_eq!(stored[0].text, hits[0].text);
}

#[test]
fn deleting_a_collection_deletes_its_chunks_and_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.txt"), "alpha paragraph\n\nsecond paragraph").unwrap();
    std::fs::write(d.join("b.txt"), "beta text").unwrap();
    let db = d.join("h.db");
    {
        let store = Store::open(&db, &key()).unwrap();
        add_files(
            &store,
            &Letters,
            "one",
            &[d.join("a.txt")],
            AddOptions { chunk_chars: 50 },
            |_| {},
        )
        .unwrap();
        add_files(
            &store,
            &Letters,
            "two",
            &[d.join("b.txt")],
            AddOptions::default(),
            |_| {},
        )
        .unwrap();
        assert_eq!(store.doc_row_counts().unwrap(), (2, 2, 2));
        assert!(store.delete_doc_collection("one").unwrap());
    }
    let store = Store::open(&db, &key()).unwrap();
    // Only "two"'s document, chunk and index row are left.
    assert_eq!(store.doc_row_counts().unwrap(), (1, 1, 1));
    let err = search(&store, &Letters, "one", "alpha", 5).unwrap_err();
    assert!(matches!(err, DocError::NoCollection(_)), "{err}");
    assert_eq!(search(&store, &Letters, "two", "beta", 5).unwrap().len(), 1);
}

#[test]
fn a_folder_is_walked_and_hidden_files_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/x.md"), "x words").unwrap();
    std::fs::write(d.join(".hidden.md"), "secret").unwrap();
    std::fs::write(d.join("y.txt"), "y words").unwrap();
    let files = hearth_docs::expand_paths(&[d.to_path_buf()]);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(d).unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["sub/x.md", "y.txt"]);
}

#[test]
fn a_pdf_text_layer_is_read_and_a_pdf_without_one_is_named() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pdf");
    let text = hearth_docs::extract_file(&data.join("text.pdf")).unwrap();
    assert_eq!(text.kind, hearth_docs::DocKind::Pdf);
    assert!(
        text.text.contains("Sea otters hold hands"),
        "{:?}",
        text.text
    );
    let err = hearth_docs::extract_file(&data.join("scan.pdf")).unwrap_err();
    assert!(matches!(err, DocError::PdfNoText { .. }), "{err}");
    assert!(err.to_string().contains("no text layer"), "{err}");
}
