//! SentencePiece-style tokenization (`tokenizer.ggml.model = "llama"`), following
//! llama.cpp's `llm_tokenizer_spm_session` (src/llama-vocab.cpp): start from UTF-8
//! characters, repeatedly merge the adjacent pair whose joined text is a token with
//! the highest score, and spell pieces that are not tokens as `<0xXX>` byte tokens.

use super::strmap::StrMap;
use super::symbols::{self, Symbol};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate merge: highest score first, then the leftmost.
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// Appends the ids for `text` (already prefixed and with spaces escaped as "▁").
/// `byte_ids[b]` is the id of `<0xXX>` for byte `b`, when the vocabulary has it.
pub(crate) fn encode(
    text: &str,
    vocab: &StrMap,
    scores: &[f32],
    byte_ids: &[Option<u32>; 256],
    out: &mut Vec<u32>,
) {
    let mut symbols = symbols::chars(text);
    let mut queue = BinaryHeap::new();
    let try_add = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize| {
        let Some(right) = symbols[left].next else {
            return;
        };
        let (l, r) = (&symbols[left], &symbols[right]);
        let joined = &text[l.start..r.start + r.len];
        if let Some(id) = vocab.get(joined) {
            queue.push(Bigram {
                score: scores.get(id as usize).copied().unwrap_or(0.0),
                left,
                right,
                size: joined.len(),
            });
        }
    };
    for i in 0..symbols.len() {
        try_add(&mut queue, &symbols, i);
    }
    while let Some(b) = queue.pop() {
        let (l, r) = (&symbols[b.left], &symbols[b.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        let after = r.next;
        symbols[b.left].len = b.size;
        symbols[b.right].len = 0;
        symbols[b.left].next = after;
        if let Some(a) = after {
            symbols[a].prev = Some(b.left);
        }
        if let Some(p) = symbols[b.left].prev {
            try_add(&mut queue, &symbols, p);
        }
        try_add(&mut queue, &symbols, b.left);
    }
    let mut i = if symbols.is_empty() { None } else { Some(0) };
    while let Some(idx) = i {
        let s = &symbols[idx];
        let piece = &text[s.start..s.start + s.len];
        if let Some(id) = vocab.get(piece) {
            out.push(id);
        } else {
            out.extend(piece.bytes().filter_map(|b| byte_ids[usize::from(b)]));
        }
        i = s.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(pieces: &[&str]) -> StrMap {
        pieces.iter().copied().collect()
    }

    #[test]
    fn merges_highest_score_first() {
        // "ab" scores higher than "bc", so "abc" becomes ["ab", "c"].
        let v = vocab(&["a", "b", "c", "ab", "bc"]);
        let scores = [0.0, 0.0, 0.0, -1.0, -2.0];
        let mut out = Vec::new();
        encode("abc", &v, &scores, &[None; 256], &mut out);
        assert_eq!(out, vec![3, 2]);

        let scores = [0.0, 0.0, 0.0, -2.0, -1.0];
        out.clear();
        encode("abc", &v, &scores, &[None; 256], &mut out);
        assert_eq!(out, vec![0, 4]);
    }
}
