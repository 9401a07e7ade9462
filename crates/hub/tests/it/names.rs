//! Issue 21: the name a person reads comes from the file's header (cleaned),
//! and the decode speed shown is the one this machine measured.

use std::fs;

use hearth_hub::{Library, ModelFacts, estimate, inspect};
use hearth_testkit::gguf::{GgufWriter, Kv, TensorSpec};

/// A small complete GGUF with these `general.*` strings.
fn gguf(general: &[(&str, &str)]) -> Vec<u8> {
    let mut w = GgufWriter::new()
        .with("general.architecture", Kv::str("llama"))
        .with("general.file_type", Kv::U32(3))
        .with("llama.block_count", Kv::U32(2))
        .with("llama.attention.head_count", Kv::U32(2))
        .with("llama.embedding_length", Kv::U32(8));
    for (key, value) in general {
        w.set(&format!("general.{key}"), Kv::str(value));
    }
    w.tensor(TensorSpec::f32("token_embd.weight", &[4, 8], &[0.0; 32]))
        .to_bytes()
}

#[test]
fn the_library_names_a_model_from_its_header() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lib = Library::open(tmp.path().join("models")).unwrap();
    // As the SmolLM2 test model's header has it.
    let smol = tmp.path().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    fs::write(
        &smol,
        gguf(&[
            ("name", "Smollm2 135M 8k Lc100K Mix1 Ep2"),
            ("basename", "smollm2"),
            ("finetune", "8k-lc100k-mix1-ep2"),
            ("size_label", "135M"),
        ]),
    )
    .unwrap();
    let entry = lib.import(&smol, false).unwrap();
    assert_eq!(entry.info.size_label.as_deref(), Some("135M"));
    assert_eq!(entry.display_name(), "SmolLM2 135M Instruct · Q4_1");
    // A plain file name: the header's name and size label.
    let plain = tmp.path().join("model.gguf");
    fs::write(
        &plain,
        gguf(&[("name", "Llama 3.2 Instruct"), ("size_label", "1B")]),
    )
    .unwrap();
    let entry = lib.import(&plain, false).unwrap();
    assert_eq!(entry.display_name(), "Llama 3.2 Instruct 1B · Q4_1");
    // Hostile header text is shown cleaned and capped (the header reader
    // keeps strings up to 4 KiB).
    let evil = tmp.path().join("evil.gguf");
    let long = format!("Evil\u{1b}[2J\u{202e}\n{}", "x".repeat(3000));
    fs::write(&evil, gguf(&[("name", &long), ("size_label", "\u{7}")])).unwrap();
    let info = inspect(&evil).unwrap();
    let shown = info.display_name("evil.gguf").unwrap();
    assert!(shown.starts_with("Evil[2J x"), "{shown}");
    assert!(shown.chars().count() <= 60 + " · Q4_1".len(), "{shown}");
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    // Nothing to go by: the library id.
    let bare = tmp.path().join("ggml-model.gguf");
    fs::write(&bare, gguf(&[])).unwrap();
    let entry = lib.import(&bare, false).unwrap();
    assert_eq!(entry.display_name(), entry.id);
}

/// Issue 21: the Models screen showed "3 tok/s" (one answer measured by a
/// debug build) beside "≤177 tok/s" for the same file. The speed shown is
/// the median of the last five runs by the same kind of build.
#[test]
fn the_measured_speed_is_the_median_of_recent_runs_of_the_same_build() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lib = Library::open(tmp.path().join("models")).unwrap();
    let file = tmp.path().join("m.gguf");
    fs::write(&file, gguf(&[("name", "M")])).unwrap();
    let id = lib.import(&file, false).unwrap().id;
    let measured = |lib: &Library| lib.list()[0].measured.clone().unwrap();

    // A debug build's slow run says nothing about a release build.
    lib.record_measurement(&id, 0.1, 3.0, 0, false).unwrap();
    assert_eq!(measured(&lib).expected_tok_s(false), Some(3.0));
    assert_eq!(measured(&lib).expected_tok_s(true), None);

    // Release runs start afresh; one slow answer does not move the median.
    for speed in [150.0, 148.0, 20.0, 152.0, 151.0, 149.0] {
        lib.record_measurement(&id, 0.1, speed, 0, true).unwrap();
    }
    let m = measured(&Library::open(lib.models_dir()).unwrap());
    assert_eq!(m.recent_tok_s, vec![148.0, 20.0, 152.0, 151.0, 149.0]);
    assert_eq!(m.decode_tok_s, 149.0);
    assert_eq!(m.expected_tok_s(true), Some(149.0));
    assert_eq!(m.expected_tok_s(false), None);

    // The estimate shows it as measured; without it, the bandwidth's bound.
    let machine = hearth_hub::Machine {
        total_ram: 16 << 30,
        available_ram: 8 << 30,
        bandwidth: Some(20e9),
    };
    let facts = ModelFacts {
        size: 100_000_000,
        measured_decode_tok_s: m.expected_tok_s(true),
        ..ModelFacts::default()
    };
    let e = estimate(&facts, 2048, &machine);
    assert_eq!((e.decode_tok_s, e.measured), (Some(149.0), true));
    let bound = estimate(
        &ModelFacts {
            measured_decode_tok_s: None,
            ..facts
        },
        2048,
        &machine,
    );
    assert_eq!((bound.decode_tok_s, bound.measured), (Some(200.0), false));
}

/// A manifest written before the recent runs and the build kind were kept
/// still reads; its single speed is not trusted for either kind of build.
#[test]
fn an_old_manifest_measurement_reads_but_is_measured_again() {
    let m: hearth_hub::Measurement =
        serde_json::from_str(r#"{"load_secs":0.5,"decode_tok_s":3.1,"peak_rss_bytes":1}"#).unwrap();
    assert!(m.recent_tok_s.is_empty());
    assert_eq!(m.expected_tok_s(true), None);
    assert_eq!(m.expected_tok_s(false), None);
}
