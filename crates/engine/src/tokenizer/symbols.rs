//! The doubly linked list of pieces both merge algorithms (BPE by rank,
//! SentencePiece by score) work on: one entry per character to start with.

#[derive(Clone, Copy)]
pub(super) struct Symbol {
    /// Byte offset of the piece in the text.
    pub(super) start: usize,
    /// Byte length; 0 once merged into its left neighbour.
    pub(super) len: usize,
    pub(super) prev: Option<usize>,
    pub(super) next: Option<usize>,
}

/// One symbol per character of `text`, linked in order.
pub(super) fn chars(text: &str) -> Vec<Symbol> {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        symbols.push(Symbol {
            start,
            len: c.len_utf8(),
            prev: i.checked_sub(1),
            next: None,
        });
        if i > 0 {
            symbols[i - 1].next = Some(i);
        }
    }
    symbols
}
