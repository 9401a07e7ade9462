//! JSON mode that starts late: free text until a marker (a tool call's
//! opening, `<tool_call>`) is written, then the JSON that follows is held to a
//! schema until it closes, then free text again (for the next call, or the
//! end of the turn). llama.cpp calls this a lazy grammar.

use std::sync::Arc;

use super::{JsonMode, Schema};
use crate::vocab::Vocab;

/// A lazily started JSON constraint.
#[derive(Debug)]
pub(crate) struct LazyJson {
    markers: &'static [&'static str],
    /// Whether a `{` opening the answer (after whitespace) starts a value
    /// too (Llama 3 calls have no marker).
    json_start: bool,
    schema: Arc<Schema>,
    /// The constraint of the value being written, if one is.
    active: Option<JsonMode>,
    /// Everything written so far.
    written: Vec<u8>,
    /// Markers are looked for from here on.
    scan_from: usize,
    /// Tokens tried by the masks of values already finished.
    tried: usize,
    /// Values started.
    started: usize,
}

impl LazyJson {
    pub(crate) fn new(
        markers: &'static [&'static str],
        json_start: bool,
        schema: Arc<Schema>,
    ) -> Self {
        Self {
            markers,
            json_start,
            schema,
            active: None,
            written: Vec::new(),
            scan_from: 0,
            tried: 0,
            started: 0,
        }
    }

    /// Whether a value is being written under the constraint.
    pub(crate) fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether `bytes` could come next in the value being written.
    #[cfg(test)]
    pub(crate) fn takes(&self, bytes: &[u8]) -> bool {
        self.active.as_ref().is_some_and(|a| a.takes(bytes))
    }

    /// How many values were started, and the tokens their masks tried.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let active = self.active.as_ref().map_or(0, JsonMode::tried);
        (self.started, self.tried + active)
    }

    /// Masks `logits` while a value is being written; leaves them alone
    /// otherwise.
    pub(crate) fn mask(&mut self, logits: &mut [f32], vocab: &dyn Vocab, tokens_left: usize) {
        if let Some(active) = &mut self.active {
            active.mask(logits, vocab, tokens_left);
        }
    }

    /// Records the chosen token's bytes.
    pub(crate) fn accept(&mut self, bytes: &[u8]) {
        self.written.extend_from_slice(bytes);
        if let Some(active) = &mut self.active {
            active.accept(bytes);
            if active.complete() {
                self.tried += active.tried();
                self.active = None;
                self.scan_from = self.written.len();
            }
            return;
        }
        self.look_for_start();
    }

    fn look_for_start(&mut self) {
        let rest = &self.written[self.scan_from..];
        let found = self
            .markers
            .iter()
            .filter_map(|m| find(rest, m.as_bytes()).map(|at| self.scan_from + at + m.len()))
            .min();
        let start = match found {
            Some(after) => Some(after),
            None if self.json_start && self.scan_from == 0 => {
                let text = &self.written;
                match text.iter().position(|b| !b.is_ascii_whitespace()) {
                    Some(at) if text[at] == b'{' => Some(at),
                    // Not a bare call: look no further for one.
                    Some(_) => {
                        self.json_start = false;
                        None
                    }
                    None => None,
                }
            }
            None => None,
        };
        let Some(start) = start else {
            // Keep a tail that may be a marker's beginning.
            let longest = self.markers.iter().map(|m| m.len()).max().unwrap_or(1);
            let keep = self.written.len().saturating_sub(longest - 1);
            if !(self.json_start && self.scan_from == 0) {
                self.scan_from = self.scan_from.max(keep);
            }
            return;
        };
        let mut mode = JsonMode::with_schema(Arc::clone(&self.schema));
        self.scan_from = self.written.len();
        self.json_start = false;
        if mode.start_with(&self.written[start..]) {
            self.started += 1;
            if !mode.complete() {
                self.active = Some(mode);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lazy(markers: &'static [&'static str], json_start: bool) -> LazyJson {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"]
        }));
        LazyJson::new(markers, json_start, Arc::new(schema))
    }

    #[test]
    fn the_constraint_starts_at_the_marker_and_ends_with_the_value() {
        let mut l = lazy(&["<call>"], false);
        for piece in ["Let me ", "<ca", "ll>"] {
            l.accept(piece.as_bytes());
        }
        assert!(l.is_active());
        for piece in ["\n{\"a\"", ": 1", "}"] {
            l.accept(piece.as_bytes());
        }
        assert!(!l.is_active());
        l.accept(b"</call> and <call>");
        assert!(l.is_active());
        assert_eq!(l.counts().0, 2);
    }

    #[test]
    fn text_after_the_marker_that_cannot_start_the_value_leaves_it_free() {
        let mut l = lazy(&["<call>"], false);
        l.accept(b"<call>[1]");
        assert!(!l.is_active());
        assert_eq!(l.counts().0, 0);
    }

    #[test]
    fn a_bare_object_opening_the_answer_starts_it_when_asked() {
        let mut l = lazy(&["<|python_tag|>"], true);
        l.accept(b"  {\"");
        assert!(l.is_active());
        let mut l = lazy(&["<|python_tag|>"], true);
        l.accept(b"Hello {");
        assert!(!l.is_active());
    }
}
