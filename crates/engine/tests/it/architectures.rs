//! Every model family Hearth claims, against llama.cpp, in every test run:
//! scaled-down random-weight F16 files with each family's real tensor names,
//! metadata, head size, GQA ratio and rope variant (written by `cargo xtask
//! fetch-test-models`), teacher-forced on the tokens llama.cpp scored. The
//! fixtures keep llama.cpp's top token and lead at each scored position and
//! its perplexity (`cargo xtask verify-models --write-fixtures`); the full
//! table over every quantisation is `cargo xtask verify-models`.

use std::path::Path;

use hearth_engine::{Engine, EngineOptions, LlamaLogits};
use hearth_testkit::models;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Fixture {
    context: usize,
    vocab: usize,
    llama_ppl: f64,
    tokens: Vec<u32>,
    top: Vec<(u32, f32)>,
}

fn fixture(shape: &str) -> (Fixture, LlamaLogits) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/architectures")
        .join(format!("{shape}.json"));
    let fixture: Fixture = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let reference = LlamaLogits::from_top(
        &path,
        fixture.context,
        fixture.vocab,
        fixture.tokens.clone(),
        fixture.top.clone(),
    )
    .unwrap();
    (fixture, reference)
}

#[test]
fn every_family_agrees_with_llama_cpp_on_its_f16_file() {
    let mut report = Vec::new();
    for shape in models::ARCHITECTURES {
        let (fixture, reference) = fixture(shape);
        let options = EngineOptions {
            context_length: Some(fixture.context),
            ..EngineOptions::default()
        };
        let engine = Engine::load(models::architecture(shape), options)
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        let score = engine
            .perplexity_against(reference, None, CancellationToken::new(), |_| {})
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        let versus = score.versus_llama.unwrap();
        assert_eq!(versus.positions, fixture.top.len(), "{shape}");
        let ratio = score.ppl / fixture.llama_ppl;
        report.push(format!(
            "{shape}: top-1 {}/{} where llama.cpp is sure ({}/{} in all), perplexity ratio {ratio:.5}",
            versus.confident_same_top1, versus.confident, versus.same_top1, versus.positions
        ));
        // The goals for F16 weights: the same top token at 99% of
        // the positions where llama.cpp leads by more than 0.1 nats, and the
        // perplexity within 0.3%.
        assert!(
            versus.confident > versus.positions / 2,
            "{shape}: llama.cpp is sure too rarely for the check to mean anything: {versus:?}"
        );
        assert!(
            versus.confident_same_top1 * 100 >= versus.confident * 99,
            "{shape}: {versus:?}"
        );
        assert!((ratio - 1.0).abs() <= 0.003, "{shape}: {ratio}");
    }
    println!("{}", report.join("\n"));
}
