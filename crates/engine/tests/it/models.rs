//! Model tests with the real test models: loading and [`ModelInfo`], the KV cache
//! (cached greedy decoding equals full recomputation; truncation equals a fresh
//! run), and clear errors for unsupported or incomplete files.

// Helpers outside #[test] functions unwrap too: this is test code.
#![allow(clippy::unwrap_used)]

use candle_core::{Device, Tensor};
use hearth_engine::gguf::GgufFile;
use hearth_engine::{
    DEFAULT_CONTEXT_CAP, EngineError, LoadOptions, Model, ModelInfo, SUPPORTED_ARCHITECTURES,
    SeqCache, load_model,
};

/// Fixed prompts: SmolLM2 reads `<|im_start|>The rong of France is`, Gemma 3
/// `<bos>The capital of France is`.
const SMOLLM2_IDS: [u32; 6] = [1, 504, 3458, 282, 4649, 314];
const GEMMA3_IDS: [u32; 6] = [2, 818, 5279, 529, 7001, 563];

/// A model and one sequence's cache: what these tests run.
struct Seq {
    model: Box<dyn Model>,
    cache: SeqCache,
}

impl Seq {
    fn forward(&mut self, ids: &[u32], pos: usize) -> Result<Tensor, EngineError> {
        self.model.forward(&mut self.cache, ids, pos)
    }

    fn truncate_cache(&mut self, len: usize) {
        self.cache.truncate(len);
    }
}

fn load(path: &std::path::Path, opts: &LoadOptions) -> (Seq, ModelInfo) {
    let gguf = GgufFile::open(path).unwrap();
    let (model, info) = load_model(&gguf, &Device::Cpu, opts).unwrap();
    let cache = model.new_cache();
    (Seq { model, cache }, info)
}

fn argmax(logits: &Tensor) -> u32 {
    let v = logits.to_vec1::<f32>().unwrap();
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy continuation of `ids` by `n` tokens, feeding one token at a time.
fn greedy_cached(m: &mut Seq, ids: &[u32], n: usize) -> Vec<u32> {
    m.truncate_cache(0);
    let mut tok = argmax(&m.forward(ids, 0).unwrap());
    let mut out = vec![tok];
    for i in 0..n - 1 {
        tok = argmax(&m.forward(&[tok], ids.len() + i).unwrap());
        out.push(tok);
    }
    out
}

/// Tolerances for comparing logits computed along different kernel paths:
/// candle quantises activations for single-row matmuls but not always for
/// multi-row ones, which moves logits (of magnitude ~20) by up to ~0.9 here.
/// A broken cache (wrong positions, lost keys) moves them by several units.
const LOGIT_TOLERANCE: f32 = 1.5;
/// A cached greedy pick may differ from the recomputed one only on a near tie.
const TIE_TOLERANCE: f32 = 0.5;

/// Checks the cached greedy continuation `cont` of `ids` against full
/// recomputation of every prefix without the cache (teacher-forced).
fn check_against_recomputation(m: &mut Seq, ids: &[u32], cont: &[u32]) {
    m.truncate_cache(0);
    let mut cached = vec![m.forward(ids, 0).unwrap()];
    for (i, &t) in cont[..cont.len() - 1].iter().enumerate() {
        cached.push(m.forward(&[t], ids.len() + i).unwrap());
    }
    let mut seq = ids.to_vec();
    for (step, (&tok, cached)) in cont.iter().zip(&cached).enumerate() {
        m.truncate_cache(0);
        let full = m.forward(&seq, 0).unwrap();
        let diff = max_abs_diff(cached, &full);
        assert!(
            diff < LOGIT_TOLERANCE,
            "step {step}: logits differ by {diff}"
        );
        let full_v = full.to_vec1::<f32>().unwrap();
        let best = full_v[argmax(&full) as usize];
        assert!(
            best - full_v[tok as usize] < TIE_TOLERANCE,
            "step {step}: cached pick {tok} is {} below the recomputed best",
            best - full_v[tok as usize]
        );
        seq.push(tok);
    }
    // The check can fail: the last token without its context is far off.
    m.truncate_cache(0);
    let alone = m.forward(&seq[seq.len() - 1..], 0).unwrap();
    m.truncate_cache(0);
    let full = m.forward(&seq, 0).unwrap();
    assert!(max_abs_diff(&alone, &full) > 2.0 * LOGIT_TOLERANCE);
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_vec1::<f32>().unwrap();
    let b = b.to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_cache(path: &std::path::Path, ids: &[u32]) {
    let (mut m, info) = load(path, &LoadOptions::default());
    let first = greedy_cached(&mut m, ids, 8);
    let second = greedy_cached(&mut m, ids, 8);
    assert_eq!(first, second, "greedy decoding is not deterministic");
    check_against_recomputation(&mut m, ids, &first);
    assert!(first.iter().all(|&t| (t as usize) < info.vocab_size));

    // Truncating the cache to a prefix and re-running the rest gives the logits
    // of a fresh run.
    m.truncate_cache(0);
    let fresh = m.forward(ids, 0).unwrap();
    m.forward(&first[..3], ids.len()).unwrap();
    m.truncate_cache(4);
    let reused = m.forward(&ids[4..], 4).unwrap();
    let diff = max_abs_diff(&fresh, &reused);
    assert!(diff < 1e-2, "logits after truncate differ by {diff}");
    assert_eq!(argmax(&fresh), argmax(&reused));
}

#[test]
fn smollm2_loads_with_its_hyperparameters() {
    let (_, info) = load(&hearth_testkit::models::smollm2(), &LoadOptions::default());
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.n_layers, 30);
    assert_eq!(info.vocab_size, 49152);
    assert_eq!(info.embedding_length, 576);
    assert_eq!(info.train_context_length, 8192);
    assert_eq!(info.context_length, DEFAULT_CONTEXT_CAP);
    assert_eq!(info.file_size, hearth_testkit::models::SMOLLM2.size);
    assert!(info.name.is_some());
}

#[test]
fn gemma3_loads_with_its_hyperparameters() {
    let opts = LoadOptions {
        context_length: Some(1024),
        ..LoadOptions::default()
    };
    let (_, info) = load(&hearth_testkit::models::gemma3(), &opts);
    assert_eq!(info.architecture, "gemma3");
    assert_eq!(info.n_layers, 18);
    assert_eq!(info.vocab_size, 262_144);
    assert_eq!(info.embedding_length, 640);
    assert_eq!(info.train_context_length, 32768);
    assert_eq!(info.context_length, 1024);
}

#[test]
fn smollm2_cache_matches_recomputation() {
    check_cache(&hearth_testkit::models::smollm2(), &SMOLLM2_IDS);
}

#[test]
fn gemma3_cache_matches_recomputation() {
    check_cache(&hearth_testkit::models::gemma3(), &GEMMA3_IDS);
}

#[test]
fn gemma3_sliding_window_cache_matches_recomputation() {
    // Past 512 positions the local layers stop seeing the start of the prompt:
    // the cached path (keys narrowed to the window) must agree with the
    // recomputed one (keys masked).
    let (mut m, _) = load(&hearth_testkit::models::gemma3(), &LoadOptions::default());
    let ids: Vec<u32> = std::iter::once(2)
        .chain((0..520).map(|i| 1000 + (i * 37 % 5000)))
        .collect();
    // Two prefills only (each is slow in a debug test build).
    let tok = argmax(&m.forward(&ids, 0).unwrap());
    let cached = m.forward(&[tok], ids.len()).unwrap();
    m.truncate_cache(0);
    let mut seq = ids.clone();
    seq.push(tok);
    let full = m.forward(&seq, 0).unwrap();
    let diff = max_abs_diff(&cached, &full);
    assert!(diff < LOGIT_TOLERANCE, "logits differ by {diff}");
    let full_v = full.to_vec1::<f32>().unwrap();
    let picked = argmax(&cached) as usize;
    assert!(full_v[argmax(&full) as usize] - full_v[picked] < TIE_TOLERANCE);
}

#[test]
fn positions_past_the_context_are_refused() {
    let opts = LoadOptions {
        context_length: Some(8),
        ..LoadOptions::default()
    };
    let (mut m, info) = load(&hearth_testkit::models::smollm2(), &opts);
    assert_eq!(info.context_length, 8);
    m.forward(&SMOLLM2_IDS, 0).unwrap();
    let err = m.forward(&[1, 2, 3], 6).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::PromptTooLong {
                prompt_tokens: 9,
                context_length: 8
            }
        ),
        "{err}"
    );
    // A forward at the wrong position is refused, not silently accepted.
    let err = m.forward(&[1], 3).unwrap_err();
    assert!(matches!(err, EngineError::InvalidRequest(_)), "{err}");
    // The cache is intact after the refusals.
    m.forward(&[1, 2], 6).unwrap();
}

// --- small hand-written GGUF files -------------------------------------------

enum Kv<'a> {
    Str(&'a str),
    U32(u32),
    F32(f32),
}

/// A GGUF v3 file with the given metadata and f32 tensors (`name`, candle shape).
fn gguf_bytes(kv: &[(&str, Kv<'_>)], tensors: &[(&str, Vec<usize>)]) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        s(&mut out, k);
        match v {
            Kv::U32(x) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Kv::F32(x) => {
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Kv::Str(x) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                s(&mut out, x);
            }
        }
    }
    let mut offset = 0u64;
    for (name, shape) in tensors {
        s(&mut out, name);
        out.extend_from_slice(&(shape.len() as u32).to_le_bytes());
        for d in shape.iter().rev() {
            out.extend_from_slice(&(*d as u64).to_le_bytes());
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // f32
        out.extend_from_slice(&offset.to_le_bytes());
        let len = shape.iter().product::<usize>() as u64 * 4;
        offset += len.div_ceil(32) * 32;
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    for (i, (_, shape)) in tensors.iter().enumerate() {
        let n = shape.iter().product::<usize>();
        for j in 0..n {
            let x = (((i * 31 + j * 17) % 13) as f32 - 6.0) * 0.05;
            out.extend_from_slice(&x.to_le_bytes());
        }
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
    }
    out
}

fn load_bytes(bytes: &[u8]) -> Result<(Box<dyn Model>, ModelInfo), EngineError> {
    load_bytes_with(bytes, &LoadOptions::default())
}

fn load_bytes_with(
    bytes: &[u8],
    opts: &LoadOptions,
) -> Result<(Box<dyn Model>, ModelInfo), EngineError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, bytes).unwrap();
    let gguf = GgufFile::open(&path)?;
    load_model(&gguf, &Device::Cpu, opts)
}

fn tiny_llama_kv() -> Vec<(&'static str, Kv<'static>)> {
    vec![
        ("general.architecture", Kv::Str("llama")),
        ("llama.block_count", Kv::U32(1)),
        ("llama.embedding_length", Kv::U32(64)),
        ("llama.attention.head_count", Kv::U32(4)),
        ("llama.attention.head_count_kv", Kv::U32(2)),
        ("llama.attention.layer_norm_rms_epsilon", Kv::F32(1e-5)),
        ("llama.context_length", Kv::U32(128)),
    ]
}

fn tiny_llama_tensors() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("token_embd.weight", vec![32, 64]),
        ("output_norm.weight", vec![64]),
        ("blk.0.attn_norm.weight", vec![64]),
        ("blk.0.attn_q.weight", vec![64, 64]),
        ("blk.0.attn_k.weight", vec![32, 64]),
        ("blk.0.attn_v.weight", vec![32, 64]),
        ("blk.0.attn_output.weight", vec![64, 64]),
        ("blk.0.ffn_norm.weight", vec![64]),
        ("blk.0.ffn_gate.weight", vec![96, 64]),
        ("blk.0.ffn_up.weight", vec![96, 64]),
        ("blk.0.ffn_down.weight", vec![64, 96]),
    ]
}

#[test]
fn a_tiny_complete_llama_runs() {
    let (m, info) = load_bytes(&gguf_bytes(&tiny_llama_kv(), &tiny_llama_tensors())).unwrap();
    assert_eq!(info.vocab_size, 32);
    assert_eq!(info.context_length, 128);
    let mut c = m.new_cache();
    let logits = m.forward(&mut c, &[1, 2, 3], 0).unwrap();
    assert_eq!(logits.dims(), &[32]);
    assert!(
        logits
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|x| x.is_finite())
    );
    let err = m.forward(&mut c, &[32], 3).unwrap_err();
    assert!(matches!(err, EngineError::InvalidRequest(_)), "{err}");
    m.forward(&mut c, &[31], 3).unwrap();
}

#[test]
fn unsupported_architecture_is_named_with_the_supported_ones() {
    let bytes = gguf_bytes(
        &[("general.architecture", Kv::Str("mamba"))],
        &[("token_embd.weight", vec![4, 32])],
    );
    let err = load_bytes(&bytes).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("unsupported architecture \"mamba\""), "{msg}");
    for arch in SUPPORTED_ARCHITECTURES {
        assert!(msg.contains(arch), "{msg} does not name {arch}");
    }
}

#[test]
fn a_missing_key_is_named() {
    let kv: Vec<_> = tiny_llama_kv()
        .into_iter()
        .filter(|(k, _)| *k != "llama.attention.head_count")
        .collect();
    let err = load_bytes(&gguf_bytes(&kv, &tiny_llama_tensors()))
        .err()
        .unwrap();
    assert!(
        matches!(&err, EngineError::MissingMetadata { key } if key == "llama.attention.head_count"),
        "{err}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let tensors: Vec<_> = tiny_llama_tensors()
        .into_iter()
        .filter(|(n, _)| *n != "blk.0.ffn_down.weight")
        .collect();
    let err = load_bytes(&gguf_bytes(&tiny_llama_kv(), &tensors))
        .err()
        .unwrap();
    assert!(
        matches!(&err, EngineError::MissingTensor { name } if name == "blk.0.ffn_down.weight"),
        "{err}"
    );
}

#[test]
fn inconsistent_head_counts_are_an_error_not_a_panic() {
    let mut kv = tiny_llama_kv();
    kv.retain(|(k, _)| *k != "llama.attention.head_count_kv");
    kv.push(("llama.attention.head_count_kv", Kv::U32(3)));
    let err = load_bytes(&gguf_bytes(&kv, &tiny_llama_tensors()))
        .err()
        .unwrap();
    assert!(matches!(err, EngineError::InvalidGguf { .. }), "{err}");
}

#[test]
fn an_unknown_rope_scaling_type_is_refused_at_load_naming_the_key_and_the_value() {
    let with_type = |kind| {
        let mut kv = tiny_llama_kv();
        kv.push(("llama.rope.scaling.type", Kv::Str(kind)));
        kv.push(("llama.rope.scaling.factor", Kv::F32(2.0)));
        load_bytes(&gguf_bytes(&kv, &tiny_llama_tensors()))
    };
    let err = with_type("dynamic").err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::InvalidGguf { .. }), "{msg}");
    assert!(
        msg.contains("llama.rope.scaling.type is \"dynamic\""),
        "{msg}"
    );
    assert!(msg.contains("none, linear, yarn, longrope"), "{msg}");
    // The types llama.cpp knows load.
    for kind in ["none", "linear", "yarn", "longrope"] {
        with_type(kind).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

#[test]
fn a_context_past_the_training_one_yarn_stretched_or_not_is_warned_about() {
    let load = |kv: &[(&str, Kv<'_>)], ctx| {
        let opts = LoadOptions {
            context_length: Some(ctx),
            ..LoadOptions::default()
        };
        load_bytes_with(&gguf_bytes(kv, &tiny_llama_tensors()), &opts)
            .unwrap()
            .1
    };
    let plain = tiny_llama_kv();
    assert_eq!(load(&plain, 128).max_context_length, 128);
    assert_eq!(load(&plain, 128).context_warning(), None);
    let warning = load(&plain, 129).context_warning().unwrap();
    assert!(
        warning.contains("129 tokens") && warning.contains("training context (128 tokens)"),
        "{warning}"
    );
    // YaRN, factor 4 over an original 64: 256 positions.
    let mut yarn = tiny_llama_kv();
    yarn.extend([
        ("llama.rope.scaling.type", Kv::Str("yarn")),
        ("llama.rope.scaling.factor", Kv::F32(4.0)),
        ("llama.rope.scaling.original_context_length", Kv::U32(64)),
    ]);
    let info = load(&yarn, 256);
    assert_eq!(
        (info.train_context_length, info.max_context_length),
        (128, 256)
    );
    assert_eq!(info.context_warning(), None);
    let warning = load(&yarn, 512).context_warning().unwrap();
    assert!(warning.contains("(256 tokens)"), "{warning}");
}

/// Hearth's kernels against candle's quantised matmul on both test models,
/// teacher-forced along candle's greedy continuation. The kernels quantise
/// activations exactly as candle does and differ only in the order of their
/// sums (SIMD lanes), which these small models amplify to a few tenths of a
/// logit; so every pick must be candle's, or one candle itself scores within
/// [`TIE_TOLERANCE`] of it, and nearly all must be candle's. (The prompt's
/// several rows are another path on each side, candle's with f32 activations,
/// the kernels' rounded as for one row: the caches start apart, and Gemma's
/// 32 steps meet four near ties, gaps 0.002–0.15, each taken the other way.)
#[test]
fn hearth_kernels_pick_the_same_greedy_tokens_as_candle() {
    for (path, ids) in [
        (hearth_testkit::models::smollm2(), &SMOLLM2_IDS),
        (hearth_testkit::models::gemma3(), &GEMMA3_IDS),
    ] {
        let ours_opts = LoadOptions {
            context_length: Some(256),
            ..LoadOptions::default()
        };
        let candle_opts = LoadOptions {
            candle_matmul: true,
            ..ours_opts.clone()
        };
        let (mut ours, _) = load(&path, &ours_opts);
        let (mut theirs, _) = load(&path, &candle_opts);
        let reference = greedy_cached(&mut theirs, ids, 32);
        theirs.truncate_cache(0);
        let name = path.display();
        let mut agree = 0;
        let mut fed: Vec<u32> = ids.to_vec();
        for (step, &want) in reference.iter().enumerate() {
            let (mine, cand) = if step == 0 {
                (
                    ours.forward(ids, 0).unwrap(),
                    theirs.forward(ids, 0).unwrap(),
                )
            } else {
                let pos = fed.len() - 1;
                let last = [fed[pos]];
                (
                    ours.forward(&last, pos).unwrap(),
                    theirs.forward(&last, pos).unwrap(),
                )
            };
            let diff = max_abs_diff(&mine, &cand);
            let got = argmax(&mine);
            let cand = cand.to_vec1::<f32>().unwrap();
            let gap = cand[want as usize] - cand[got as usize];
            assert!(
                diff < LOGIT_TOLERANCE,
                "{name}: step {step}: logits differ by {diff}"
            );
            assert!(
                gap < TIE_TOLERANCE,
                "{name}: step {step}: {got} not {want} (gap {gap})"
            );
            agree += usize::from(got == want);
            fed.push(want);
        }
        assert!(
            agree + 4 >= reference.len(),
            "{name}: {agree} of {} picks agree",
            reference.len()
        );
    }
}

/// The batched decode of `hearth serve --parallel`: one token for each of
/// four sequences at different positions, through one forward, gives each
/// the logits of its own single-token forward.
#[test]
fn a_batched_decode_step_gives_each_sequence_its_own_logits() {
    let gguf = GgufFile::open(hearth_testkit::models::smollm2()).unwrap();
    let (model, _) = load_model(&gguf, &Device::Cpu, &LoadOptions::default()).unwrap();
    let prompts: [&[u32]; 4] = [
        &SMOLLM2_IDS,
        &SMOLLM2_IDS[..3],
        &[1, 9, 8, 7, 6, 5, 4, 3],
        &[1],
    ];
    let next = [100u32, 200, 300, 400];
    let mut alone = Vec::new();
    let mut caches = Vec::new();
    for (prompt, &token) in prompts.iter().zip(&next) {
        let mut cache = model.new_cache();
        model.forward(&mut cache, prompt, 0).unwrap();
        let mut single = model.new_cache();
        model.forward(&mut single, prompt, 0).unwrap();
        alone.push(model.forward(&mut single, &[token], prompt.len()).unwrap());
        caches.push(cache);
    }
    let mut refs: Vec<&mut SeqCache> = caches.iter_mut().collect();
    let batch = model.forward_batch(&mut refs, &next).unwrap();
    assert_eq!(batch.dims(), &[4, 49152]);
    for (i, one) in alone.iter().enumerate() {
        let diff = max_abs_diff(&batch.get(i).unwrap(), one);
        assert_eq!(diff, 0.0, "sequence {i}: logits differ by {diff}");
        assert_eq!(caches[i].len(), prompts[i].len() + 1);
    }
}
