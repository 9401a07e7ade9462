//! Every file of the hostile corpus: the ones that are not valid GGUF are
//! refused with the error the corpus names, by both ways of reading; the
//! valid ones (lying models) are read whole. Nothing panics.

use std::io::{BufReader, Cursor};

use hearth_gguf::{Gguf, GgufError, ReadOptions};
use hearth_testkit::gguf::hostile::{Expect, corpus, lying_models};
use hearth_testkit::gguf::{TinyGguf, TinyLlama};

use crate::invariants;

/// Reads `bytes` the three ways Hearth does: from memory in full (the
/// engine), and through a buffered reader that seeks over what it skips (the
/// hub), in full and in summary.
fn read_all_ways(bytes: &[u8]) -> [Result<Gguf, GgufError>; 3] {
    let len = bytes.len() as u64;
    let buffered = |opts| Gguf::read(BufReader::with_capacity(64, Cursor::new(bytes)), len, &opts);
    [
        Gguf::from_bytes(bytes, &ReadOptions::full()),
        buffered(ReadOptions::full()),
        buffered(ReadOptions::summary()),
    ]
}

#[test]
fn hostile_files_are_refused_with_a_clear_error() {
    let corpus = corpus();
    assert!(corpus.len() > 40, "{}", corpus.len());
    for case in corpus {
        let Expect::Refused(phrase) = case.expect else {
            panic!("{}: the corpus holds only invalid files", case.name);
        };
        for (way, result) in read_all_ways(&case.bytes).into_iter().enumerate() {
            match result {
                Ok(_) => panic!("{} (way {way}) was accepted", case.name),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(phrase), "{} (way {way}): {msg}", case.name);
                }
            }
        }
    }
}

#[test]
fn valid_files_are_read_whole() {
    let mut files: Vec<(&str, Vec<u8>)> = lying_models()
        .into_iter()
        .map(|c| (c.name, c.bytes))
        .collect();
    files.push(("tiny llama", TinyLlama::default().to_bytes()));
    files.push(("tiny gguf", TinyGguf::default().to_bytes()));
    for (name, bytes) in files {
        for (way, result) in read_all_ways(&bytes).into_iter().enumerate() {
            let g = result.unwrap_or_else(|e| panic!("{name} (way {way}): {e}"));
            invariants(&g, bytes.len() as u64).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn every_truncation_of_a_model_is_refused() {
    let bytes = TinyLlama::default().to_bytes();
    let data_start = TinyLlama::default().writer().layout().data_start;
    // Every cut in the header, and a cut every 61 bytes in the weights.
    let cuts = (0..data_start).chain((data_start..bytes.len()).step_by(61));
    let mut n = 0;
    for cut in cuts {
        for result in read_all_ways(&bytes[..cut]) {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("cut at {cut} was accepted"));
            let msg = err.to_string();
            assert!(
                msg.contains("truncated") || msg.contains("not a GGUF file"),
                "cut at {cut}: {msg}"
            );
        }
        n += 1;
    }
    assert!(n > data_start);
}

#[test]
fn the_lying_models_are_what_they_claim_to_be() {
    // The corpus's valid files differ from the model in one thing each; a
    // "lying" file identical to the honest one would test nothing.
    let honest = TinyLlama::default().to_bytes();
    for case in lying_models() {
        assert!(
            matches!(case.expect, Expect::LoadRefused(_) | Expect::RunRefused(_)),
            "{}",
            case.name
        );
        assert_ne!(case.bytes, honest, "{}", case.name);
    }
}
