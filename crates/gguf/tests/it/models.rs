//! The real test models, read the engine's way (in full, from memory) and the
//! hub's way (a summary, through a buffered file).

use hearth_gguf::{GgmlType, Gguf, ReadOptions, Value, ValueType};
use hearth_testkit::models;

#[test]
fn real_models_read_the_same_both_ways() {
    for (path, arch, vocab) in [
        (models::smollm2(), "llama", 49_152),
        (models::gemma3(), "gemma3", 262_144),
    ] {
        let bytes = std::fs::read(&path).unwrap();
        let full = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
        let summary = Gguf::open(&path, &ReadOptions::summary()).unwrap();
        assert_eq!(full.architecture().unwrap(), arch);
        assert_eq!(summary.architecture().unwrap(), arch);
        assert_eq!(full.tensors(), summary.tensors());
        assert_eq!(full.data_offset(), summary.data_offset());
        assert_eq!(full.file_size(), bytes.len() as u64);
        crate::invariants(&full, bytes.len() as u64).unwrap();
        assert_eq!(
            full.metadata()
                .get_strings("tokenizer.ggml.tokens")
                .unwrap()
                .len(),
            vocab
        );
        assert_eq!(
            summary.metadata().get("tokenizer.ggml.tokens"),
            Some(&Value::Omitted {
                ty: ValueType::Array,
                item: Some(ValueType::String),
                len: vocab as u64
            })
        );
        // The last tensor ends within one alignment of the end of the file.
        let end = full
            .tensors()
            .iter()
            .map(|t| t.byte_range().end)
            .max()
            .unwrap();
        assert!(bytes.len() as u64 - end < full.alignment());
        let embd = full.tensor("token_embd.weight").unwrap();
        assert_eq!(embd.shape()[0], vocab);
    }
    let smol = Gguf::open(&models::smollm2(), &ReadOptions::summary()).unwrap();
    assert_eq!(
        smol.tensor("blk.0.attn_q.weight").unwrap().ggml_type(),
        GgmlType::Q4_1
    );
    // llama-bench reports 134.52 M parameters for this file.
    assert_eq!(smol.parameter_count() / 10_000, 13_451);
}
