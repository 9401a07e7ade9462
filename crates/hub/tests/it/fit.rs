//! Fit estimates as a table.

use hearth_hub::{Fit, Machine, ModelFacts, ModelShape, estimate};

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

fn machine(available: u64) -> Machine {
    Machine {
        total_ram: available * 2,
        available_ram: available,
        bandwidth: Some(20.0 * GIB as f64),
    }
}

/// SmolLM2 135M's real shape: 30 layers, 3 KV heads of 64.
fn smol_shape() -> ModelShape {
    ModelShape {
        layers: Some(30),
        heads: Some(9),
        kv_heads: Some(3),
        embedding: Some(576),
        head_dim: None,
        ..ModelShape::default()
    }
}

#[test]
fn fit_table() {
    struct Case {
        what: &'static str,
        size: u64,
        shape: Option<ModelShape>,
        quant: Option<&'static str>,
        ctx: u64,
        available: u64,
        fit: Fit,
        kv: u64,
        approximate: bool,
    }
    let cases = [
        Case {
            what: "135M on 8 GiB",
            size: 98 * MIB,
            shape: Some(smol_shape()),
            quant: None,
            ctx: 4096,
            available: 8 * GIB,
            fit: Fit::Fits,
            kv: 2 * 30 * 3 * 64 * 4096 * 2,
            approximate: false,
        },
        Case {
            what: "135M, 8k ctx, 400 MiB free",
            size: 98 * MIB,
            shape: Some(smol_shape()),
            quant: None,
            ctx: 8192,
            available: 400 * MIB,
            fit: Fit::Tight,
            kv: 2 * 30 * 3 * 64 * 8192 * 2,
            approximate: false,
        },
        Case {
            what: "135M on 300 MiB",
            size: 98 * MIB,
            shape: Some(smol_shape()),
            quant: None,
            ctx: 8192,
            available: 300 * MIB,
            fit: Fit::WontFit,
            kv: 2 * 30 * 3 * 64 * 8192 * 2,
            approximate: false,
        },
        // Not downloaded: 4.4 GB Q4_K_M ≈ 7.3 B params → ≈ 61.5k KV elements per token.
        Case {
            what: "7B Q4_K_M on 16 GiB",
            size: 4_370_000_000,
            shape: None,
            quant: Some("Q4_K_M"),
            ctx: 4096,
            available: 16 * GIB,
            fit: Fit::Fits,
            kv: 61_541 * 4096 * 2,
            approximate: true,
        },
        Case {
            what: "7B Q4_K_M on 6 GiB",
            size: 4_370_000_000,
            shape: None,
            quant: Some("Q4_K_M"),
            ctx: 4096,
            available: 6 * GIB,
            fit: Fit::Tight,
            kv: 61_541 * 4096 * 2,
            approximate: true,
        },
        Case {
            what: "7B Q4_K_M on 4 GiB",
            size: 4_370_000_000,
            shape: None,
            quant: Some("Q4_K_M"),
            ctx: 4096,
            available: 4 * GIB,
            fit: Fit::WontFit,
            kv: 61_541 * 4096 * 2,
            approximate: true,
        },
        Case {
            what: "7B Q4_K_M, 32k ctx on 8 GiB",
            size: 4_370_000_000,
            shape: None,
            quant: Some("Q4_K_M"),
            ctx: 32768,
            available: 8 * GIB,
            fit: Fit::WontFit,
            kv: 61_541 * 32768 * 2,
            approximate: true,
        },
    ];
    for c in cases {
        let facts = ModelFacts {
            size: c.size,
            shape: c.shape,
            quant: c.quant.map(str::to_owned),
            measured_decode_tok_s: None,
            kv_bytes_per_value: None,
        };
        let e = estimate(&facts, c.ctx, &machine(c.available));
        assert_eq!(e.fit, c.fit, "{}: {e:?}", c.what);
        assert_eq!(e.kv_cache, c.kv, "{}", c.what);
        assert_eq!(e.approximate, c.approximate, "{}", c.what);
        assert_eq!(e.total, e.weights + e.kv_cache + e.overhead, "{}", c.what);
        let speed = e.decode_tok_s.unwrap();
        assert!(
            (speed - 20.0 * GIB as f64 / c.size as f64).abs() < 1e-6,
            "{}",
            c.what
        );
    }
}

/// The overhead follows the shape: the vocabulary (the tokenizer) and one
/// prompt chunk's feed-forward activations, which stop growing with the
/// context at the chunk (512 tokens), not the size of the weights.
#[test]
fn the_overhead_follows_the_vocabulary_and_the_widths_not_the_weights() {
    // Qwen3 0.6B: vocabulary 151 936, feed-forward 3072; `hearth run` filling
    // a 512-token window peaks at 84 MiB over its Q4_K_M weights and cache.
    let qwen3 = ModelShape {
        layers: Some(28),
        heads: Some(16),
        kv_heads: Some(8),
        embedding: Some(1024),
        head_dim: Some(128),
        vocab: Some(151_936),
        feed_forward: Some(3072),
        ..ModelShape::default()
    };
    let overhead = |shape: ModelShape, size: u64, ctx: u64| {
        let facts = ModelFacts {
            size,
            shape: Some(shape),
            ..ModelFacts::default()
        };
        estimate(&facts, ctx, &machine(8 * GIB)).overhead
    };
    let at_512 = overhead(qwen3, 397 * MIB, 512);
    assert!((70 * MIB..100 * MIB).contains(&at_512), "{at_512}");
    // The same shape in F16: the same overhead.
    assert_eq!(overhead(qwen3, 1450 * MIB, 512), at_512);
    // A longer context: still one chunk of activations.
    assert_eq!(overhead(qwen3, 397 * MIB, 32_768), at_512);
    assert!(overhead(qwen3, 397 * MIB, 128) < at_512);
    let wider = ModelShape {
        feed_forward: Some(4 * 3072),
        ..qwen3
    };
    let more_words = ModelShape {
        vocab: Some(4 * 151_936),
        ..qwen3
    };
    assert!(overhead(wider, 397 * MIB, 512) > at_512);
    assert!(overhead(more_words, 397 * MIB, 512) > at_512);
}

#[test]
fn a_measured_speed_replaces_the_bandwidth_guess() {
    let facts = ModelFacts {
        size: 98 * MIB,
        shape: Some(smol_shape()),
        quant: None,
        measured_decode_tok_s: Some(55.0),
        kv_bytes_per_value: None,
    };
    let e = estimate(&facts, 2048, &machine(8 * GIB));
    assert_eq!(e.decode_tok_s, Some(55.0));
    assert!(e.measured);
}

#[test]
fn bandwidth_is_measured_once_and_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let first = hearth_hub::cached_bandwidth(tmp.path());
    assert!(first > 1e8, "{first}");
    assert!(tmp.path().join("machine.json").is_file());
    assert_eq!(hearth_hub::cached_bandwidth(tmp.path()), first);
}

#[test]
fn the_kv_cache_is_counted_at_the_precision_it_is_kept_in() {
    let at = |bytes: Option<f64>| {
        let facts = ModelFacts {
            size: 98 * MIB,
            shape: Some(smol_shape()),
            kv_bytes_per_value: bytes,
            ..ModelFacts::default()
        };
        estimate(&facts, 8192, &machine(8 * GIB)).kv_cache
    };
    let values = smol_shape().kv_elements_per_token().unwrap() * 8192;
    assert_eq!(at(None), values * 2, "f16 unless told");
    assert_eq!(at(Some(2.0)), values * 2);
    assert_eq!(at(Some(4.0)), values * 4, "f32");
    assert_eq!(at(Some(34.0 / 32.0)), values * 34 / 32, "q8_0");
    assert_eq!(at(Some(f64::NAN)), values * 2, "nonsense is ignored");
}
