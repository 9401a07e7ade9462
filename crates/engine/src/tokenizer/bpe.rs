//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`), following llama.cpp's
//! `llm_tokenizer_bpe_session` (src/llama-vocab.cpp): pre-tokenizer regexes chosen by
//! `tokenizer.ggml.pre`, GPT-2 byte-to-unicode mapping, then merges by rank.

use super::strmap::StrMap;
use super::symbols::{self, Symbol};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use fancy_regex::Regex;

use crate::error::EngineError;

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const DEEPSEEK_LLM: [&str; 6] = [
    r"[\r\n]",
    r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-퟿]+",
    r"\p{N}+",
];

/// The pre-tokenizer regexes for a `tokenizer.ggml.pre` value, and whether whole
/// words found in the vocabulary skip the merges (llama.cpp's `ignore_merges`).
fn pre_tokenizer(pre: &str) -> (Vec<&'static str>, bool) {
    match pre {
        "default" | "gpt-2" | "gpt2" | "phi-2" | "mpt" | "olmo" | "jais" | "exaone4" => {
            (vec![GPT2], false)
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" | "lfm2" => {
            (vec![LLAMA3], true)
        }
        "dbrx" | "smaug-bpe" => (vec![LLAMA3], false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![r"\p{N}", GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => (vec![QWEN2], false),
        "deepseek-llm" => (DEEPSEEK_LLM.to_vec(), false),
        other => {
            tracing::warn!(pre = other, "unknown pre-tokenizer, using the GPT-2 one");
            (vec![GPT2], false)
        }
    }
}

/// GPT-2's reversible byte -> printable character map.
pub(crate) fn byte_to_char() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            u32::from(b)
        } else {
            let c = next;
            next += 1;
            c
        };
        map[usize::from(b)] = char::from_u32(c).unwrap_or('\u{FFFD}');
    }
    map
}

/// The bytes a byte-level token text stands for (llama.cpp's `llama_decode_text`).
pub(crate) fn decode_byte_level(text: &str, char_to_byte: &HashMap<char, u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte.get(&c) {
            Some(&b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Splits `text` with each regex in turn; unmatched gaps stay pieces of their own.
pub(crate) fn split_pieces<'t>(text: &'t str, regexes: &[Regex]) -> Vec<&'t str> {
    let mut pieces = vec![text];
    for re in regexes {
        let mut next = Vec::with_capacity(pieces.len() * 2);
        for piece in pieces {
            let mut last = 0;
            for m in re.find_iter(piece) {
                let Ok(m) = m else { break };
                if m.start() == m.end() {
                    continue;
                }
                if m.start() > last {
                    next.push(&piece[last..m.start()]);
                }
                next.push(m.as_str());
                last = m.end();
            }
            if last < piece.len() {
                next.push(&piece[last..]);
            }
        }
        pieces = next;
    }
    pieces
}

/// The byte-level BPE model: merges and pre-tokenizer.
pub(crate) struct Bpe {
    regexes: Vec<Regex>,
    ignore_merges: bool,
    /// "left right" -> rank.
    ranks: StrMap,
    byte_chars: [char; 256],
}

impl Bpe {
    pub(crate) fn new(pre: &str, merges: &[&str]) -> Result<Self, EngineError> {
        let (patterns, ignore_merges) = pre_tokenizer(pre);
        let regexes = patterns
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Tokenizer(format!("pre-tokenizer regex: {e}")))?;
        let ranks = merges.iter().copied().collect();
        Ok(Self {
            regexes,
            ignore_merges,
            ranks,
            byte_chars: byte_to_char(),
        })
    }

    fn rank(&self, key: &mut String, word: &str, left: &Symbol, right: &Symbol) -> Option<u32> {
        key.clear();
        key.push_str(&word[left.start..left.start + left.len]);
        key.push(' ');
        key.push_str(&word[right.start..right.start + right.len]);
        self.ranks.get(key)
    }

    /// Appends the ids for a fragment of plain text.
    pub(crate) fn encode(&self, text: &str, vocab: &StrMap, out: &mut Vec<u32>) {
        let mut key = String::new();
        let mut word = String::new();
        for piece in split_pieces(text, &self.regexes) {
            word.clear();
            word.extend(piece.bytes().map(|b| self.byte_chars[usize::from(b)]));
            if self.ignore_merges
                && let Some(id) = vocab.get(&word)
            {
                out.push(id);
                continue;
            }
            self.encode_word(&word, vocab, &mut key, out);
        }
    }

    fn encode_word(&self, word: &str, vocab: &StrMap, key: &mut String, out: &mut Vec<u32>) {
        let mut symbols = symbols::chars(word);
        // (rank, left index) smallest first; size guards against stale entries.
        let mut queue: BinaryHeap<Reverse<(u32, usize, usize, usize)>> = BinaryHeap::new();
        let push = |queue: &mut BinaryHeap<_>, key: &mut String, symbols: &[Symbol], l: usize| {
            if let Some(r) = symbols[l].next
                && let Some(rank) = self.rank(key, word, &symbols[l], &symbols[r])
            {
                queue.push(Reverse((rank, l, r, symbols[l].len + symbols[r].len)));
            }
        };
        for i in 0..symbols.len() {
            push(&mut queue, key, &symbols, i);
        }
        while let Some(Reverse((_, l, r, size))) = queue.pop() {
            if symbols[l].len == 0 || symbols[r].len == 0 || symbols[l].len + symbols[r].len != size
            {
                continue;
            }
            symbols[l].len = size;
            symbols[r].len = 0;
            let after = symbols[r].next;
            symbols[l].next = after;
            if let Some(a) = after {
                symbols[a].prev = Some(l);
            }
            if let Some(p) = symbols[l].prev {
                push(&mut queue, key, &symbols, p);
            }
            push(&mut queue, key, &symbols, l);
        }
        for s in symbols.iter().filter(|s| s.len > 0) {
            let text = &word[s.start..s.start + s.len];
            if let Some(id) = vocab.get(text) {
                out.push(id);
            } else {
                // Unknown piece: llama.cpp looks up each UTF-8 byte on its own, which
                // only finds the ASCII ones; the rest are dropped.
                for b in text.bytes().filter(u8::is_ascii) {
                    if let Some(id) = vocab.get(&char::from(b).to_string()) {
                        out.push(id);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_with_gpt2_space() {
        let map = byte_to_char();
        assert_eq!(map[usize::from(b' ')], 'Ġ');
        assert_eq!(map[usize::from(b'\n')], 'Ċ');
        assert_eq!(map[usize::from(b'a')], 'a');
        let mut seen: Vec<char> = map.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256);
    }

    #[test]
    fn smollm_pre_tokenizer_isolates_digits_and_keeps_space_runs() -> Result<(), EngineError> {
        let bpe = Bpe::new("smollm", &[])?;
        let pieces = split_pieces("I'm 2025  ok\n\n", &bpe.regexes);
        assert_eq!(
            pieces,
            vec!["I", "'m", " ", "2", "0", "2", "5", " ", " ok", "\n\n"]
        );
        Ok(())
    }
}
