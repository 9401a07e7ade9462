//! The limits that hold whatever a file says: memory no larger than the file,
//! the memory budget, string lengths, nesting, what a summary skips.

use hearth_gguf::{Array, Gguf, GgufError, ReadOptions, Value, ValueType};
use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec};

fn with(key: &str, value: Kv) -> Vec<u8> {
    GgufWriter::new()
        .with("general.architecture", Kv::str("llama"))
        .with(key, value)
        .to_bytes()
}

fn raw_array(item: u32, count: u64, body: Vec<u8>) -> Kv {
    let mut bytes = item.to_le_bytes().to_vec();
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend(body);
    Kv::Raw { code: 9, bytes }
}

#[test]
fn arrays_take_no_more_memory_than_their_bytes_in_the_file() {
    // Every fixed-size item type, a million items each: in memory, one item
    // per item of the same size (an enum per item was ~8x the file).
    for (item, size) in [
        (0u32, 1usize),
        (7, 1),
        (3, 2),
        (4, 4),
        (6, 4),
        (10, 8),
        (12, 8),
    ] {
        let n = 1_000_000u64;
        let body = if item == 7 {
            vec![1u8; n as usize]
        } else {
            vec![0u8; n as usize * size]
        };
        let bytes = with("big", raw_array(item, n, body));
        let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
        let a = g.metadata().get_array("big").unwrap();
        assert_eq!(a.len(), n as usize);
        assert_eq!(a.item_type(), ValueType::from_code(item).unwrap());
        assert!(
            a.heap_bytes() <= n as usize * size,
            "type {item}: {} bytes for {} in the file",
            a.heap_bytes(),
            n as usize * size
        );
    }
    // Strings: the text plus one end per string, no more than the file's
    // length prefixes and text.
    let words: Vec<String> = (0..200_000).map(|i| format!("w{i}")).collect();
    let bytes = with("words", Kv::strs(words.iter().map(String::as_str)));
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    let a = g.metadata().get_array("words").unwrap();
    assert!(
        a.heap_bytes() <= bytes.len(),
        "{} > {}",
        a.heap_bytes(),
        bytes.len()
    );
    assert_eq!(
        g.metadata().get_strings("words").unwrap().get(12_345),
        Some("w12345")
    );
}

#[test]
fn a_count_the_file_cannot_hold_is_refused_before_allocating() {
    // 1000 f32 written; the count claims one more than the bytes left allow.
    let tail = 1000 * 4;
    let bytes = with("x", raw_array(6, 1001, vec![0; tail]));
    let err = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap_err();
    assert!(
        matches!(err, GgufError::CountTooLarge { count: 1001, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("metadata key \"x\""), "{err}");
    // The bound is tight: exactly as many as there are is fine.
    let bytes = with("x", raw_array(6, 1000, vec![0; tail]));
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    assert_eq!(g.metadata().get_f32s("x").unwrap().len(), 1000);
}

#[test]
fn the_memory_budget_holds_for_any_file() {
    let bytes = with("big", raw_array(0, 100_000, vec![0; 100_000]));
    let small = ReadOptions {
        max_memory: 50_000,
        ..ReadOptions::full()
    };
    let err = Gguf::from_bytes(&bytes, &small).unwrap_err();
    assert!(
        matches!(err, GgufError::OverBudget { limit: 50_000, .. }),
        "{err}"
    );
    // Empty nested arrays: 12 bytes each in the file, more in memory; the
    // budget counts what they take.
    let bytes = with(
        "nest",
        raw_array(
            9,
            10_000,
            [0u32.to_le_bytes().to_vec(), 0u64.to_le_bytes().to_vec()]
                .concat()
                .repeat(10_000),
        ),
    );
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    assert_eq!(g.metadata().get_array("nest").unwrap().len(), 10_000);
    let tight = ReadOptions {
        max_memory: 200_000,
        ..ReadOptions::full()
    };
    let err = Gguf::from_bytes(&bytes, &tight).unwrap_err();
    assert!(matches!(err, GgufError::OverBudget { .. }), "{err}");
}

#[test]
fn strings_longer_than_the_limit_are_refused() {
    let bytes = with("general.name", Kv::str(&"n".repeat(5000)));
    let opts = ReadOptions {
        max_string: 4999,
        ..ReadOptions::full()
    };
    let err = Gguf::from_bytes(&bytes, &opts).unwrap_err().to_string();
    assert!(
        err.contains("5000 bytes long, more than the 4999 allowed"),
        "{err}"
    );
    assert!(Gguf::from_bytes(&bytes, &ReadOptions::full()).is_ok());
}

#[test]
fn a_summary_skips_long_values_and_keeps_the_rest() {
    let words: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
    let bytes = GgufWriter::new()
        .with("general.architecture", Kv::str("llama"))
        .with("llama.block_count", Kv::U32(30))
        .with(
            "tokenizer.ggml.tokens",
            Kv::strs(words.iter().map(String::as_str)),
        )
        .with("tokenizer.chat_template", Kv::str(&"x".repeat(10_000)))
        .with("small", Kv::i32s([1, 2, 3]))
        .tensor(TensorSpec::f32("t", &[4], &[1.0; 4]))
        .to_bytes();
    let g = Gguf::from_bytes(&bytes, &ReadOptions::summary()).unwrap();
    let m = g.metadata();
    assert_eq!(m.get_u64("llama.block_count"), Ok(30));
    assert_eq!(
        m.get("tokenizer.ggml.tokens"),
        Some(&Value::Omitted {
            ty: ValueType::Array,
            item: Some(ValueType::String),
            len: 5000
        })
    );
    assert!(matches!(
        m.get("tokenizer.chat_template"),
        Some(Value::Omitted { len: 10_000, .. })
    ));
    assert_eq!(
        m.get("small"),
        Some(&Value::Array(Array::I32(vec![1, 2, 3])))
    );
    let err = m
        .get_strings("tokenizer.ggml.tokens")
        .unwrap_err()
        .to_string();
    assert!(err.contains("(not read)"), "{err}");
    assert_eq!(g.tensor("t").unwrap().elements(), 4);
}

#[test]
fn arrays_may_nest_four_deep_and_no_deeper() {
    let nested = |depth: usize| {
        let mut v = Kv::i32s([7]);
        for _ in 1..depth {
            v = Kv::Array {
                item: 9,
                items: vec![v],
            };
        }
        v
    };
    let bytes = with("x", nested(4));
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    let mut a = g.metadata().get_array("x").unwrap();
    for _ in 1..4 {
        let Array::Array(items) = a else {
            panic!("{a:?}")
        };
        a = &items[0];
    }
    assert_eq!(a, &Array::I32(vec![7]));
    let err = Gguf::from_bytes(&with("x", nested(5)), &ReadOptions::full()).unwrap_err();
    assert!(err.to_string().contains("nested more than 4 deep"), "{err}");
}

#[test]
fn alignment_from_the_file_places_the_data() {
    let w = GgufWriter {
        alignment: 64,
        ..GgufWriter::new()
    }
    .with("general.alignment", Kv::U32(64))
    .tensor(TensorSpec::f32("a", &[3], &[1.0; 3]))
    .tensor(TensorSpec::f32("b", &[3], &[2.0; 3]));
    let (bytes, layout) = (w.to_bytes(), w.layout());
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_offset() % 64, 0);
    assert_eq!(
        g.tensor("b").unwrap().byte_range().start as usize,
        layout.data[1].start
    );
    // At 64, an offset of 32 (fine at the default 32) is misaligned.
    let mut w = w.clone();
    w.tensor_mut("b").offset = Some(32);
    let err = Gguf::from_bytes(&w.to_bytes(), &ReadOptions::full()).unwrap_err();
    assert!(err.to_string().contains("general.alignment (64)"), "{err}");
}

#[test]
fn edge_shapes_that_are_valid_are_read() {
    let name64 = "n".repeat(64);
    let bytes = GgufWriter::new()
        .tensor(TensorSpec {
            name: "scalar".into(),
            dims: vec![],
            type_code: 0,
            data: 1f32.to_le_bytes().to_vec(),
            offset: None,
        })
        .tensor(TensorSpec {
            name: "empty".into(),
            dims: vec![0, 5],
            type_code: 0,
            data: vec![],
            offset: None,
        })
        .tensor(TensorSpec::f32(&name64, &[1, 1, 2, 2], &[0.0; 4]))
        .to_bytes();
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    assert_eq!(g.tensor("scalar").unwrap().elements(), 1);
    assert_eq!(g.tensor("scalar").unwrap().shape(), Vec::<usize>::new());
    assert_eq!(g.tensor("empty").unwrap().size(), 0);
    assert_eq!(g.tensor(&name64).unwrap().shape(), vec![1, 1, 2, 2]);
    assert_eq!(g.parameter_count(), 5);
    crate::invariants(&g, bytes.len() as u64).unwrap();
}

#[test]
fn a_file_of_metadata_alone_is_read() {
    let bytes = with("x", Kv::U8(1));
    let g = Gguf::from_bytes(&bytes, &ReadOptions::full()).unwrap();
    assert!(g.tensors().is_empty());
    assert_eq!(g.data_offset(), bytes.len() as u64);
    assert_eq!(g.metadata().get("x"), Some(&Value::U8(1)));
}
