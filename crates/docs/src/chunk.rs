//! Splitting a document's text into chunks for embedding: paragraphs packed up
//! to a size, never across a Markdown heading (each chunk remembers the
//! heading above it), a paragraph too long for one chunk cut at sentence ends,
//! then at spaces, and only then anywhere (on a character boundary).

use crate::DocKind;

/// One piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    /// The nearest Markdown heading above, if any.
    pub heading: Option<String>,
}

impl Chunk {
    /// What gets embedded: the heading gives a chunk the context it lost.
    pub fn embed_text(&self) -> String {
        match &self.heading {
            Some(h) => format!("{h}\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// Characters per chunk by default: about 250 tokens of English for a
/// WordPiece model, inside all-MiniLM-L6-v2's 256-token window.
pub const DEFAULT_CHUNK_CHARS: usize = 1000;

/// Splits `text` into chunks of at most `max_chars` characters (at least 50).
pub fn chunk_text(text: &str, kind: DocKind, max_chars: usize) -> Vec<Chunk> {
    let max = max_chars.max(50);
    let mut chunks = Vec::new();
    let mut heading: Option<String> = None;
    let mut current = String::new();

    let flush = |current: &mut String, heading: &Option<String>, chunks: &mut Vec<Chunk>| {
        let t = current.trim();
        if !t.is_empty() {
            chunks.push(Chunk {
                text: t.to_owned(),
                heading: heading.clone(),
            });
        }
        current.clear();
    };

    for block in blocks(text, kind) {
        match block {
            Block::Heading(h) => {
                flush(&mut current, &heading, &mut chunks);
                heading = Some(h);
            }
            Block::Para(p) => {
                let len = p.chars().count();
                let have = current.chars().count();
                if have > 0 && have + 2 + len > max {
                    flush(&mut current, &heading, &mut chunks);
                }
                if len > max {
                    for piece in split_long(&p, max) {
                        current.push_str(&piece);
                        flush(&mut current, &heading, &mut chunks);
                    }
                } else {
                    if !current.is_empty() {
                        current.push_str("\n\n");
                    }
                    current.push_str(&p);
                }
            }
        }
    }
    flush(&mut current, &heading, &mut chunks);
    chunks
}

enum Block {
    Heading(String),
    Para(String),
}

/// Paragraphs (split at blank lines) and, in Markdown, heading lines (outside
/// fenced code).
fn blocks(text: &str, kind: DocKind) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para = String::new();
    let mut in_fence = false;
    let end_para = |para: &mut String, out: &mut Vec<Block>| {
        if !para.trim().is_empty() {
            out.push(Block::Para(para.trim_end().to_owned()));
        }
        para.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if kind == DocKind::Markdown {
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                in_fence = !in_fence;
            }
            if !in_fence && trimmed.starts_with('#') {
                let title = trimmed.trim_start_matches('#');
                if title.starts_with(' ') || title.is_empty() {
                    end_para(&mut para, &mut out);
                    let title = title.trim();
                    if !title.is_empty() {
                        out.push(Block::Heading(title.to_owned()));
                    }
                    continue;
                }
            }
        }
        if line.trim().is_empty() && !in_fence {
            end_para(&mut para, &mut out);
        } else {
            if !para.is_empty() {
                para.push('\n');
            }
            para.push_str(line);
        }
    }
    end_para(&mut para, &mut out);
    out
}

/// Pieces of at most `max` characters: cut after a sentence end or newline if
/// one is in the second half of the window, else at the last space, else
/// anywhere.
fn split_long(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        // Byte offset of the window's end (max characters in).
        let end = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..end];
        let half = window.char_indices().nth(max / 2).map_or(0, |(i, _)| i);
        let sentence = window[half..]
            .rmatch_indices(['.', '!', '?', '\n', '。'])
            .next()
            .map(|(i, m)| half + i + m.len());
        let space = window[half..].rfind(char::is_whitespace).map(|i| half + i);
        let cut = sentence.or(space).unwrap_or(end);
        let (piece, tail) = rest.split_at(cut);
        if !piece.trim().is_empty() {
            out.push(piece.trim().to_owned());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_never_cross_headings_and_remember_them() {
        let md = "Intro line.\n\n# Otters\n\nThey sleep.\n\n## Food\n\nFish.\n";
        let chunks = chunk_text(md, DocKind::Markdown, 1000);
        assert_eq!(
            chunks,
            vec![
                Chunk {
                    text: "Intro line.".into(),
                    heading: None
                },
                Chunk {
                    text: "They sleep.".into(),
                    heading: Some("Otters".into())
                },
                Chunk {
                    text: "Fish.".into(),
                    heading: Some("Food".into())
                },
            ]
        );
        assert_eq!(chunks[2].embed_text(), "Food\nFish.");
    }

    #[test]
    fn hashes_in_code_fences_and_plain_text_are_not_headings() {
        let md = "```\n# comment\n```\n";
        let chunks = chunk_text(md, DocKind::Markdown, 1000);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.contains("# comment"));
        assert!(chunks[0].heading.is_none());
        let txt = chunk_text("# not a heading\n", DocKind::Text, 1000);
        assert_eq!(txt[0].text, "# not a heading");
    }

    #[test]
    fn paragraphs_pack_up_to_the_limit() {
        let para = "word ".repeat(20); // 100 chars
        let text = [para.trim(); 5].join("\n\n");
        let chunks = chunk_text(&text, DocKind::Text, 250);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 250));
    }

    #[test]
    fn long_paragraphs_split_at_sentences_then_anywhere_within_the_limit() {
        let text = "This is one sentence. ".repeat(30);
        let chunks = chunk_text(&text, DocKind::Text, 100);
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(c.text.chars().count() <= 100, "{}", c.text);
            assert!(c.text.ends_with('.'), "{}", c.text);
        }
        let unbroken = "é".repeat(230);
        let chunks = chunk_text(&unbroken, DocKind::Text, 100);
        assert_eq!(
            chunks
                .iter()
                .map(|c| c.text.chars().count())
                .collect::<Vec<_>>(),
            vec![100, 100, 30]
        );
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(chunk_text(" \n\n \n", DocKind::Markdown, 100).is_empty());
    }
}
