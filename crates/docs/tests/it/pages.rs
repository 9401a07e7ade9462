//! Page numbers: a PDF is read page by page and each chunk keeps its page,
//! through search to the hit. The PDF is written here (no binary committed).

use hearth_docs::{AddOptions, FileOutcome, add_files, pdf_pages, search};
use hearth_store::Store;

use crate::{Letters, key};

/// A minimal PDF with one page per text (Helvetica, one line each), with a
/// correct cross-reference table.
fn pdf(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content per page.
    let mut objs: Vec<Vec<u8>> = Vec::new();
    objs.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objs.push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
    objs.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    for (i, text) in pages.iter().enumerate() {
        objs.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let content = format!("BT /F1 12 Tf 20 150 Td ({text}) Tj ET");
        objs.push(
            format!(
                "<< /Length {} >>\nstream\n{content}\nendstream",
                content.len()
            )
            .into_bytes(),
        );
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

const PAGES: [&str; 3] = [
    "Sea otters hold hands while they sleep.",
    "Beavers build dams from branches and mud.",
    "Puffins dive for sand eels in cold water.",
];

#[test]
fn a_pdf_is_read_page_by_page() {
    let pages = pdf_pages("three.pdf", &pdf(&PAGES)).unwrap();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (got, want) in pages.iter().zip(PAGES) {
        assert_eq!(got.trim(), want);
    }
}

#[test]
fn pdf_chunks_keep_their_page_through_search() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("animals.pdf");
    std::fs::write(&file, pdf(&PAGES)).unwrap();
    std::fs::write(
        dir.path().join("notes.md"),
        "# Beavers\n\nBeavers build dams.\n",
    )
    .unwrap();
    let store = Store::open(&dir.path().join("h.db"), &key()).unwrap();
    // Small chunks: each page is its own chunk, never two pages in one.
    let reports = add_files(
        &store,
        &Letters,
        "zoo",
        &[file, dir.path().join("notes.md")],
        AddOptions { chunk_chars: 1000 },
        |_| {},
    )
    .unwrap();
    assert!(
        matches!(
            reports[0].outcome,
            FileOutcome::Indexed {
                chunks: 3,
                kind: "pdf"
            }
        ),
        "{:?}",
        reports[0].outcome
    );
    let hits = search(&store, &Letters, "zoo", "puffins sand eels", 10).unwrap();
    let puffins = hits.iter().find(|h| h.text.contains("Puffins")).unwrap();
    assert_eq!(puffins.page, Some(3));
    let beavers = hits
        .iter()
        .find(|h| h.text.contains("Beavers build dams from"))
        .unwrap();
    assert_eq!(beavers.page, Some(2));
    let otters = hits.iter().find(|h| h.text.contains("otters")).unwrap();
    assert_eq!(otters.page, Some(1));
    // A document without pages has none.
    let md = hits
        .iter()
        .find(|h| h.source.ends_with("notes.md"))
        .unwrap();
    assert_eq!(md.page, None);
}
