//! Sentence embeddings against sentence-transformers' own vectors for the same
//! sentences (tests/data/embed/, made by make_reference.py there).

use hearth_engine::{Embedder, cosine};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/embed/all-MiniLM-L6-v2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn minilm_matches_sentence_transformers() {
    let embedder = Embedder::load(hearth_testkit::models::minilm()).unwrap();
    assert_eq!(embedder.dim(), 384);
    assert_eq!(embedder.max_tokens(), 256);
    assert!(embedder.normalizes());
    let reference = reference();
    let texts: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    let got = embedder.embed(&texts).unwrap();
    assert_eq!(got.vectors.len(), texts.len());
    for (i, (ours, theirs)) in got.vectors.iter().zip(&reference.vectors).enumerate() {
        assert_eq!(ours.len(), 384);
        let c = cosine(ours, theirs);
        assert!(
            c >= 0.99,
            "sentence {i}: cosine {c} against sentence-transformers"
        );
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "sentence {i}: norm {norm}");
    }
    // The long sentence was cut to the model's window.
    assert!(embedder.count_tokens(texts[5]).unwrap() > 256);
    assert!(got.tokens <= 256 * texts.len());
}

#[test]
fn one_text_alone_equals_the_same_text_in_a_padded_batch() {
    let embedder = Embedder::load(hearth_testkit::models::minilm()).unwrap();
    let short = "Short.";
    let long = "A much longer sentence that forces the short one to be padded in its batch.";
    let alone = embedder.embed(&[short]).unwrap().vectors.remove(0);
    let batched = embedder.embed(&[long, short]).unwrap().vectors.remove(1);
    let c = cosine(&alone, &batched);
    assert!(c > 0.9999, "padding changed the vector: cosine {c}");
}

#[test]
fn related_sentences_are_closer_than_unrelated_ones() {
    let embedder = Embedder::load(hearth_testkit::models::minilm()).unwrap();
    let v = embedder
        .embed(&[
            "How do I bake bread?",
            "A recipe for baking a loaf of bread.",
            "The stock market fell sharply today.",
        ])
        .unwrap()
        .vectors;
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2);
}

#[test]
fn a_folder_that_is_not_bert_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = hearth_testkit::models::minilm();
    for f in ["modules.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":1,"max_position_embeddings":8}"#,
    )
    .unwrap();
    let err = Embedder::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("not a usable embedding model"), "{err}");
    assert!(err.contains("llama"), "{err}");
}
