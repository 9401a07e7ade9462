//! Text out of files: plain text, Markdown, HTML, CSV, source code, PDF (its
//! text layer) and DOCX. The kind comes from the file's extension; bytes that
//! do not fit the kind (a binary file named `.txt`) are refused by name.

use std::io::Read;
use std::path::Path;

use crate::DocError;

/// What a file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Text,
    Markdown,
    Html,
    Csv,
    Code,
    Pdf,
    Docx,
}

impl DocKind {
    /// The kind for a path, from its extension (unknown extensions are read as text).
    pub fn from_path(path: &Path) -> Self {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "md" | "markdown" | "mdx" => Self::Markdown,
            "html" | "htm" | "xhtml" => Self::Html,
            "csv" | "tsv" => Self::Csv,
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            "rs" | "py" | "js" | "ts" | "tsx" | "jsx" | "go" | "c" | "h" | "cpp" | "hpp" | "cc"
            | "java" | "kt" | "swift" | "rb" | "php" | "cs" | "sh" | "toml" | "yaml" | "yml"
            | "json" | "sql" | "lua" | "svelte" | "vue" | "css" | "scss" => Self::Code,
            _ => Self::Text,
        }
    }

    /// Its name, as stored with the document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Html => "html",
            Self::Csv => "csv",
            Self::Code => "code",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
        }
    }
}

/// A file's text and what it was read as.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub kind: DocKind,
    pub text: String,
    /// The text page by page, for documents with pages (PDF): `text` is
    /// these joined. Empty for the others.
    pub pages: Vec<String>,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// The largest file read (bigger ones are refused rather than filling memory).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads `path` and returns its text.
pub fn extract_file(path: &Path) -> Result<Extracted, DocError> {
    let name = path.display().to_string();
    let io = |source| DocError::Io {
        path: name.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(DocError::Unreadable {
            path: name,
            kind: "a document",
            reason: format!(
                "it is {} MiB; the limit is {} MiB",
                meta.len() >> 20,
                MAX_FILE_BYTES >> 20
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let kind = DocKind::from_path(path);
    let (text, pages) = match kind {
        DocKind::Pdf => {
            let pages = pdf_pages(&name, &bytes)?;
            (pages.join("\n\n"), pages)
        }
        _ => (extract_bytes(&name, kind, &bytes)?, Vec::new()),
    };
    if text.trim().is_empty() {
        return Err(match kind {
            DocKind::Pdf => DocError::PdfNoText { path: name },
            _ => DocError::Empty { path: name },
        });
    }
    Ok(Extracted {
        kind,
        text,
        pages,
        bytes: meta.len(),
    })
}

/// The text of `bytes` read as `kind` (`name` is for messages).
pub fn extract_bytes(name: &str, kind: DocKind, bytes: &[u8]) -> Result<String, DocError> {
    match kind {
        DocKind::Text | DocKind::Markdown | DocKind::Code => text(name, bytes, "text"),
        DocKind::Html => {
            let src = text(name, bytes, "HTML")?;
            html2text::from_read(src.as_bytes(), 100).map_err(|e| DocError::Unreadable {
                path: name.to_owned(),
                kind: "HTML",
                reason: e.to_string(),
            })
        }
        DocKind::Csv => csv_text(name, &text(name, bytes, "CSV")?),
        DocKind::Pdf => pdf_pages(name, bytes).map(|pages| pages.join("\n\n")),
        DocKind::Docx => docx_text(name, bytes),
    }
}

/// UTF-8 text (a BOM dropped); NUL bytes or invalid UTF-8 mean a binary file.
fn text(name: &str, bytes: &[u8], expected: &'static str) -> Result<String, DocError> {
    let binary = || DocError::Binary {
        path: name.to_owned(),
        expected,
    };
    if bytes.contains(&0) {
        return Err(binary());
    }
    let s = std::str::from_utf8(bytes).map_err(|_| binary())?;
    Ok(s.strip_prefix('\u{feff}')
        .unwrap_or(s)
        .replace("\r\n", "\n"))
}

/// Each row as one line: `header: value; header: value`, so a chunk of rows
/// still says what each value is.
fn csv_text(name: &str, src: &str) -> Result<String, DocError> {
    let delimiter = if name.to_ascii_lowercase().ends_with(".tsv") {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(src.as_bytes());
    let unreadable = |e: csv::Error| DocError::Unreadable {
        path: name.to_owned(),
        kind: "CSV",
        reason: e.to_string(),
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(unreadable)?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut out = String::new();
    for record in reader.records() {
        let record = record.map_err(unreadable)?;
        let cells: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(i, v)| match headers.get(i) {
                Some(h) if !h.is_empty() => format!("{h}: {v}"),
                _ => v.to_owned(),
            })
            .collect();
        out.push_str(&cells.join("; "));
        out.push('\n');
    }
    Ok(out)
}

/// The text layer of each page, in order.
pub fn pdf_pages(name: &str, bytes: &[u8]) -> Result<Vec<String>, DocError> {
    if !bytes.starts_with(b"%PDF") {
        return Err(DocError::Binary {
            path: name.to_owned(),
            expected: "a PDF",
        });
    }
    // pdf-extract can panic on malformed files; one bad PDF must not stop the rest.
    let result = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes));
    match result {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(DocError::Unreadable {
            path: name.to_owned(),
            kind: "PDF",
            reason: e.to_string(),
        }),
        Err(_) => Err(DocError::Unreadable {
            path: name.to_owned(),
            kind: "PDF",
            reason: "the PDF reader failed on this file".to_owned(),
        }),
    }
}

/// The paragraphs of `word/document.xml`, one per line.
fn docx_text(name: &str, bytes: &[u8]) -> Result<String, DocError> {
    let unreadable = |reason: String| DocError::Unreadable {
        path: name.to_owned(),
        kind: "DOCX",
        reason,
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| unreadable(format!("not a zip archive ({e})")))?;
    let mut xml = String::new();
    {
        let entry = archive
            .by_name("word/document.xml")
            .map_err(|_| unreadable("it has no word/document.xml".to_owned()))?;
        // A zip bomb stops at the file-size limit.
        entry
            .take(MAX_FILE_BYTES)
            .read_to_string(&mut xml)
            .map_err(|e| unreadable(e.to_string()))?;
    }
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out = String::new();
    let mut in_text = false;
    loop {
        use quick_xml::events::Event;
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == "t" => in_text = true,
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => out.push('\n'),
                _ => {}
            },
            Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" => out.push('\n'),
                _ => {}
            },
            Ok(Event::Text(t)) if in_text => out.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if in_text => match r.resolve_char_ref() {
                Ok(Some(c)) => out.push(c),
                _ => out.push_str(match &*r {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                }),
            },
            Ok(Event::Eof) => break,
            Err(e) => return Err(unreadable(e.to_string())),
            Ok(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_extensions() {
        assert_eq!(DocKind::from_path(Path::new("a/B.MD")), DocKind::Markdown);
        assert_eq!(DocKind::from_path(Path::new("x.rs")), DocKind::Code);
        assert_eq!(DocKind::from_path(Path::new("noext")), DocKind::Text);
        assert_eq!(DocKind::from_path(Path::new("r.pdf")), DocKind::Pdf);
    }

    #[test]
    fn binary_bytes_named_text_are_refused() {
        let err =
            extract_bytes("x.txt", DocKind::Text, &[0x7f, b'E', b'L', b'F', 0, 1]).unwrap_err();
        assert!(matches!(err, DocError::Binary { .. }), "{err}");
        assert!(err.to_string().contains("binary"), "{err}");
        let err = extract_bytes("y.txt", DocKind::Text, &[0xff, 0xfe, 0x41]).unwrap_err();
        assert!(matches!(err, DocError::Binary { .. }), "{err}");
    }

    #[test]
    fn html_loses_its_tags_and_scripts() {
        let html = b"<html><head><style>p{}</style></head><body><h1>Title</h1><p>Hello &amp; <b>bye</b></p></body></html>";
        let text = extract_bytes("a.html", DocKind::Html, html).unwrap();
        assert!(text.contains("Title"), "{text}");
        assert!(
            text.contains("Hello & bye") || text.contains("Hello & **bye**"),
            "{text}"
        );
        assert!(!text.contains("<p>"), "{text}");
    }

    #[test]
    fn csv_rows_name_their_columns() {
        let text = extract_bytes("p.csv", DocKind::Csv, b"name,city\nAda,London\nAlan,\n").unwrap();
        assert_eq!(text, "name: Ada; city: London\nname: Alan\n");
    }

    #[test]
    fn a_pdf_that_is_not_a_pdf_is_refused() {
        let err = extract_bytes("s.pdf", DocKind::Pdf, b"hello").unwrap_err();
        assert!(matches!(err, DocError::Binary { .. }), "{err}");
        let err = extract_bytes("t.pdf", DocKind::Pdf, b"%PDF-1.4 garbage").unwrap_err();
        assert!(matches!(err, DocError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn docx_paragraphs_become_lines() {
        use std::io::Write;
        let mut buf = Vec::new();
        {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut buf));
            zip.start_file(
                "word/document.xml",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(
                br#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Fish &amp; chips</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">Second </w:t></w:r><w:r><w:t>para</w:t></w:r></w:p></w:body></w:document>"#,
            )
            .unwrap();
            zip.finish().unwrap();
        }
        let text = extract_bytes("d.docx", DocKind::Docx, &buf).unwrap();
        assert_eq!(text, "Fish & chips\nSecond para\n");
        let err = extract_bytes("e.docx", DocKind::Docx, b"PK nope").unwrap_err();
        assert!(matches!(err, DocError::Unreadable { .. }), "{err}");
    }
}
