//! Tokenizers built from GGUF metadata (`tokenizer.ggml.*`), or from a
//! `tokenizer.json` placed beside the model file.
//!
//! llama.cpp (src/llama-vocab.cpp) is the reference: the byte-level BPE kind
//! ("gpt2", in `bpe.rs`), the SentencePiece kind ("llama", in `spm.rs`), the
//! splitting of special-token text out of the input before either runs
//! (`tokenizer_st_partition`), token attributes from `tokenizer.ggml.token_type`,
//! and what each token contributes to the output (`token_to_piece` with
//! `special = false`). `hf.rs` loads a Hugging Face `tokenizer.json` instead.

mod bpe;
mod hf;
mod spm;
mod strmap;
mod symbols;

use std::collections::HashMap;

use crate::error::EngineError;
use crate::gguf::{GgufFile, StringArray};
use strmap::StrMap;

// Token attributes, as llama.cpp derives them from `tokenizer.ggml.token_type`.
const NORMAL: u8 = 1;
const UNKNOWN: u8 = 2;
const CONTROL: u8 = 4;
const USER_DEFINED: u8 = 8;
const UNUSED: u8 = 16;
const BYTE: u8 = 32;

/// End-of-generation tokens of the known chat formats (llama.cpp's list): they stop
/// generation and are treated as control tokens, as llama.cpp does.
const END_OF_TURN: [&str; 22] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
    "[e~[",
];

/// Marks the end-of-turn tokens present in the vocabulary as control tokens and
/// returns their ids. Like llama.cpp, "</s>" stays a normal token in vocabularies
/// that also have "<|tool_response>" or "<|plamo:eos|>" (Gemma 4, PLaMo).
fn mark_end_of_turn(ids: &StrMap, attrs: &mut [u8]) -> Vec<u32> {
    let normal_s = ids.contains_key("<|tool_response>") || ids.contains_key("<|plamo:eos|>");
    let mut found = Vec::new();
    for name in END_OF_TURN {
        let Some(id) = ids.get(name) else { continue };
        let Some(attr) = attrs.get_mut(id as usize) else {
            continue;
        };
        if name == "</s>" && normal_s {
            *attr = NORMAL;
            continue;
        }
        *attr |= CONTROL;
        found.push(id);
    }
    found
}

fn attr_from_type(token_type: i64) -> u8 {
    match token_type {
        1 => NORMAL,
        2 => UNKNOWN,
        3 => CONTROL,
        4 => USER_DEFINED,
        5 => UNUSED,
        6 => BYTE,
        _ => 0,
    }
}

/// `<0xAB>` -> 0xAB.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

enum Model {
    Bpe(Box<bpe::Bpe>),
    Spm {
        add_space_prefix: bool,
        byte_ids: Box<[Option<u32>; 256]>,
    },
    Hf(Box<hf::HfModel>),
}

/// The vocabulary as GGUF metadata describes it (also built by hand in tests).
struct VocabSpec<'a> {
    model: &'a str,
    pre: &'a str,
    tokens: Vec<&'a str>,
    token_types: Vec<i64>,
    scores: Vec<f32>,
    merges: Vec<&'a str>,
    bos: Option<u32>,
    eos: Option<u32>,
    extra_stops: Vec<u32>,
    add_bos: Option<bool>,
    add_space_prefix: Option<bool>,
}

impl<'a> VocabSpec<'a> {
    fn from_gguf(gguf: &'a GgufFile) -> Result<Self, EngineError> {
        let id = |key: &str| gguf.get(key).and_then(|v| v.as_u64()).map(|v| v as u32);
        let flag = |key: &str| match gguf.get(key) {
            Some(crate::gguf::Value::Bool(b)) => Some(*b),
            _ => None,
        };
        let model = gguf.get_str("tokenizer.ggml.model")?;
        let pre = match gguf.get("tokenizer.ggml.pre") {
            Some(crate::gguf::Value::String(s)) => s.as_str(),
            _ => "default",
        };
        let tokens = gguf.get_str_array("tokenizer.ggml.tokens")?;
        let token_types = gguf
            .optional("tokenizer.ggml.token_type", GgufFile::get_i64_array)?
            .unwrap_or_else(|| vec![1; tokens.len()]);
        let scores = gguf
            .optional("tokenizer.ggml.scores", GgufFile::get_f32_array)?
            .unwrap_or_default();
        let merges = gguf
            .optional("tokenizer.ggml.merges", GgufFile::get_str_array)?
            .unwrap_or_default();
        let extra_stops = ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
            .iter()
            .filter_map(|k| id(k))
            .collect();
        Ok(Self {
            model,
            pre,
            tokens,
            token_types,
            scores,
            merges,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            extra_stops,
            add_bos: flag("tokenizer.ggml.add_bos_token"),
            add_space_prefix: flag("tokenizer.ggml.add_space_prefix"),
        })
    }
}

/// A piece of input after special tokens are split out.
enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

/// Turns text into token ids and token ids into bytes.
pub struct Tokenizer {
    model: Model,
    /// Token texts (one buffer: 260k `String`s would cost Gemma 3 ~12 MiB more).
    pieces: StringArray,
    ids: StrMap,
    scores: Vec<f32>,
    attrs: Vec<u8>,
    /// Output bytes of token `i`: `bytes[offsets[i]..offsets[i + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    /// Control, user-defined and unknown tokens, longest text first.
    specials: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    stops: Vec<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.model {
            Model::Bpe(_) => "bpe",
            Model::Spm { .. } => "spm",
            Model::Hf(_) => "tokenizer.json",
        };
        f.debug_struct("Tokenizer")
            .field("kind", &kind)
            .field("vocab_size", &self.pieces.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

impl Tokenizer {
    /// The tokenizer for the model at `gguf`: `tokenizer.json` beside the model file
    /// when present, the GGUF metadata otherwise.
    pub fn for_model(gguf: &GgufFile) -> Result<Self, EngineError> {
        if let Some(json) = gguf.path().parent().map(|d| d.join("tokenizer.json"))
            && json.is_file()
        {
            tracing::info!(path = %json.display(), "using tokenizer.json beside the model");
            // The GGUF still names BOS/EOS and the BOS flag, when it has a vocabulary.
            let spec = VocabSpec::from_gguf(gguf).ok();
            return Self::from_tokenizer_json(&json, spec.as_ref());
        }
        Self::from_spec(VocabSpec::from_gguf(gguf)?)
    }

    fn from_spec(spec: VocabSpec<'_>) -> Result<Self, EngineError> {
        let n = spec.tokens.len();
        if n == 0 {
            return Err(EngineError::Tokenizer("the vocabulary is empty".into()));
        }
        let mut attrs: Vec<u8> = (0..n)
            .map(|i| attr_from_type(spec.token_types.get(i).copied().unwrap_or(1)))
            .collect();
        let pieces: StringArray = spec.tokens.iter().copied().collect();
        let ids: StrMap = pieces.iter().collect();
        let mut stops: Vec<u32> = spec.eos.into_iter().chain(spec.extra_stops).collect();
        stops.extend(mark_end_of_turn(&ids, &mut attrs));
        stops.retain(|&id| (id as usize) < n);
        stops.sort_unstable();
        stops.dedup();

        let (model, add_bos_default) = match spec.model {
            "gpt2" => (
                Model::Bpe(Box::new(bpe::Bpe::new(spec.pre, &spec.merges)?)),
                matches!(spec.pre, "llama3" | "llama-v3" | "llama-bpe"),
            ),
            "llama" => {
                let mut byte_ids = Box::new([None; 256]);
                for (i, p) in pieces.iter().enumerate() {
                    if let Some(b) = parse_byte_token(p) {
                        byte_ids[usize::from(b)].get_or_insert(i as u32);
                    }
                }
                let model = Model::Spm {
                    add_space_prefix: spec.add_space_prefix.unwrap_or(true),
                    byte_ids,
                };
                (model, true)
            }
            other => {
                return Err(EngineError::Tokenizer(format!(
                    "unsupported tokenizer model \"{other}\" (supported: gpt2, llama)"
                )));
            }
        };

        let char_to_byte: HashMap<char, u8> = bpe::byte_to_char()
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let mut bytes = Vec::with_capacity(pieces.iter().map(str::len).sum());
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for (p, &attr) in pieces.iter().zip(&attrs) {
            if attr & (CONTROL | UNKNOWN) != 0 {
                // Control and unknown tokens print nothing (llama.cpp with special=false).
            } else if attr & USER_DEFINED != 0 {
                bytes.extend_from_slice(p.as_bytes());
            } else if attr & NORMAL != 0 {
                match model {
                    Model::Bpe(_) => bytes.extend(bpe::decode_byte_level(p, &char_to_byte)),
                    _ if p.contains('\u{2581}') => {
                        bytes.extend_from_slice(p.replace('\u{2581}', " ").as_bytes());
                    }
                    _ => bytes.extend_from_slice(p.as_bytes()),
                }
            } else if attr & BYTE != 0 {
                bytes.extend(parse_byte_token(p));
            }
            offsets.push(bytes.len());
        }

        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| attrs[i as usize] & (CONTROL | USER_DEFINED | UNKNOWN) != 0)
            .filter(|&i| pieces.get(i as usize).is_some_and(|p| !p.is_empty()))
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(pieces.get(i as usize).map_or(0, str::len)));

        Ok(Self {
            model,
            pieces,
            ids,
            scores: spec.scores,
            attrs,
            bytes,
            offsets,
            specials,
            bos: spec.bos.filter(|&b| (b as usize) < n),
            eos: spec.eos.filter(|&e| (e as usize) < n),
            stops,
            add_bos: spec.add_bos.unwrap_or(add_bos_default),
        })
    }

    fn from_tokenizer_json(
        path: &std::path::Path,
        spec: Option<&VocabSpec<'_>>,
    ) -> Result<Self, EngineError> {
        let loaded = hf::load(path)?;
        let ids: StrMap = loaded.pieces.iter().map(String::as_str).collect();
        // Special ids follow their text from the GGUF vocabulary into tokenizer.json's.
        let remap = |id: Option<u32>| -> Option<u32> {
            let text = spec?.tokens.get(id? as usize)?;
            ids.get(text)
        };
        let bos = remap(spec.and_then(|s| s.bos));
        let eos = remap(spec.and_then(|s| s.eos));
        let extra: &[u32] = spec.map_or(&[], |s| &s.extra_stops);
        let mut attrs = loaded.attrs;
        let mut stops: Vec<u32> = eos
            .into_iter()
            .chain(extra.iter().filter_map(|&s| remap(Some(s))))
            .collect();
        stops.extend(mark_end_of_turn(&ids, &mut attrs));
        stops.sort_unstable();
        stops.dedup();
        let mut bytes = Vec::new();
        let mut offsets = vec![0];
        for (b, &attr) in loaded.bytes.iter().zip(&attrs) {
            if attr & (CONTROL | UNKNOWN) == 0 {
                bytes.extend_from_slice(b);
            }
            offsets.push(bytes.len());
        }
        Ok(Self {
            model: Model::Hf(Box::new(loaded.model)),
            pieces: loaded.pieces.iter().map(String::as_str).collect(),
            ids,
            scores: Vec::new(),
            attrs,
            bytes,
            offsets,
            specials: Vec::new(),
            bos,
            eos,
            stops,
            add_bos: spec.is_some_and(|s| s.add_bos.unwrap_or(s.model == "llama")),
        })
    }

    /// Splits the text of special tokens out of `text` (llama.cpp's
    /// `tokenizer_st_partition`): longest tokens first, each occurrence left to right.
    /// User-defined tokens are always split out; control ones only with `parse_special`.
    fn partition<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Fragment<'t>> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Fragment::Text(text));
        for &id in &self.specials {
            if !parse_special && self.attrs[id as usize] & (CONTROL | UNKNOWN) != 0 {
                continue;
            }
            let Some(piece) = self.pieces.get(id as usize) else {
                continue;
            };
            let hit = frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(piece)));
            if !hit {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Text(mut t) => {
                        while let Some(at) = t.find(piece) {
                            if at > 0 {
                                next.push(Fragment::Text(&t[..at]));
                            }
                            next.push(Fragment::Token(id));
                            t = &t[at + piece.len()..];
                        }
                        if !t.is_empty() {
                            next.push(Fragment::Text(t));
                        }
                    }
                    token => next.push(token),
                }
            }
            frags = next;
        }
        frags
    }

    /// Token ids for `text`. `add_bos` prepends BOS when the model asks for it
    /// (`tokenizer.ggml.add_bos_token`); `parse_special` turns the text of special
    /// tokens (`<|im_start|>`) into their ids instead of spelling them out.
    pub fn encode(
        &self,
        text: &str,
        add_bos: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, EngineError> {
        let mut out = Vec::new();
        if add_bos
            && self.add_bos
            && let Some(bos) = self.bos
        {
            out.push(bos);
        }
        match &self.model {
            Model::Hf(m) => out.extend(m.encode(text, parse_special)?),
            Model::Bpe(bpe) => {
                for f in self.partition(text, parse_special) {
                    match f {
                        Fragment::Text(t) => bpe.encode(t, &self.ids, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
            Model::Spm {
                add_space_prefix,
                byte_ids,
            } => {
                let mut prev_special = true;
                let mut buf = String::new();
                for f in self.partition(text, parse_special) {
                    match f {
                        Fragment::Text(t) => {
                            buf.clear();
                            if *add_space_prefix && prev_special {
                                buf.push('\u{2581}');
                            }
                            buf.push_str(&t.replace(' ', "\u{2581}"));
                            spm::encode(&buf, &self.ids, &self.scores, byte_ids, &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The bytes token `id` adds to the output (empty for control tokens). Bytes, not
    /// a string: one UTF-8 character may be split across tokens.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.bytes[a..b],
            _ => &[],
        }
    }

    /// Decodes a whole sequence (lossy only for invalid UTF-8 at the very end).
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|&id| self.token_bytes(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The text of a token as the vocabulary spells it (`<bos>`, `<|im_end|>`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize)
    }

    /// The id of the token spelled exactly `text`, if the vocabulary has one.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The BOS that starts every text, if the model wants one
    /// (`tokenizer.ggml.add_bos_token`, or the tokenizer family's default).
    pub fn leading_bos(&self) -> Option<u32> {
        self.bos.filter(|_| self.add_bos)
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Every id that ends generation: EOS, EOT and the end-of-turn tokens of the
    /// known chat formats that exist in this vocabulary.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stops
    }

    /// Whether the model wants BOS prepended (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(model: &'a str, tokens: &[&'a str], types: &[i64]) -> VocabSpec<'a> {
        VocabSpec {
            model,
            pre: "smollm",
            tokens: tokens.to_vec(),
            token_types: types.to_vec(),
            scores: vec![0.0; tokens.len()],
            merges: Vec::new(),
            bos: None,
            eos: None,
            extra_stops: Vec::new(),
            add_bos: None,
            add_space_prefix: None,
        }
    }

    /// A tiny SentencePiece vocabulary: ▁, a, b, ab, ▁ab, byte tokens for é, and a
    /// control token.
    fn tiny_spm() -> Result<Tokenizer, EngineError> {
        let tokens = [
            "<unk>",
            "<s>",
            "</s>",
            "\u{2581}",
            "a",
            "b",
            "ab",
            "\u{2581}ab",
            "<0xC3>",
            "<0xA9>",
            "<ctrl>",
            "<user>",
        ];
        let types = [2, 3, 3, 1, 1, 1, 1, 1, 6, 6, 3, 4];
        let mut s = spec("llama", &tokens, &types);
        s.scores = vec![
            0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -0.5, -0.1, 0.0, 0.0, 0.0, 0.0,
        ];
        s.bos = Some(1);
        s.eos = Some(2);
        Tokenizer::from_spec(s)
    }

    #[test]
    fn spm_merges_by_score_and_falls_back_to_bytes() -> Result<(), EngineError> {
        let t = tiny_spm()?;
        assert_eq!(t.encode("ab", true, false)?, vec![1, 7]);
        // "é" is not a token: its two UTF-8 bytes become byte tokens.
        assert_eq!(t.encode("abé", false, false)?, vec![7, 8, 9]);
        assert_eq!(t.decode(&[1, 7, 8, 9]), " abé");
        Ok(())
    }

    #[test]
    fn multibyte_character_split_across_tokens_decodes_per_byte() -> Result<(), EngineError> {
        let t = tiny_spm()?;
        assert_eq!(t.token_bytes(8), &[0xC3]);
        assert_eq!(t.token_bytes(9), &[0xA9]);
        assert_eq!(t.token_bytes(7), b" ab");
        assert!(t.token_bytes(1).is_empty(), "control tokens print nothing");
        assert_eq!(t.token_bytes(11), b"<user>");
        assert!(t.token_bytes(999).is_empty());
        Ok(())
    }

    #[test]
    fn special_tokens_split_only_when_parsing_special() -> Result<(), EngineError> {
        let t = tiny_spm()?;
        // Parsed: the control token is one id, and the text after it gets the
        // space prefix again (it follows a special token).
        assert_eq!(t.encode("ab<ctrl>ab", false, true)?, vec![7, 10, 7]);
        // Spelled out: "<ctrl>" has no pieces here, only the bytes it cannot find.
        let plain = t.encode("ab<ctrl>ab", false, false)?;
        assert!(!plain.contains(&10));
        // User-defined tokens are split out either way.
        assert_eq!(t.encode("<user>", false, false)?, vec![11]);
        Ok(())
    }

    fn tiny_bpe() -> Result<Tokenizer, EngineError> {
        // Byte-level pieces: "Ġ" is the space, "Ã" "©" are the two bytes of "é".
        let tokens = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "h",
            "i",
            "hi",
            "Ġ",
            "Ġhi",
            "Ã",
            "©",
            "Ã©",
        ];
        let types = [3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1];
        let mut s = spec("gpt2", &tokens, &types);
        s.merges = vec!["h i", "Ġ hi", "Ã ©"];
        s.eos = Some(0);
        Tokenizer::from_spec(s)
    }

    #[test]
    fn bpe_merges_and_longest_special_first() -> Result<(), EngineError> {
        let t = tiny_bpe()?;
        assert_eq!(t.encode("hi hi", true, false)?, vec![5, 7]);
        assert!(!t.add_bos());
        assert_eq!(
            t.encode("<|im_start|>hi<|im_end|>", false, true)?,
            vec![1, 5, 2]
        );
        assert_eq!(t.decode(&[1, 5, 2, 10]), "hié");
        assert_eq!(t.token_bytes(8), &[0xC3]);
        assert_eq!(t.token_bytes(9), &[0xA9]);
        assert_eq!(t.stop_ids(), &[0, 2]);
        Ok(())
    }

    #[test]
    fn partition_prefers_the_longer_special_token() -> Result<(), EngineError> {
        let tokens = ["<a>", "<a><b>", "x"];
        let t = Tokenizer::from_spec(spec("gpt2", &tokens, &[3, 3, 1]))?;
        assert_eq!(t.encode("<a><b>x<a>", false, true)?, vec![1, 2, 0]);
        Ok(())
    }
}
