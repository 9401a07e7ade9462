//! Tokenizers built from GGUF metadata (`tokenizer.ggml.*`), or from a
//! `tokenizer.json` placed beside the model file.

use crate::error::EngineError;
use crate::gguf::GgufFile;

/// Turns text into token ids and token ids into bytes.
#[derive(Debug)]
pub struct Tokenizer {}

impl Tokenizer {
    /// The tokenizer for the model at `gguf`: `tokenizer.json` beside the model file
    /// when present, the GGUF metadata otherwise.
    pub fn for_model(gguf: &GgufFile) -> Result<Self, EngineError> {
        let _ = gguf;
        Err(EngineError::Tokenizer("not yet".into()))
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
        let _ = (text, add_bos, parse_special);
        Err(EngineError::Tokenizer("not yet".into()))
    }

    /// The bytes token `id` adds to the output (empty for control tokens). Bytes, not
    /// a string: one UTF-8 character may be split across tokens.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let _ = id;
        &[]
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
        let _ = id;
        None
    }

    pub fn bos_id(&self) -> Option<u32> {
        None
    }

    pub fn eos_id(&self) -> Option<u32> {
        None
    }

    /// Every id that ends generation: EOS, EOT and the end-of-turn tokens of the
    /// known chat formats that exist in this vocabulary.
    pub fn stop_ids(&self) -> &[u32] {
        &[]
    }

    /// Whether the model wants BOS prepended (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        false
    }

    pub fn vocab_size(&self) -> usize {
        0
    }
}
