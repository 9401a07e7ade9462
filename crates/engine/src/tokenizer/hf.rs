//! A Hugging Face `tokenizer.json` beside the model file, run by the `tokenizers`
//! crate. Per-token output bytes are worked out here from its vocabulary:
//! byte-level pieces when its decoder is `ByteLevel`, `▁` as space otherwise, and
//! `<0xXX>` byte-fallback pieces as single bytes.

use std::collections::HashMap;
use std::path::Path;

use super::{BYTE, CONTROL, NORMAL, USER_DEFINED, bpe, parse_byte_token};
use crate::error::EngineError;

pub(crate) struct HfModel {
    /// Special tokens in the input are spelled out as text.
    plain: tokenizers::Tokenizer,
    /// Special tokens in the input become their ids.
    special: tokenizers::Tokenizer,
}

impl HfModel {
    pub(crate) fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, EngineError> {
        let tok = if parse_special {
            &self.special
        } else {
            &self.plain
        };
        let enc = tok
            .encode(text, false)
            .map_err(|e| EngineError::Tokenizer(format!("tokenizer.json: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }
}

pub(crate) struct Loaded {
    pub(crate) model: HfModel,
    pub(crate) pieces: Vec<String>,
    pub(crate) attrs: Vec<u8>,
    pub(crate) bytes: Vec<Vec<u8>>,
}

pub(crate) fn load(path: &Path) -> Result<Loaded, EngineError> {
    let raw = std::fs::read(path).map_err(|source| EngineError::Io {
        path: path.to_owned(),
        source,
    })?;
    let bad = |e: &dyn std::fmt::Display| {
        EngineError::Tokenizer(format!(
            "{} is not a usable tokenizer.json: {e}",
            path.display()
        ))
    };
    let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| bad(&e))?;
    let byte_level = json
        .get("decoder")
        .is_some_and(|d| d.to_string().contains("\"ByteLevel\""));
    let special = tokenizers::Tokenizer::from_bytes(&raw).map_err(|e| bad(&e))?;
    let mut plain = special.clone();
    plain.set_encode_special_tokens(true);

    let added = special.get_added_tokens_decoder();
    let n = special.get_vocab_size(true);
    let char_to_byte: HashMap<char, u8> = bpe::byte_to_char()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    let mut pieces = Vec::with_capacity(n);
    let mut attrs = Vec::with_capacity(n);
    let mut bytes = Vec::with_capacity(n);
    for id in 0..n as u32 {
        let piece = special.id_to_token(id).unwrap_or_default();
        let (attr, out) = if let Some(a) = added.get(&id) {
            if a.special {
                (CONTROL, Vec::new())
            } else {
                (USER_DEFINED, a.content.as_bytes().to_vec())
            }
        } else if let Some(b) = parse_byte_token(&piece) {
            (BYTE, vec![b])
        } else if byte_level {
            (NORMAL, bpe::decode_byte_level(&piece, &char_to_byte))
        } else {
            (NORMAL, piece.replace('\u{2581}', " ").into_bytes())
        };
        pieces.push(piece);
        attrs.push(attr);
        bytes.push(out);
    }
    Ok(Loaded {
        model: HfModel { plain, special },
        pieces,
        attrs,
        bytes,
    })
}
