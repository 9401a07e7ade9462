//! Turning a stream of token bytes into text that is safe to show as it arrives.
//!
//! Two small state machines, used one after the other:
//! - [`Utf8Stream`] holds back the bytes of a character split across tokens (an
//!   emoji is often four byte tokens), so no piece of output is broken UTF-8.
//! - [`StopStrings`] holds back text that may be the start of a stop string, so
//!   the stop string itself is never shown, even when it spans tokens.

/// Incremental UTF-8 decoding of token bytes.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Adds bytes and returns the text that is now complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Checked by from_utf8 just above.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never become valid: replace them, go on.
                        Some(len) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + len);
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: an incomplete character left over becomes U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Watches generated text for stop strings.
#[derive(Debug)]
pub(crate) struct StopStrings {
    stops: Vec<String>,
    held: String,
}

/// What [`StopStrings::push`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Text that is certainly output.
    pub(crate) emit: String,
    /// A stop string was found; generation should end (the rest is dropped).
    pub(crate) stopped: bool,
}

impl StopStrings {
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> Checked {
        self.held.push_str(text);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let emit = self.held[..at].to_owned();
            self.held.clear();
            return Checked {
                emit,
                stopped: true,
            };
        }
        // Keep the longest tail that a stop string starts with.
        let keep = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&self.held[i..])))
            .unwrap_or(self.held.len());
        let emit = self.held[..keep].to_owned();
        self.held.drain(..keep);
        Checked {
            emit,
            stopped: false,
        }
    }

    /// Ends the stream: held text was not a stop string after all.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_split_over_four_tokens_comes_out_whole() {
        let mut d = Utf8Stream::default();
        let bytes = "a🦀b".as_bytes();
        let pieces: Vec<String> = bytes.iter().map(|b| d.push(&[*b])).collect();
        assert_eq!(pieces, ["a", "", "", "", "🦀", "b"]);
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn cjk_and_accents_across_boundaries() {
        let text = "日本語 café";
        let bytes = text.as_bytes();
        let mut d = Utf8Stream::default();
        let mut out = String::new();
        for chunk in bytes.chunks(2) {
            let piece = d.push(chunk);
            assert!(!piece.contains(char::REPLACEMENT_CHARACTER));
            out.push_str(&piece);
        }
        out.push_str(&d.finish());
        assert_eq!(out, text);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut d = Utf8Stream::default();
        assert_eq!(d.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(d.push(b"\xe6\x97"), "");
        assert_eq!(d.finish(), "\u{fffd}");
    }

    #[test]
    fn stop_string_across_pieces_is_not_emitted() {
        let mut s = StopStrings::new(&["\nUser:".to_owned()]);
        assert_eq!(
            s.push("Hello"),
            Checked {
                emit: "Hello".into(),
                stopped: false
            }
        );
        assert_eq!(
            s.push(" there\nUs"),
            Checked {
                emit: " there".into(),
                stopped: false
            }
        );
        assert_eq!(
            s.push("er: more"),
            Checked {
                emit: String::new(),
                stopped: true
            }
        );
    }

    #[test]
    fn false_start_is_released() {
        let mut s = StopStrings::new(&["STOP".to_owned()]);
        assert_eq!(s.push("ST").emit, "");
        assert_eq!(s.push("ART").emit, "START");
        assert_eq!(s.push("S").emit, "");
        assert_eq!(s.finish(), "S");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut s = StopStrings::new(&["b".to_owned(), "a".to_owned()]);
        assert_eq!(
            s.push("xxab"),
            Checked {
                emit: "xx".into(),
                stopped: true
            }
        );
    }
}
