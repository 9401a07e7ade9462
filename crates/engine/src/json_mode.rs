//! JSON mode (`response_format: {"type": "json_object"}`): the answer is one
//! JSON object, enforced while sampling.
//!
//! Before each draw, the most likely tokens are tried against [`JsonPrefix`], a
//! byte-level recogniser of JSON prefixes; tokens that would break the object
//! get no probability. Generation ends as soon as the top-level object closes.
//! When the tokens left (`max_tokens` or the context window) are about to run
//! out, only tokens that bring the object closer to closed are allowed, so the
//! answer is whole JSON even when a model would ramble on.
//! Learned from llama.cpp's grammar sampler; written for Hearth as a small
//! pushdown automaton instead of a general grammar engine.
//!
//! A JSON Schema can hold the answer to more than JSON (`schema.rs`): the
//! recogniser reports what each byte was ([`Event`]) and the schema's checker
//! follows those reports, so there is one JSON grammar, with the schema on top.
//! `lazy.rs` applies the same constraint to tool calls in free text, from the
//! moment a call's marker appears.

mod lazy;
mod schema;

use std::sync::Arc;

pub(crate) use lazy::LazyJson;
pub(crate) use schema::Schema;

use crate::vocab::Vocab;

/// Candidates tried first (the rest only when none of these fits).
const FIRST_TRY: usize = 256;
/// Allowed tokens kept for the draw.
const KEEP: usize = 64;
/// Nesting deeper than this is refused (a model stuck opening brackets).
const MAX_DEPTH: usize = 32;
/// Whitespace in a row outside strings (a model stuck on newlines).
const MAX_WHITESPACE_RUN: usize = 24;
/// Tokens beyond the closing cost at which closing starts.
const CLOSING_SLACK: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    /// Hex digits of a `\uXXXX` still to come.
    Hex(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Number {
    fn next(self, b: u8) -> Option<Number> {
        use Number::*;
        Some(match (self, b) {
            (Minus, b'0') => Zero,
            (Minus, b'1'..=b'9') => Int,
            (Int, b'0'..=b'9') => Int,
            (Zero | Int, b'.') => Dot,
            (Dot | Frac, b'0'..=b'9') => Frac,
            (Zero | Int | Frac, b'e' | b'E') => Exp,
            (Exp, b'+' | b'-') => ExpSign,
            (Exp | ExpSign | ExpDigits, b'0'..=b'9') => ExpDigits,
            _ => return None,
        })
    }

    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Int | Number::Frac | Number::ExpDigits
        )
    }
}

/// What one byte of the JSON text was, as the recogniser read it (the
/// schema's checker follows these; whitespace between tokens reports nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The first byte of a value: `{`, `[`, `"`, `-`, a digit, `t`, `f`, `n`.
    Value(u8),
    /// A later byte of a string (its closing quote included), number or
    /// `true`/`false`/`null`.
    Inner(u8),
    /// The string, number or literal being written ended (for a number, just
    /// before the byte that follows it is reported).
    End,
    /// A byte of an object key, its quotes included.
    Key(u8),
    /// The key's closing quote was the last [`Event::Key`].
    KeyEnd,
    Colon,
    Comma,
    /// `}` or `]`.
    Close(u8),
}

impl Event {
    /// The byte the event stands for (none for the ends).
    pub(crate) fn byte(self) -> Option<u8> {
        match self {
            Self::Value(b) | Self::Inner(b) | Self::Key(b) | Self::Close(b) => Some(b),
            Self::Colon => Some(b':'),
            Self::Comma => Some(b','),
            Self::End | Self::KeyEnd => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Before the top-level `{`.
    Start,
    /// After `{`: a key or `}`.
    ObjectOpen,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// A value must start.
    Value,
    /// After `[`: a value or `]`.
    ArrayOpen,
    /// After a value: `,` or the container's closing bracket.
    After,
    String {
        key: bool,
        escape: Escape,
    },
    Number(Number),
    Literal {
        word: &'static [u8],
        at: usize,
    },
    /// The top-level object is closed.
    Done,
}

/// Recognises prefixes of a JSON text whose top level is an object.
#[derive(Debug, Clone)]
pub(crate) struct JsonPrefix {
    stack: Vec<Container>,
    mode: Mode,
    whitespace_run: usize,
    /// Whether the top level may be an array too (a list of tool calls).
    top_array: bool,
}

impl Default for JsonPrefix {
    fn default() -> Self {
        Self {
            stack: Vec::new(),
            mode: Mode::Start,
            whitespace_run: 0,
            top_array: false,
        }
    }
}

impl JsonPrefix {
    /// Whether the top-level object has closed.
    pub(crate) fn complete(&self) -> bool {
        self.mode == Mode::Done
    }

    /// The fewest bytes that would complete the object from here (`"k":0` for
    /// a pending key, a digit for `-`, the rest of `tru`, each open bracket).
    pub(crate) fn closing_cost(&self) -> usize {
        let escape = |e: Escape| match e {
            Escape::None => 0,
            Escape::Backslash => 1,
            Escape::Hex(n) => usize::from(n),
        };
        let here = match self.mode {
            Mode::Start => 2,
            Mode::ObjectOpen | Mode::ArrayOpen | Mode::After | Mode::Done => 0,
            Mode::Key => 5,
            Mode::Colon => 2,
            Mode::Value => 1,
            Mode::String {
                key: true,
                escape: e,
            } => escape(e) + 3,
            Mode::String {
                key: false,
                escape: e,
            } => escape(e) + 1,
            Mode::Number(n) => usize::from(!n.complete()),
            Mode::Literal { word, at } => word.len() - at,
        };
        here + self.stack.len()
    }

    /// Feeds `bytes`; `false` (and a state not to be used further) when they
    /// cannot continue a JSON object.
    pub(crate) fn feed_all(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed(b, &mut |_| true))
    }

    /// Feeds one byte, reporting what it was to `out`, which may refuse it.
    fn feed(&mut self, b: u8, out: &mut impl FnMut(Event) -> bool) -> bool {
        let whitespace = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let in_token = matches!(
            self.mode,
            Mode::String { .. } | Mode::Number(_) | Mode::Literal { .. }
        );
        if whitespace && !in_token {
            self.whitespace_run += 1;
            return self.whitespace_run <= MAX_WHITESPACE_RUN;
        }
        if !in_token {
            self.whitespace_run = 0;
        }
        match self.mode {
            Mode::Start => match b {
                b'{' => self.open(Container::Object) && out(Event::Value(b)),
                b'[' if self.top_array => self.open(Container::Array) && out(Event::Value(b)),
                _ => false,
            },
            Mode::ObjectOpen => match b {
                b'"' => self.string(true) && out(Event::Key(b)),
                b'}' => self.close(Container::Object) && out(Event::Close(b)),
                _ => false,
            },
            Mode::Key => b == b'"' && self.string(true) && out(Event::Key(b)),
            Mode::Colon => {
                self.mode = Mode::Value;
                b == b':' && out(Event::Colon)
            }
            Mode::Value => self.value(b) && out(Event::Value(b)),
            Mode::ArrayOpen if b == b']' => self.close(Container::Array) && out(Event::Close(b)),
            Mode::ArrayOpen => self.value(b) && out(Event::Value(b)),
            Mode::After => match (b, self.stack.last()) {
                (b',', Some(Container::Object)) => {
                    self.mode = Mode::Key;
                    out(Event::Comma)
                }
                (b',', Some(Container::Array)) => {
                    self.mode = Mode::Value;
                    out(Event::Comma)
                }
                (b'}', _) => self.close(Container::Object) && out(Event::Close(b)),
                (b']', _) => self.close(Container::Array) && out(Event::Close(b)),
                _ => false,
            },
            Mode::String { key, escape } => {
                if !self.in_string(key, escape, b) {
                    return false;
                }
                match (key, self.mode) {
                    (true, Mode::Colon) => out(Event::Key(b)) && out(Event::KeyEnd),
                    (true, _) => out(Event::Key(b)),
                    (false, Mode::After) => out(Event::Inner(b)) && out(Event::End),
                    (false, _) => out(Event::Inner(b)),
                }
            }
            Mode::Number(n) => match n.next(b) {
                Some(next) => {
                    self.mode = Mode::Number(next);
                    out(Event::Inner(b))
                }
                // The number ended; the byte belongs to what follows it.
                None if n.complete() => {
                    self.mode = Mode::After;
                    self.whitespace_run = 0;
                    out(Event::End) && self.feed(b, out)
                }
                None => false,
            },
            Mode::Literal { word, at } => {
                if word.get(at) != Some(&b) {
                    return false;
                }
                if at + 1 == word.len() {
                    self.mode = Mode::After;
                    out(Event::Inner(b)) && out(Event::End)
                } else {
                    self.mode = Mode::Literal { word, at: at + 1 };
                    out(Event::Inner(b))
                }
            }
            Mode::Done => false,
        }
    }

    fn value(&mut self, b: u8) -> bool {
        self.mode = match b {
            b'{' => return self.open(Container::Object),
            b'[' => return self.open(Container::Array),
            b'"' => return self.string(false),
            b'-' => Mode::Number(Number::Minus),
            b'0' => Mode::Number(Number::Zero),
            b'1'..=b'9' => Mode::Number(Number::Int),
            b't' => Mode::Literal {
                word: b"true",
                at: 1,
            },
            b'f' => Mode::Literal {
                word: b"false",
                at: 1,
            },
            b'n' => Mode::Literal {
                word: b"null",
                at: 1,
            },
            _ => return false,
        };
        true
    }

    fn open(&mut self, container: Container) -> bool {
        if self.stack.len() >= MAX_DEPTH {
            return false;
        }
        self.stack.push(container);
        self.mode = match container {
            Container::Object => Mode::ObjectOpen,
            Container::Array => Mode::ArrayOpen,
        };
        true
    }

    fn close(&mut self, container: Container) -> bool {
        if self.stack.pop() != Some(container) {
            return false;
        }
        self.mode = if self.stack.is_empty() {
            Mode::Done
        } else {
            Mode::After
        };
        true
    }

    fn string(&mut self, key: bool) -> bool {
        self.mode = Mode::String {
            key,
            escape: Escape::None,
        };
        true
    }

    fn in_string(&mut self, key: bool, escape: Escape, b: u8) -> bool {
        let escape = match (escape, b) {
            (Escape::None, b'"') => {
                self.mode = if key { Mode::Colon } else { Mode::After };
                return true;
            }
            (Escape::None, b'\\') => Escape::Backslash,
            // Control characters must be escaped inside strings.
            (Escape::None, 0..=0x1f) => return false,
            (Escape::None, _) => Escape::None,
            (Escape::Backslash, b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                Escape::None
            }
            (Escape::Backslash, b'u') => Escape::Hex(4),
            (Escape::Hex(n), b) if b.is_ascii_hexdigit() => {
                if n == 1 {
                    Escape::None
                } else {
                    Escape::Hex(n - 1)
                }
            }
            _ => return false,
        };
        self.mode = Mode::String { key, escape };
        true
    }
}

/// A JSON prefix, held to a schema when there is one.
#[derive(Debug, Clone, Default)]
struct Checked {
    json: JsonPrefix,
    schema: Option<schema::Checker>,
}

impl Checked {
    fn complete(&self) -> bool {
        self.json.complete()
    }

    fn feed_all(&mut self, bytes: &[u8]) -> bool {
        match &mut self.schema {
            None => self.json.feed_all(bytes),
            Some(checker) => bytes
                .iter()
                .all(|&b| self.json.feed(b, &mut |event| checker.feed(event))),
        }
    }

    fn closing_cost(&self) -> usize {
        self.json.closing_cost()
            + self
                .schema
                .as_ref()
                .map_or(0, schema::Checker::closing_cost)
    }
}

/// The constraint one generation runs under.
#[derive(Debug, Default)]
pub(crate) struct JsonMode {
    prefix: Checked,
    order: Vec<u32>,
    /// Tokens tried against the constraint so far (for measurements).
    tried: usize,
}

impl JsonMode {
    /// JSON mode whose answer is also held to `schema` (see `schema.rs` for
    /// what is enforced); a schema for an array lets the top level be one.
    pub(crate) fn with_schema(schema: Arc<Schema>) -> Self {
        if schema.capped() {
            tracing::debug!("a JSON Schema is larger than the budget: part of it is not enforced");
        }
        let top_array = schema.root_is_array();
        if !schema.root_admits(if top_array { b'[' } else { b'{' }) {
            // A schema for a bare string or number: JSON mode writes objects
            // only, so plain JSON mode it is.
            return Self::default();
        }
        let json = JsonPrefix {
            top_array,
            ..JsonPrefix::default()
        };
        Self {
            prefix: Checked {
                json,
                schema: Some(schema::Checker::new(schema)),
            },
            ..Self::default()
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.prefix.complete()
    }

    /// How many tokens the masks so far tried against the constraint.
    pub(crate) fn tried(&self) -> usize {
        self.tried
    }

    /// Records the chosen token.
    pub(crate) fn accept(&mut self, bytes: &[u8]) {
        // A token the mask allowed always fits; if a caller passes another, the
        // recogniser simply stops accepting anything more.
        let _ = self.prefix.feed_all(bytes);
    }

    /// Whether `bytes` could come next.
    #[cfg(test)]
    pub(crate) fn takes(&self, bytes: &[u8]) -> bool {
        self.prefix.clone().feed_all(bytes)
    }

    /// Feeds text written before the constraint started (a lazy tool call's
    /// first bytes); `false`: it cannot start the constrained value.
    pub(crate) fn start_with(&mut self, bytes: &[u8]) -> bool {
        self.prefix.feed_all(bytes)
    }

    /// Leaves probability only on tokens that keep the answer a JSON object
    /// (the most likely [`KEEP`] of them). End-of-turn tokens are allowed only
    /// once the object is complete. With `tokens_left` about to run out, only
    /// tokens that lower [`JsonPrefix::closing_cost`] are allowed.
    pub(crate) fn mask(&mut self, logits: &mut [f32], vocab: &dyn Vocab, tokens_left: usize) {
        let cost = self.prefix.closing_cost();
        // Each allowed token lowers the cost by at least one byte, so this
        // leaves enough tokens to finish.
        let closing = tokens_left <= cost + CLOSING_SLACK;
        let prefix = &self.prefix;
        let tried = std::cell::Cell::new(0usize);
        let fits = |id: u32, closing: bool| {
            tried.set(tried.get() + 1);
            if vocab.is_stop(id) {
                return prefix.complete();
            }
            let bytes = vocab.bytes(id);
            let mut next = prefix.clone();
            // Never a token after which closing takes more tokens than are
            // left (each closing token writes at least one byte): a token that
            // opens a key just before the closing starts would strand it.
            !bytes.is_empty()
                && next.feed_all(bytes)
                && next.closing_cost() < tokens_left
                && (!closing || next.closing_cost() < cost)
        };
        self.order.clear();
        self.order.extend(0..logits.len() as u32);
        let by_logit = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]);
        let first = FIRST_TRY.min(self.order.len());
        if first < self.order.len() {
            self.order.select_nth_unstable_by(first, by_logit);
        }
        self.order[..first].sort_unstable_by(by_logit);
        let mut sorted = first;
        let mut kept = Vec::new();
        // Closing first if it is time; if no token can close (an odd
        // vocabulary), any token that fits.
        let passes: &[bool] = if closing { &[true, false] } else { &[false] };
        for &closing in passes {
            kept.extend(
                self.order[..sorted]
                    .iter()
                    .copied()
                    .filter(|&id| fits(id, closing))
                    .take(KEEP),
            );
            if kept.is_empty() && sorted < self.order.len() {
                // Nothing likely fits: look through the whole vocabulary.
                self.order[sorted..].sort_unstable_by(by_logit);
                sorted = self.order.len();
                kept.extend(
                    self.order[first..]
                        .iter()
                        .copied()
                        .filter(|&id| fits(id, closing))
                        .take(KEEP),
                );
            }
            if !kept.is_empty() {
                break;
            }
        }
        self.tried += tried.get();
        if kept.is_empty() {
            // No token can continue the object: leave the choice to the model
            // rather than draw from nothing.
            return;
        }
        let saved: Vec<(u32, f32)> = kept.iter().map(|&id| (id, logits[id as usize])).collect();
        logits.fill(f32::NEG_INFINITY);
        for (id, logit) in saved {
            logits[id as usize] = logit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(text: &str) -> bool {
        JsonPrefix::default().feed_all(text.as_bytes())
    }

    fn complete(text: &str) -> bool {
        let mut p = JsonPrefix::default();
        p.feed_all(text.as_bytes()) && p.complete()
    }

    #[test]
    fn whole_objects_are_complete() {
        for ok in [
            "{}",
            " {\"a\": 1}",
            "{\"a\": [1, -2.5e+3, 0, true, false, null, \"x\\n\\u00e9\"], \"b\": {\"c\": {}}}",
            "{\"name\":\"Zoë\",\"n\":[]}",
        ] {
            assert!(complete(ok), "{ok}");
        }
    }

    #[test]
    fn prefixes_are_accepted_but_not_complete() {
        for prefix in [
            "",
            "  ",
            "{",
            "{\"a",
            "{\"a\":",
            "{\"a\": [1,",
            "{\"a\": -",
            "{\"a\": tr",
            "{\"s\": \"\\u00",
        ] {
            assert!(accepts(prefix), "{prefix}");
            assert!(!complete(prefix), "{prefix}");
        }
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for bad in [
            "[1]",
            "hello",
            "{a: 1}",
            "{\"a\" 1}",
            "{\"a\": 01}",
            "{\"a\": 1.}",
            "{\"a\": tru}",
            "{\"a\": 1,}",
            "{\"a\": [1}",
            "{\"a\": \"\\x\"}",
            "{\"a\": \"line\nbreak\"}",
            "{} {}",
            "{}x",
        ] {
            assert!(!complete(bad) && !accepts(bad), "{bad}");
        }
    }

    #[test]
    fn runaway_whitespace_and_nesting_are_refused() {
        assert!(!accepts(&format!(
            "{{{}",
            " ".repeat(MAX_WHITESPACE_RUN + 1)
        )));
        assert!(accepts(&format!("{{\"a\": \"{}\"", " ".repeat(100))));
        let deep = format!("{{\"a\": {}", "[".repeat(MAX_DEPTH));
        assert!(!accepts(&deep));
    }

    struct Fake(Vec<&'static str>);

    impl Vocab for Fake {
        fn bytes(&self, id: u32) -> &[u8] {
            self.0[id as usize].as_bytes()
        }
        fn is_stop(&self, id: u32) -> bool {
            self.0[id as usize] == "</s>"
        }
    }

    #[test]
    fn the_mask_keeps_only_tokens_that_fit_and_the_end_only_when_complete() {
        let vocab = Fake(vec!["</s>", "Sure", "{", "{\"", "}", "\"a\"", ":", "1", ""]);
        let mut mode = JsonMode::default();
        let mut logits = vec![9.0, 8.0, 1.0, 2.0, 7.0, 3.0, 3.0, 3.0, 5.0];
        mode.mask(&mut logits, &vocab, 100);
        let allowed: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert_eq!(allowed, [2, 3]);
        mode.accept(b"{");
        let mut logits = vec![9.0; 9];
        mode.mask(&mut logits, &vocab, 100);
        let allowed: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert_eq!(allowed, [4, 5]);
        mode.accept(b"}");
        assert!(mode.complete());
        let mut logits = vec![1.0; 9];
        mode.mask(&mut logits, &vocab, 100);
        let allowed: Vec<usize> = (0..logits.len())
            .filter(|&i| logits[i].is_finite())
            .collect();
        assert_eq!(allowed, [0]);
    }

    #[test]
    fn closing_costs_count_what_is_left_to_write() {
        for (text, cost) in [
            ("", 2),
            ("{", 1),
            ("{\"a", 4),
            ("{\"a\"", 3),
            ("{\"a\":", 2),
            ("{\"a\": [tr", 4),
            ("{\"a\": -", 2),
            ("{\"a\": 1,", 6),
            ("{\"a\": {\"b\": \"x\\u0", 6),
            ("{}", 0),
        ] {
            let mut p = JsonPrefix::default();
            assert!(p.feed_all(text.as_bytes()), "{text}");
            assert_eq!(p.closing_cost(), cost, "{text}");
        }
    }

    #[test]
    fn running_out_of_tokens_closes_the_object() {
        let vocab = Fake(vec![
            "</s>", "{\"", "a", "\":", " [", "1", ",", "]", "}", "\"", ":",
        ]);
        let mut mode = JsonMode::default();
        let mut text = String::new();
        // A model that would open arrays forever: " [" is always the favourite.
        let logits = [0.0, 1.0, 2.0, 1.0, 9.0, 3.0, 4.0, 0.5, 0.5, 1.0, 0.1];
        for left in (1..=12).rev() {
            let mut l = logits;
            mode.mask(&mut l, &vocab, left);
            let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
            if vocab.is_stop(best as u32) {
                break;
            }
            text.push_str(vocab.0[best]);
            mode.accept(vocab.0[best].as_bytes());
        }
        assert!(mode.complete(), "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed.is_object(), "{text}");
    }

    #[test]
    fn a_token_that_leaves_more_to_close_than_tokens_left_is_refused() {
        // After `{"a": 1` a favourite `, "bbbb` (a new key) would need `": 0}`
        // and more: with 4 tokens left it is refused, and the object closes.
        let vocab = Fake(vec!["</s>", ", \"bbbb", "}", "\"", ":", "0"]);
        let mut mode = JsonMode::default();
        mode.accept(b"{\"a\": 1");
        let mut text = String::from("{\"a\": 1");
        for left in (1..=4).rev() {
            let mut l = [0.0, 9.0, 1.0, 1.0, 1.0, 1.0];
            mode.mask(&mut l, &vocab, left);
            let best = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
            if vocab.is_stop(best as u32) {
                break;
            }
            text.push_str(vocab.0[best]);
            mode.accept(vocab.0[best].as_bytes());
        }
        assert!(mode.complete(), "{text}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "{text}"
        );
    }
}
