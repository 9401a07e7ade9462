//! Documents in a turn: the text of the collection attached to a conversation
//! enters the prompt as one delimited context block, before the context is
//! fitted and before the cloud guard (so a cloud model gets it only redacted,
//! and only once the policy let the turn go there).
//!
//! - **whole**: the collection's full text, when it fits the model's window
//!   with the conversation and room for the answer;
//! - **retrieval**: otherwise, the question embedded locally and the
//!   collection searched (hearth-docs' hybrid search), the best chunks kept
//!   while they fit a token budget.
//!
//! Each source is numbered (`[1] contract.md § Termination`) and the model is
//! asked to cite them as `[n]`; the numbered sources become the answer's
//! [`Citation`]s.

use std::collections::BTreeSet;

use hearth_backend::{BackendError, ChatBackend, ChatRequest, ErrorKind, Message, Role};
use hearth_store::{ChunkHit, Citation};
use serde::{Deserialize, Serialize};

use crate::CoreError;
use crate::turn::context;

/// Chunks asked of the search before the budget picks what fits.
pub(crate) const RETRIEVE: usize = 8;

/// Tokens of document text a model with no known window (a cloud model) may
/// get, estimated at four characters a token.
pub(crate) const UNKNOWN_WINDOW_DOC_TOKENS: usize = 6000;

/// Characters of a source kept as its citation's snippet.
const SNIPPET_CHARS: usize = 120;

/// How the documents entered a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum DocMode {
    /// The whole text of every file.
    Whole,
    /// The passages the search found best.
    Retrieval,
}

impl DocMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whole => "whole",
            Self::Retrieval => "retrieval",
        }
    }
}

/// What a turn was given from the documents, for the front end to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct DocumentsUsed {
    pub collection: String,
    pub mode: DocMode,
    /// Numbered sources: files (whole) or passages (retrieval).
    pub sources: u32,
    /// Distinct files among them.
    pub files: u32,
    /// Characters of document text in the prompt.
    pub chars: u32,
}

impl DocumentsUsed {
    /// One line for people: `using 3 passages from "notes" (retrieval)`.
    pub fn summary(&self) -> String {
        match self.mode {
            DocMode::Whole => format!(
                "using whole documents ({} {}) from \"{}\"",
                self.files,
                if self.files == 1 { "file" } else { "files" },
                self.collection
            ),
            DocMode::Retrieval => format!(
                "using {} {} from \"{}\" (retrieval)",
                self.sources,
                if self.sources == 1 {
                    "passage"
                } else {
                    "passages"
                },
                self.collection
            ),
        }
    }
}

/// One numbered source of the block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Passage {
    pub(crate) source: String,
    pub(crate) heading: Option<String>,
    /// The page, for a retrieved chunk of a document with pages (PDF).
    pub(crate) page: Option<u32>,
    pub(crate) chunk_id: Option<i64>,
    pub(crate) text: String,
}

/// The documents of one turn: the block to add and what to record.
#[derive(Debug, Clone)]
pub(crate) struct Grounding {
    pub(crate) used: DocumentsUsed,
    pub(crate) citations: Vec<Citation>,
    pub(crate) block: String,
}

impl Grounding {
    fn new(collection: &str, mode: DocMode, passages: &[Passage]) -> Self {
        let block = context_block(collection, passages);
        let files: BTreeSet<&str> = passages.iter().map(|p| p.source.as_str()).collect();
        let chars: usize = passages.iter().map(|p| p.text.chars().count()).sum();
        let citations = passages
            .iter()
            .zip(1u32..)
            .map(|(p, n)| Citation {
                n,
                collection: collection.to_owned(),
                source: p.source.clone(),
                heading: p.heading.clone(),
                page: p.page,
                chunk_id: p.chunk_id,
                snippet: snippet(&p.text),
                mode: mode.as_str().to_owned(),
            })
            .collect();
        Self {
            used: DocumentsUsed {
                collection: collection.to_owned(),
                mode,
                sources: count(passages.len()),
                files: count(files.len()),
                chars: count(chars),
            },
            citations,
            block,
        }
    }

    /// `request` with the block in its system prompt.
    pub(crate) fn apply(&self, request: ChatRequest) -> ChatRequest {
        with_block(request, &self.block)
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every file of a collection as one source, its chunks joined in order
/// (with their headings back).
pub(crate) fn whole_passages(chunks: &[ChunkHit]) -> Vec<Passage> {
    let mut out: Vec<Passage> = Vec::new();
    let mut heading: Option<&str> = None;
    for c in chunks {
        let same_file = out.last().is_some_and(|p| p.source == c.source);
        if !same_file {
            heading = None;
            out.push(Passage {
                source: c.source.clone(),
                heading: None,
                page: None,
                chunk_id: Some(c.chunk_id),
                text: String::new(),
            });
        }
        let Some(p) = out.last_mut() else { continue };
        if !p.text.is_empty() {
            p.text.push_str("\n\n");
        }
        if let Some(h) = c.heading.as_deref().filter(|h| Some(*h) != heading) {
            p.text.push_str("## ");
            p.text.push_str(h);
            p.text.push_str("\n\n");
        }
        heading = c.heading.as_deref();
        p.text.push_str(&c.text);
    }
    out
}

/// A search hit as a source.
pub(crate) fn passage(hit: hearth_docs::SearchHit) -> Passage {
    Passage {
        source: hit.source,
        heading: hit.heading,
        page: hit.page,
        chunk_id: Some(hit.chunk_id),
        text: hit.text,
    }
}

fn file_name(source: &str) -> &str {
    source
        .rsplit(['/', '\\'])
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(source)
}

/// The context block: an instruction, then each source numbered and named,
/// between markers the model can tell from the conversation.
pub(crate) fn context_block(collection: &str, passages: &[Passage]) -> String {
    let mut out = format!(
        "Answer using the documents below, from the user's collection \"{collection}\". \
         Cite the sources you use as [n] (for example [1]). If the documents do not \
         answer the question, say so.\n\n<documents>\n"
    );
    for (n, p) in (1..).zip(passages) {
        let page = p.page.map(|p| format!(", page {p}")).unwrap_or_default();
        let heading = p
            .heading
            .as_deref()
            .map(|h| format!(", {h}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "[{n}] {}{page}{heading}\n{}\n\n",
            file_name(&p.source),
            p.text.trim_end()
        ));
    }
    out.push_str("</documents>");
    out
}

/// `request` with `block` at the end of its system prompt (one system
/// message, first: what every chat template accepts, and what fitting keeps).
pub(crate) fn with_block(mut request: ChatRequest, block: &str) -> ChatRequest {
    match request.messages.first_mut() {
        Some(first) if first.role == Role::System => {
            if !first.content.trim().is_empty() {
                first.content.push_str("\n\n");
            }
            first.content.push_str(block);
        }
        _ => request.messages.insert(0, Message::system(block)),
    }
    request
}

/// The start of a source's text on one line.
fn snippet(text: &str) -> String {
    // The headings a whole document got back are in the citation already.
    let flat = text
        .lines()
        .filter(|l| !l.starts_with("## "))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() <= SNIPPET_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(SNIPPET_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// The question of the turn: the last user message.
pub(crate) fn question(request: &ChatRequest) -> Option<&str> {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
}

/// How much document text a turn can take.
pub(crate) enum Budget<'a> {
    /// The backend counts tokens in a known window.
    Counted {
        backend: &'a dyn ChatBackend,
        request: &'a ChatRequest,
        /// The window less the room kept for the answer.
        room: usize,
        /// The prompt with only the system prompt and the last turn.
        minimal: Box<ChatRequest>,
        minimal_tokens: usize,
        /// Tokens the block may take.
        doc_tokens: usize,
    },
    /// Nothing counts: characters / 4 against a fixed allowance.
    Estimated { doc_tokens: usize },
}

impl<'a> Budget<'a> {
    /// The budget of `request` on `backend` (`None`, or a backend that knows
    /// no window: estimated).
    pub(crate) fn new(
        backend: Option<&'a dyn ChatBackend>,
        request: &'a ChatRequest,
    ) -> Result<Self, CoreError> {
        let Some((backend, window)) = backend.and_then(|b| b.context_window().map(|w| (b, w)))
        else {
            return Ok(Self::Estimated {
                doc_tokens: UNKNOWN_WINDOW_DOC_TOKENS,
            });
        };
        let reserve = context::reserve_for_answer(window, request.max_tokens.map(|t| t as usize));
        let room = window.saturating_sub(reserve);
        let minimal = minimal_request(request);
        let full_tokens = counted(backend, request)?;
        let minimal_tokens = counted(backend, &minimal)?;
        // What the conversation leaves, but at least a third of the room
        // (older turns are then dropped by fitting), and never more than the
        // last turn leaves.
        let doc_tokens = room
            .saturating_sub(full_tokens)
            .max(room / 3)
            .min(room.saturating_sub(minimal_tokens));
        Ok(Self::Counted {
            backend,
            request,
            room,
            minimal: Box::new(minimal),
            minimal_tokens,
            doc_tokens,
        })
    }

    /// Characters of document text above which the whole collection cannot
    /// fit, whatever its tokens (no tokenizer averages 8 characters a token
    /// over real text), so it is neither loaded nor counted.
    pub(crate) fn max_chars(&self) -> usize {
        match self {
            Self::Counted { room, .. } => room.saturating_mul(8),
            Self::Estimated { doc_tokens } => doc_tokens.saturating_mul(4),
        }
    }

    /// Whether the whole collection fits with the whole conversation.
    pub(crate) fn whole_fits(&self, block: &str) -> Result<bool, CoreError> {
        match self {
            Self::Counted {
                backend,
                request,
                room,
                ..
            } => Ok(counted(*backend, &with_block((*request).clone(), block))? <= *room),
            Self::Estimated { doc_tokens } => Ok(block.len() / 4 <= *doc_tokens),
        }
    }

    /// Whether `block` fits the allowance for document text.
    pub(crate) fn block_fits(&self, block: &str) -> Result<bool, CoreError> {
        match self {
            Self::Counted {
                backend,
                minimal,
                minimal_tokens,
                doc_tokens,
                ..
            } => {
                let with = counted(*backend, &with_block((**minimal).clone(), block))?;
                Ok(with.saturating_sub(*minimal_tokens) <= *doc_tokens)
            }
            Self::Estimated { doc_tokens } => Ok(block.len() / 4 <= *doc_tokens),
        }
    }
}

/// The system prompt and the last turn: what fitting always keeps.
fn minimal_request(request: &ChatRequest) -> ChatRequest {
    let mut minimal = request.clone();
    let system = request
        .messages
        .first()
        .filter(|m| m.role == Role::System)
        .cloned();
    let last_user = request
        .messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(0);
    minimal.messages = system
        .into_iter()
        .chain(request.messages[last_user..].iter().cloned())
        .filter(|m| !(m.role == Role::System && m.content.is_empty()))
        .collect();
    minimal
}

fn counted(backend: &dyn ChatBackend, request: &ChatRequest) -> Result<usize, CoreError> {
    backend
        .count_tokens(request)
        .and_then(|n| {
            n.ok_or_else(|| {
                BackendError::new(
                    ErrorKind::Local,
                    "the backend has a context window but cannot count tokens",
                )
            })
        })
        .map_err(|err| CoreError::from_backend(&backend.id(), err))
}

/// The documents of a turn, given the collection's whole text (`chunks`;
/// `None` when it is known to be too big to try) and a search for the
/// retrieval case (called only when the whole does not fit).
pub(crate) fn ground(
    collection: &str,
    chunks: Option<&[ChunkHit]>,
    budget: &Budget<'_>,
    search: impl FnOnce() -> Result<Vec<Passage>, CoreError>,
) -> Result<Grounding, CoreError> {
    if let Some(chunks) = chunks {
        let whole = whole_passages(chunks);
        let whole_block = context_block(collection, &whole);
        if budget.whole_fits(&whole_block)? {
            return Ok(Grounding::new(collection, DocMode::Whole, &whole));
        }
    }
    let mut kept: Vec<Passage> = Vec::new();
    for p in search()? {
        kept.push(p);
        if !budget.block_fits(&context_block(collection, &kept))? {
            kept.pop();
            break;
        }
    }
    Ok(Grounding::new(collection, DocMode::Retrieval, &kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: i64, source: &str, heading: Option<&str>, text: &str) -> ChunkHit {
        ChunkHit {
            chunk_id: id,
            source: source.into(),
            ord: 0,
            heading: heading.map(Into::into),
            page: None,
            text: text.into(),
        }
    }

    #[test]
    fn whole_documents_are_one_source_per_file_with_their_headings() {
        let chunks = [
            chunk(1, "/d/a.md", Some("Intro"), "one"),
            chunk(2, "/d/a.md", Some("Intro"), "two"),
            chunk(3, "/d/a.md", Some("End"), "three"),
            chunk(4, "/d/b.txt", None, "bee"),
        ];
        let whole = whole_passages(&chunks);
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].text, "## Intro\n\none\n\ntwo\n\n## End\n\nthree");
        assert_eq!(whole[0].chunk_id, Some(1));
        assert_eq!(whole[1].text, "bee");
        let block = context_block("notes", &whole);
        assert!(block.contains("[1] a.md\n## Intro"), "{block}");
        assert!(block.contains("[2] b.txt\nbee"), "{block}");
        assert!(block.contains("as [n]") && block.ends_with("</documents>"));
    }

    #[test]
    fn the_block_joins_the_system_prompt_or_becomes_it() {
        let req = ChatRequest {
            messages: vec![Message::system("be brief"), Message::user("q")],
            ..ChatRequest::default()
        };
        let req = with_block(req, "BLOCK");
        assert_eq!(req.messages[0].content, "be brief\n\nBLOCK");
        assert_eq!(req.messages.len(), 2);
        let req = with_block(
            ChatRequest {
                messages: vec![Message::user("q")],
                ..ChatRequest::default()
            },
            "BLOCK",
        );
        assert_eq!(req.messages[0], Message::system("BLOCK"));
    }

    #[test]
    fn estimated_budgets_switch_to_retrieval_and_keep_what_fits() {
        let big = "word ".repeat(UNKNOWN_WINDOW_DOC_TOKENS * 2);
        let chunks = [chunk(1, "/d/big.txt", None, &big)];
        let budget = Budget::Estimated { doc_tokens: 200 };
        let small = "a short passage ".repeat(10);
        let g = ground("notes", Some(&chunks), &budget, || {
            Ok(vec![
                passage(hit(&small, 7)),
                passage(hit(&small, 8)),
                passage(hit(&big, 9)),
            ])
        })
        .unwrap();
        assert_eq!(g.used.mode, DocMode::Retrieval);
        assert_eq!(g.used.sources, 2);
        assert_eq!(g.citations[1].chunk_id, Some(8));
        assert_eq!(g.citations[1].n, 2);
        assert!(g.citations[0].snippet.ends_with('…'));
        assert_eq!(
            g.used.summary(),
            "using 2 passages from \"notes\" (retrieval)"
        );

        let g = ground("notes", Some(&chunks[..0]), &budget, || unreachable!()).unwrap();
        assert_eq!(g.used.mode, DocMode::Whole);
        // Known too big: straight to retrieval.
        let g = ground("notes", None, &budget, || Ok(vec![])).unwrap();
        assert_eq!(g.used.mode, DocMode::Retrieval);
    }

    fn hit(text: &str, chunk_id: i64) -> hearth_docs::SearchHit {
        hearth_docs::SearchHit {
            score: 1.0,
            chunk_id,
            cosine: None,
            bm25: None,
            source: "/d/s.md".into(),
            heading: Some("H".into()),
            page: None,
            ord: 0,
            text: text.into(),
        }
    }
}
