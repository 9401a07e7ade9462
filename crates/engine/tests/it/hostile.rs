//! The hostile-file corpus through the engine: files that are not valid GGUF
//! are refused when opened, models that lie are refused at load (or, for
//! weights that are not numbers, at the first token) with the tensor or key
//! named and, through `Engine::load`, the file too. Nothing panics.

use candle_core::Device;
use hearth_backend::Message;
use hearth_engine::gguf::{GgmlType, GgufFile};
use hearth_engine::{
    Engine, EngineError, EngineOptions, GenerateRequest, LoadOptions, SamplingParams, load_model,
    runnable_types,
};
use hearth_testkit::gguf::TinyLlama;
use hearth_testkit::gguf::hostile::{Expect, corpus, lying_models};
use tokio_util::sync::CancellationToken;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.path().join(format!("{name}.gguf"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn one_token(engine: &Engine) -> Result<String, EngineError> {
    let request = GenerateRequest {
        sampling: SamplingParams::greedy(),
        max_tokens: Some(3),
        ..GenerateRequest::chat(vec![Message::user("hi")])
    };
    engine
        .generate_blocking(request, CancellationToken::new(), |_| {})
        .map(|c| c.text)
}

#[test]
fn the_tiny_model_the_lies_are_made_from_runs() {
    // Each lying model is this one with one thing changed: it must load and
    // generate, or the refusals below would prove nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "honest", &TinyLlama::default().to_bytes());
    let gguf = GgufFile::open(&path).unwrap();
    let (model, info) = load_model(&gguf, &Device::Cpu, &LoadOptions::default()).unwrap();
    assert_eq!(info.vocab_size, TinyLlama::default().vocab());
    model
        .forward(&mut model.new_cache(), &[1, 5, 6], 0)
        .unwrap();
    let engine = Engine::load(&path, EngineOptions::default()).unwrap();
    one_token(&engine).unwrap();
}

#[test]
fn files_that_are_not_gguf_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for case in corpus() {
        let Expect::Refused(phrase) = case.expect else {
            unreachable!("{}", case.name)
        };
        let path = write(&dir, case.name, &case.bytes);
        let err = GgufFile::open(&path)
            .err()
            .unwrap_or_else(|| panic!("{}", case.name));
        assert!(
            matches!(err, EngineError::InvalidGguf { .. }),
            "{}: {err}",
            case.name
        );
        let msg = err.to_string();
        assert!(
            msg.contains(phrase) && msg.contains(case.name),
            "{}: {msg}",
            case.name
        );
        let err = Engine::load(&path, EngineOptions::default()).err().unwrap();
        assert!(err.to_string().contains(phrase), "{}: {err}", case.name);
    }
}

#[test]
fn models_that_lie_are_refused_at_load_or_at_the_first_token() {
    let dir = tempfile::tempdir().unwrap();
    for case in lying_models() {
        let path = write(&dir, case.name, &case.bytes);
        let gguf = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let loaded = load_model(&gguf, &Device::Cpu, &LoadOptions::default());
        let err = match case.expect {
            Expect::LoadRefused(phrase) => {
                let err = loaded
                    .err()
                    .unwrap_or_else(|| panic!("{} loaded", case.name));
                assert!(err.to_string().contains(phrase), "{}: {err}", case.name);
                Engine::load(&path, EngineOptions::default()).err().unwrap()
            }
            Expect::RunRefused(phrase) => {
                let (model, _) = loaded.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                let mut cache = model.new_cache();
                let err = model.forward(&mut cache, &[1, 5], 0).unwrap_err();
                assert!(err.to_string().contains(phrase), "{}: {err}", case.name);
                assert!(
                    matches!(err, EngineError::NonFiniteLogits { position: 1 }),
                    "{}: {err:?}",
                    case.name
                );
                // The cache is left as it was: the next forward starts at 0.
                model.forward(&mut cache, &[1], 0).unwrap_err();
                let engine = Engine::load(&path, EngineOptions::default()).unwrap();
                one_token(&engine).unwrap_err()
            }
            Expect::Refused(_) => unreachable!("{}", case.name),
        };
        // Through the engine, the message names the file as well.
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{}.gguf", case.name)),
            "{}: {msg}",
            case.name
        );
        assert!(!msg.contains("panicked"), "{msg}");
    }
}

#[test]
fn a_weight_type_hearth_cannot_run_is_named_with_the_ones_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let case = lying_models()
        .into_iter()
        .find(|c| c.name == "weight-type-hearth-cannot-run")
        .unwrap();
    assert!(!runnable_types(&Device::Cpu).contains(&GgmlType::MXFP4));
    let path = write(&dir, case.name, &case.bytes);
    let gguf = GgufFile::open(&path).unwrap();
    let err = load_model(&gguf, &Device::Cpu, &LoadOptions::default())
        .err()
        .unwrap();
    let EngineError::UnsupportedTensorType { tensor, ty, runs } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((tensor.as_str(), *ty), ("blk.0.attn_q.weight", "MXFP4"));
    for t in runnable_types(&Device::Cpu) {
        assert!(runs.contains(t.name()), "{runs}");
    }
    // Hearth's kernels are CPU code: without them (candle's reference path),
    // a type only they run is refused the same way, never mis-computed.
    let candle_only = LoadOptions {
        candle_matmul: true,
        ..LoadOptions::default()
    };
    assert!(load_model(&gguf, &Device::Cpu, &candle_only).is_err());
}

#[test]
fn every_truncation_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = TinyLlama::default().to_bytes();
    for cut in (0..bytes.len()).step_by(997) {
        let path = write(&dir, "cut", &bytes[..cut]);
        let err = GgufFile::open(&path)
            .err()
            .unwrap_or_else(|| panic!("cut {cut}"));
        assert!(
            matches!(err, EngineError::InvalidGguf { .. }),
            "cut {cut}: {err}"
        );
    }
}
