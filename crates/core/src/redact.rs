//! Redaction before anything leaves the machine: e-mail addresses, phone
//! numbers, card numbers (Luhn-checked), IBANs and the user's own words are
//! replaced by placeholders such as `[EMAIL_1]` in what a cloud provider
//! receives, and put back where the answer repeats a placeholder.

use std::sync::LazyLock;

use hearth_store::Redaction;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The user's redaction settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionSettings {
    pub enabled: bool,
    /// Words and names always replaced (matched whole, ignoring case).
    #[serde(default)]
    pub words: Vec<String>,
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| built_in(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| built_in(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"));
static CARD: LazyLock<Regex> = LazyLock::new(|| built_in(r"\b\d(?:[ -]?\d){12,18}\b"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    built_in(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){2,4}\b")
});

#[allow(clippy::expect_used)]
fn built_in(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the built-in patterns are valid")
}

/// Replaces sensitive text consistently across a whole request: the same
/// value gets the same placeholder in every message.
#[derive(Debug, Default)]
pub struct Redactor {
    words: Vec<String>,
    found: Vec<Redaction>,
}

impl Redactor {
    pub fn new(settings: &RedactionSettings) -> Self {
        Self {
            words: settings
                .words
                .iter()
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
            found: Vec::new(),
        }
    }

    /// `text` with sensitive pieces replaced.
    pub fn redact(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        out = self.replace_all(&out, &EMAIL, "email", |_| true);
        out = self.replace_all(&out, &IBAN, "iban", iban_valid);
        out = self.replace_all(&out, &CARD, "card", luhn_valid);
        out = self.replace_all(&out, &PHONE, "phone", |m| {
            // E.164: a phone number has at most 15 digits.
            (7..=15).contains(&m.chars().filter(char::is_ascii_digit).count())
        });
        for word in self.words.clone() {
            let pattern = format!(r"(?i)\b{}\b", regex::escape(&word));
            if let Ok(re) = Regex::new(&pattern) {
                out = self.replace_all(&out, &re, "word", |_| true);
            }
        }
        out
    }

    /// JSON text (a tool call's arguments) with sensitive pieces of its
    /// strings replaced: string by string, so a replaced number never breaks
    /// the JSON (object keys are left alone). Text that is not JSON is
    /// redacted as text.
    pub fn redact_json(&mut self, text: &str) -> String {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut value) => {
                map_strings(&mut value, &mut |s| self.redact(s));
                value.to_string()
            }
            Err(_) => self.redact(text),
        }
    }

    /// JSON text with placeholders put back in its strings (an original with
    /// a quote in it stays valid JSON); text that is not JSON as text.
    pub fn restore_json(&self, text: &str) -> String {
        if self.found.is_empty() {
            return text.to_owned();
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(mut value) => {
                map_strings(&mut value, &mut |s| self.restore(s));
                value.to_string()
            }
            Err(_) => self.restore(text),
        }
    }

    /// What was replaced so far.
    pub fn redactions(&self) -> &[Redaction] {
        &self.found
    }

    /// `text` with placeholders put back.
    pub fn restore(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for r in &self.found {
            out = out.replace(&r.placeholder, &r.original);
        }
        out
    }

    /// A streaming restorer for the answer.
    pub fn restorer(&self) -> Restorer<'_> {
        Restorer {
            redactor: self,
            held: String::new(),
        }
    }

    fn replace_all(
        &mut self,
        text: &str,
        re: &Regex,
        kind: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in re.find_iter(text) {
            // Never redact inside a placeholder made earlier.
            if !accept(m.as_str()) || inside_placeholder(text, m.start()) {
                continue;
            }
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.placeholder(kind, m.as_str()));
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }

    fn placeholder(&mut self, kind: &str, original: &str) -> String {
        if let Some(known) = self
            .found
            .iter()
            .find(|r| r.kind == kind && r.original.eq_ignore_ascii_case(original))
        {
            return known.placeholder.clone();
        }
        let n = self.found.iter().filter(|r| r.kind == kind).count() + 1;
        let placeholder = format!("[{}_{n}]", kind.to_ascii_uppercase());
        self.found.push(Redaction {
            kind: kind.to_owned(),
            placeholder: placeholder.clone(),
            original: original.to_owned(),
        });
        placeholder
    }
}

/// Puts placeholders back in a streamed answer, holding back a possible
/// placeholder until it is complete.
#[derive(Debug)]
pub struct Restorer<'a> {
    redactor: &'a Redactor,
    held: String,
}

impl Restorer<'_> {
    /// The text that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        self.held.push_str(piece);
        let cut = match self.held.rfind('[') {
            Some(open) if !self.held[open..].contains(']') && self.held.len() - open <= 16 => open,
            _ => self.held.len(),
        };
        let ready: String = self.held.drain(..cut).collect();
        self.redactor.restore(&ready)
    }

    /// Whatever is still held back, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        self.redactor.restore(&rest)
    }
}

/// Rewrites every string value inside `value` (not object keys).
fn map_strings(value: &mut serde_json::Value, f: &mut dyn FnMut(&str) -> String) {
    match value {
        serde_json::Value::String(s) => *s = f(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| map_strings(v, f)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| map_strings(v, f)),
        _ => {}
    }
}

fn inside_placeholder(text: &str, at: usize) -> bool {
    let before = &text[..at];
    match before.rfind('[') {
        Some(open) => !before[open..].contains(']'),
        None => false,
    }
}

fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn iban_valid(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut remainder: u64 = 0;
    for c in rearranged.chars() {
        let value = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(words: &[&str]) -> Redactor {
        Redactor::new(&RedactionSettings {
            enabled: true,
            words: words.iter().map(|w| (*w).to_owned()).collect(),
        })
    }

    #[test]
    fn personal_data_is_replaced_and_restored() {
        let mut r = redactor(&["Project Falcon"]);
        let text = "Mail jane.doe@example.com or call +44 20 7946 0958 about project falcon. \
                    Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32.";
        let sent = r.redact(text);
        for secret in ["jane.doe@example.com", "7946", "4111", "GB82", "falcon"] {
            assert!(!sent.contains(secret), "{secret} leaked: {sent}");
        }
        assert!(
            sent.contains("[EMAIL_1]") && sent.contains("[CARD_1]") && sent.contains("[IBAN_1]")
        );
        assert!(
            sent.contains("[PHONE_1]") && sent.contains("[WORD_1]"),
            "{sent}"
        );
        let kinds: Vec<&str> = r.redactions().iter().map(|x| x.kind.as_str()).collect();
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        // The same value keeps its placeholder in a later message.
        assert_eq!(r.redact("again: jane.doe@example.com"), "again: [EMAIL_1]");
        assert_eq!(
            r.restore("Write to [EMAIL_1]."),
            "Write to jane.doe@example.com."
        );
    }

    #[test]
    fn ordinary_numbers_are_left_alone() {
        let mut r = redactor(&[]);
        let text = "In 2024 we sold 1234 units; order 4111 1111 1111 1112 failed the check.";
        assert_eq!(r.redact(text), text);
        assert!(r.redactions().is_empty());
    }

    #[test]
    fn a_placeholder_split_across_stream_pieces_is_restored() {
        let mut r = redactor(&[]);
        r.redact("bob@example.org");
        let mut restorer = r.restorer();
        let mut shown = String::new();
        for piece in ["Hello [EM", "AIL_", "1], bye [", "not a placeholder at all"] {
            shown.push_str(&restorer.push(piece));
        }
        shown.push_str(&restorer.finish());
        assert_eq!(
            shown,
            "Hello bob@example.org, bye [not a placeholder at all"
        );
    }

    #[test]
    fn tool_arguments_are_redacted_inside_their_strings_and_restored() {
        let mut r = redactor(&["Falcon"]);
        let args = r#"{"to": "jane.doe@example.com", "card": 4111111111111111, "notes": ["falcon rises"]}"#;
        let sent = r.redact_json(args);
        let value: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(value["to"], "[EMAIL_1]");
        assert_eq!(value["notes"][0], "[WORD_1] rises");
        // A number is not text: left as it is, and the JSON stays JSON.
        assert_eq!(value["card"], 4111111111111111_u64);
        let back: serde_json::Value = serde_json::from_str(&r.restore_json(&sent)).unwrap();
        assert_eq!(back["to"], "jane.doe@example.com");
        assert_eq!(back["notes"][0], "falcon rises");
        // Not JSON: redacted and restored as text.
        assert_eq!(r.redact_json("mail jane.doe@example.com"), "mail [EMAIL_1]");
        assert_eq!(
            r.restore_json("{\"a\": [EMAIL_1]"),
            "{\"a\": jane.doe@example.com"
        );
    }
}
