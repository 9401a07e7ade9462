//! hearth-gguf integration tests: the hostile-file corpus, the limits, the
//! real test models, and a mutation loop over all of them.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;
mod limits;
mod models;
mod mutate;

use hearth_gguf::Gguf;

/// What every header the reader accepts must satisfy, checked from the
/// outside: tensors whole inside the file, aligned, apart, sized as their
/// type says. Returns what is wrong.
pub(crate) fn invariants(g: &Gguf, file_len: u64) -> Result<(), String> {
    let mut ranges = Vec::new();
    for t in g.tensors() {
        let r = t.byte_range();
        if r.end > file_len || r.start > r.end {
            return Err(format!(
                "{} lies at {r:?}, outside {file_len} bytes",
                t.name()
            ));
        }
        if !(r.start - g.data_offset()).is_multiple_of(g.alignment()) {
            return Err(format!("{} is not aligned", t.name()));
        }
        let ty = t.ggml_type();
        let want = ty.bytes_for(t.elements());
        if want != Some(t.size()) {
            return Err(format!(
                "{} has {} bytes, {ty} says {want:?}",
                t.name(),
                t.size()
            ));
        }
        if g.tensor(t.name()).map(|u| u.byte_range()) != Some(r.clone()) {
            return Err(format!("{} is not found by name", t.name()));
        }
        if !r.is_empty() {
            ranges.push(r);
        }
    }
    ranges.sort_by_key(|r| r.start);
    if let Some(w) = ranges.windows(2).find(|w| w[0].end > w[1].start) {
        return Err(format!("{:?} and {:?} overlap", w[0], w[1]));
    }
    if !(2..=3).contains(&g.version()) || !g.alignment().is_power_of_two() {
        return Err("version or alignment out of range".into());
    }
    Ok(())
}
