//! libFuzzer target: any bytes through hearth-gguf's reader, the two ways
//! Hearth reads files (in full from memory, as the engine does; a summary
//! through a buffered reader that seeks over what it skips, as the hub
//! does). It must return, not panic, allocate no more than the input
//! warrants (`cargo xtask fuzz` runs it with a malloc limit), and whatever it
//! accepts must hold together (checked here from the outside).
#![no_main]

use std::io::{BufReader, Cursor};

use hearth_gguf::{Gguf, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let full = Gguf::from_bytes(data, &ReadOptions::full());
    // A tiny buffer, so skips cross buffer boundaries and seek the source.
    let buffered = BufReader::with_capacity(16, Cursor::new(data));
    let summary = Gguf::read(buffered, len, &ReadOptions::summary());
    if let Ok(g) = &full {
        check(g, len);
        // A summary keeps less, so it accepts whatever the full read does
        // (for inputs far under its memory budget) and sees the same tensors.
        let s = summary
            .as_ref()
            .expect("a summary refused what a full read accepted");
        assert_eq!(g.tensors(), s.tensors());
        assert_eq!(g.data_offset(), s.data_offset());
    }
    if let Ok(s) = &summary {
        check(s, len);
    }
});

/// What every accepted header must satisfy.
fn check(g: &Gguf, len: u64) {
    assert!((2..=3).contains(&g.version()));
    assert!(g.alignment().is_power_of_two() && g.alignment() >= 8);
    let mut ranges = Vec::new();
    for t in g.tensors() {
        let r = t.byte_range();
        assert!(
            r.start <= r.end && r.end <= len,
            "{} at {r:?} of {len}",
            t.name()
        );
        assert!(r.start >= g.data_offset());
        assert_eq!((r.start - g.data_offset()) % g.alignment(), 0);
        assert_eq!(t.ggml_type().bytes_for(t.elements()), Some(t.size()));
        assert!(t.dims().len() <= 4);
        assert_eq!(g.tensor(t.name()).map(|u| u.byte_range()), Some(r.clone()));
        if !r.is_empty() {
            ranges.push(r);
        }
    }
    ranges.sort_by_key(|r| r.start);
    for w in ranges.windows(2) {
        assert!(w[0].end <= w[1].start, "{:?} and {:?} overlap", w[0], w[1]);
    }
}
