//! What generation and JSON mode need from a vocabulary: a trait of its own,
//! so both (and their tests, with fakes) depend on it rather than on each
//! other.

use crate::tokenizer::Tokenizer;

/// What generation needs from a vocabulary (a trait so tests can fake it).
pub(crate) trait Vocab {
    /// Bytes the token adds to the output.
    fn bytes(&self, id: u32) -> &[u8];
    /// Whether the token ends the model's turn.
    fn is_stop(&self, id: u32) -> bool;
}

impl Vocab for Tokenizer {
    fn bytes(&self, id: u32) -> &[u8] {
        self.token_bytes(id)
    }

    fn is_stop(&self, id: u32) -> bool {
        self.stop_ids().contains(&id)
    }
}
