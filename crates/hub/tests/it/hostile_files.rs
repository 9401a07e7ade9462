//! The hostile-file corpus through the library's header inspection: every
//! invalid file is refused with the reader's error (naming the file), every
//! valid one is read, nothing panics; and a header whose numbers overflow
//! gets an honest "won't fit", not a wrapped-around estimate.

use hearth_hub::{Fit, Machine, ModelFacts, inspect};
use hearth_testkit::gguf::TinyLlama;
use hearth_testkit::gguf::hostile::{Expect, corpus, lying_models};

#[test]
fn the_inspector_refuses_every_hostile_file_and_reads_every_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    for case in corpus().into_iter().chain(lying_models()) {
        let path = dir.path().join(format!("{}.gguf", case.name));
        std::fs::write(&path, &case.bytes).unwrap();
        let result = inspect(&path);
        match case.expect {
            Expect::Refused(phrase) => {
                let err = result
                    .err()
                    .unwrap_or_else(|| panic!("{} was accepted", case.name));
                let msg = err.to_string();
                assert!(msg.contains(phrase), "{}: {msg}", case.name);
                assert!(msg.contains(&format!("{}.gguf", case.name)), "{msg}");
            }
            // Valid GGUF: the library lists it (the engine refuses to run it).
            Expect::LoadRefused(_) | Expect::RunRefused(_) => {
                let info = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                assert!(info.parameters > 0, "{}", case.name);
            }
        }
    }
}

#[test]
fn a_lying_shape_is_estimated_as_not_fitting() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TinyLlama::default().writer();
    w.set("llama.block_count", hearth_testkit::gguf::Kv::U64(1 << 62));
    w.set(
        "llama.attention.key_length",
        hearth_testkit::gguf::Kv::U64(1 << 40),
    );
    let path = dir.path().join("lies.gguf");
    std::fs::write(&path, w.to_bytes()).unwrap();
    let info = inspect(&path).unwrap();
    assert_eq!(info.shape.layers, Some(1 << 62));
    let facts = ModelFacts {
        size: std::fs::metadata(&path).unwrap().len(),
        shape: Some(info.shape),
        quant: None,
        measured_decode_tok_s: None,
        kv_bytes_per_value: None,
    };
    let machine = Machine {
        total_ram: 64 << 30,
        available_ram: 32 << 30,
        bandwidth: None,
    };
    let est = hearth_hub::estimate(&facts, 4096, &machine);
    assert_eq!(est.fit, Fit::WontFit);
    assert_eq!(est.kv_cache, u64::MAX);
    assert!(!est.approximate);
}
