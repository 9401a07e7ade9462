//! Every kernel on every instruction set this CPU has, against the scalar
//! reference on random blocks; the block layouts against candle's decoder.

use hearth_kernels::{
    ActBlock, Isa, QType, SharedWeight, dequantize_acts, matmul, matmul_shared, quantize_acts_for,
    reference, rows_dot_fn, tile_dot_fn,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `rows` random rows of `k` values of type `t`: random bytes with sane f16
/// scales (random bytes would make NaNs and infinities).
fn random_rows(t: QType, rows: usize, k: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut w = vec![0u8; rows * t.row_bytes(k)];
    if t.is_float() {
        // Values, not bits (random bits would make NaNs and infinities).
        for v in w.chunks_exact_mut(2) {
            let x = rng.random_range(-0.5f32..0.5);
            v.copy_from_slice(&match t {
                QType::BF16 => half::bf16::from_f32(x).to_le_bytes(),
                _ => half::f16::from_f32(x).to_le_bytes(),
            });
        }
        return w;
    }
    rng.fill(&mut w[..]);
    let f16 = |v: f32| half::f16::from_f32(v).to_le_bytes();
    for b in w.chunks_exact_mut(t.block_bytes()) {
        let d = f16(rng.random_range(-0.05f32..0.05));
        let m = f16(rng.random_range(-0.05f32..0.05));
        match t {
            QType::Q4_0 | QType::Q5_0 | QType::Q8_0 | QType::IQ4NL | QType::IQ4XS => {
                b[0..2].copy_from_slice(&d)
            }
            QType::Q4_1 | QType::Q5_1 | QType::Q4K | QType::Q5K => {
                b[0..2].copy_from_slice(&d);
                b[2..4].copy_from_slice(&m);
            }
            QType::Q6K => b[208..210].copy_from_slice(&d),
            QType::F16 | QType::BF16 => unreachable!("floats return above"),
        }
    }
    w
}

fn random_acts(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

/// Sets each block's `s` to exactly `d · Σqs`, the sum the reference decodes
/// (quantisation stores it rounded to f16, as ggml does).
fn exact_sums(acts: &mut [ActBlock]) {
    for a in acts {
        a.s = a.d * a.qs.iter().map(|&q| f32::from(q)).sum::<f32>();
    }
}

/// Relative to the size of the terms, not of the (possibly cancelled) sum.
fn close(got: f32, want: f32, scale: f32) -> bool {
    (got - want).abs() <= 1e-4 * scale.max(1e-3)
}

#[test]
fn every_kernel_matches_the_reference_on_every_isa() {
    let mut rng = StdRng::seed_from_u64(7);
    let isas = Isa::all_available();
    assert!(isas.contains(&Isa::Portable));
    // CI names the levels its machines must cover (`cargo xtask test-neon`
    // sets `neon`), so a kernel family cannot drop out of the tests unnoticed.
    for name in std::env::var("HEARTH_EXPECT_ISA")
        .unwrap_or_default()
        .split(',')
    {
        if let Some(isa) = Isa::from_name(name.trim()) {
            assert!(isas.contains(&isa), "this CPU was expected to run {name}");
        }
    }
    for t in QType::ALL {
        for k in [t.block_elems(), 2 * 256, 576, 640, 1536]
            .into_iter()
            .filter(|k| k % t.block_elems() == 0)
        {
            let rows = 13;
            let w = random_rows(t, rows, k, &mut rng);
            let x = random_acts(k, &mut rng);
            let mut acts = Vec::new();
            quantize_acts_for(t, &x, &mut acts);
            exact_sums(&mut acts);
            let want: Vec<f32> = w
                .chunks_exact(t.row_bytes(k))
                .map(|row| reference::dot(t, k, row, &acts))
                .collect();
            let scale: Vec<f32> = w
                .chunks_exact(t.row_bytes(k))
                .map(|row| abs_dot(t, k, row, &acts))
                .collect();
            for &isa in &isas {
                let Some(dot) = rows_dot_fn(isa, t) else {
                    panic!("{isa:?} is available but has no kernel for {t:?}")
                };
                let mut got = vec![f32::NAN; rows];
                dot(k, &w, &acts, &mut got);
                for r in 0..rows {
                    assert!(
                        close(got[r], want[r], scale[r]),
                        "{} k={k} on {}: row {r}: {} vs reference {}",
                        t.name(),
                        isa.name(),
                        got[r],
                        want[r]
                    );
                }
            }
        }
    }
}

/// `Σ |w_i · x_i|`: the size the rounding error is relative to.
fn abs_dot(t: QType, k: usize, row: &[u8], acts: &[ActBlock]) -> f32 {
    let mut w = vec![0.0; k];
    reference::dequantize_row(t, row, &mut w);
    let x = reference::dequantize_acts(acts);
    w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum()
}

/// candle's name for `t`, when candle has the type (it has no IQ4_NL or
/// IQ4_XS: those layouts are checked against blocks llama.cpp wrote, below).
fn candle_dtype(t: QType) -> Option<candle_core::quantized::GgmlDType> {
    use candle_core::quantized::GgmlDType;
    Some(match t {
        QType::Q4_0 => GgmlDType::Q4_0,
        QType::Q4_1 => GgmlDType::Q4_1,
        QType::Q5_0 => GgmlDType::Q5_0,
        QType::Q5_1 => GgmlDType::Q5_1,
        QType::Q8_0 => GgmlDType::Q8_0,
        QType::Q4K => GgmlDType::Q4K,
        QType::Q5K => GgmlDType::Q5K,
        QType::Q6K => GgmlDType::Q6K,
        QType::F16 => GgmlDType::F16,
        QType::BF16 => GgmlDType::BF16,
        QType::IQ4NL | QType::IQ4XS => return None,
    })
}

#[test]
fn block_layouts_decode_exactly_as_candle_does() {
    use candle_core::quantized::ggml_file::qtensor_from_ggml;
    let mut rng = StdRng::seed_from_u64(11);
    for t in QType::ALL {
        let Some(dtype) = candle_dtype(t) else {
            continue;
        };
        let (rows, k) = (3, 512);
        let w = random_rows(t, rows, k, &mut rng);
        let theirs = qtensor_from_ggml(dtype, &w, vec![rows, k], &candle_core::Device::Cpu)
            .and_then(|q| q.dequantize(&candle_core::Device::Cpu))
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.to_vec1::<f32>())
            .unwrap_or_else(|e| panic!("candle cannot decode {t:?}: {e}"));
        let mut ours = vec![0.0f32; rows * k];
        reference::dequantize_row(t, &w, &mut ours);
        assert_eq!(ours, theirs, "{} decodes differently", t.name());
    }
}

#[test]
fn matmul_matches_row_by_row_products_for_one_and_many_rows() {
    let mut rng = StdRng::seed_from_u64(3);
    for t in QType::ALL {
        let (n, k) = (300, 512);
        let w = random_rows(t, n, k, &mut rng);
        for m in [1, 5] {
            let x = random_acts(m * k, &mut rng);
            let mut y = vec![f32::NAN; m * n];
            matmul(t, &w, n, k, &x, &mut y).unwrap_or_else(|e| panic!("{e}"));
            for i in 0..m {
                let mut acts = Vec::new();
                quantize_acts_for(t, &x[i * k..(i + 1) * k], &mut acts);
                for r in 0..n {
                    let row = &w[r * t.row_bytes(k)..(r + 1) * t.row_bytes(k)];
                    let want = reference::dot(t, k, row, &acts);
                    let scale = abs_dot(t, k, row, &acts);
                    assert!(
                        close(y[i * n + r], want, scale),
                        "{} m={m} [{i}][{r}]: {} vs {want}",
                        t.name(),
                        y[i * n + r]
                    );
                }
            }
        }
    }
}

/// A prompt's many rows go through the AVX-512 panels (integer sums of the
/// quantised operands) or decoded weights and an f32 GEMM on the activations
/// rounded to 8 bits as the row kernels round them, so the products equal the
/// exact ones of those operands (decoded weights times rounded activations,
/// summed in f64) up to f32 rounding, far closer than unrounded activations
/// would give (~1e-3).
#[test]
fn matmul_of_many_rows_is_exact_up_to_float_rounding() {
    let mut rng = StdRng::seed_from_u64(4);
    // 100 rows: whole panels and a tail (of the GEMM's 64 rows, of the
    // AVX-512 kernel's 16); 37 rows against 45 activation rows: a tail of 5
    // weight rows, and the AVX-512 kernel's groups of 8 activation rows, then
    // 4, then 1.
    for (t, (n, k, m)) in QType::ALL
        .into_iter()
        .flat_map(|t| [(t, (100, 512, 40)), (t, (37, 256, 45))])
    {
        let w = random_rows(t, n, k, &mut rng);
        let x = random_acts(m * k, &mut rng);
        let mut y = vec![f32::NAN; m * n];
        matmul(t, &w, n, k, &x, &mut y).unwrap_or_else(|e| panic!("{e}"));
        let mut acts = Vec::new();
        let mut rounded = Vec::new();
        quantize_acts_for(t, &x, &mut acts);
        dequantize_acts(&acts, &mut rounded);
        let mut worst = 0.0f64;
        for (r, row) in w.chunks_exact(t.row_bytes(k)).enumerate() {
            let mut dense = vec![0.0f32; k];
            reference::dequantize_row(t, row, &mut dense);
            for (i, x) in rounded.chunks_exact(k).enumerate() {
                let terms = dense
                    .iter()
                    .zip(x)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b));
                let want: f64 = terms.clone().sum();
                let scale: f64 = terms.map(f64::abs).sum();
                worst = worst.max((f64::from(y[i * n + r]) - want).abs() / scale);
            }
        }
        assert!(worst < 1e-5, "{}: {worst}", t.name());
        // Whichever thread takes a panel, the result is the same.
        for _ in 0..20 {
            let mut again = vec![f32::NAN; m * n];
            matmul(t, &w, n, k, &x, &mut again).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                again
                    .iter()
                    .zip(&y)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{}: not deterministic",
                t.name()
            );
        }
    }
}

/// Short prompts (up to 31 rows, a speculative draft's check among them) give
/// the row-by-row products bit for bit whatever the shape: odd numbers of
/// weight rows, activation rows on both sides of where the kernels change
/// (4-row tiles below 16, Q5_K/Q6_K panels from 16) and more than one block
/// of 16.
#[test]
fn prompt_products_equal_row_by_row_ones_for_odd_shapes() {
    let mut rng = StdRng::seed_from_u64(8);
    let tiled = |t| tile_dot_fn(Isa::active(), t).is_some();
    for t in QType::ALL.into_iter().filter(|&t| tiled(t)) {
        let k = 768;
        for (n, m) in [
            (1, 16),
            (7, 17),
            (5, 21),
            (33, 13),
            (3, 7),
            (130, 31),
            (9, 30),
        ] {
            let w = random_rows(t, n, k, &mut rng);
            let x = random_acts(m * k, &mut rng);
            let mut y = vec![f32::NAN; m * n];
            matmul(t, &w, n, k, &x, &mut y).unwrap_or_else(|e| panic!("{e}"));
            for (i, (x, y)) in x.chunks_exact(k).zip(y.chunks_exact(n)).enumerate() {
                let mut alone = vec![f32::NAN; n];
                matmul(t, &w, n, k, x, &mut alone).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(y, &alone[..], "{} n={n} m={m} row {i}", t.name());
            }
        }
    }
}

/// Weights stacked for one pass (q/k/v of mixed types, as Gemma's are) give
/// exactly what one product per weight gives.
#[test]
fn shared_products_equal_one_product_per_weight() {
    let mut rng = StdRng::seed_from_u64(6);
    let k = 512;
    for types in [
        [QType::Q4_1, QType::Q4_1, QType::Q4_1],
        [QType::Q5_0, QType::Q8_0, QType::Q6K],
        [QType::Q4K, QType::Q5_1, QType::Q4_0],
        [QType::IQ4XS, QType::IQ4NL, QType::Q8_0],
    ] {
        let ns = [576, 192, 100];
        let ws: Vec<Vec<u8>> = types
            .iter()
            .zip(ns)
            .map(|(&t, n)| random_rows(t, n, k, &mut rng))
            .collect();
        let x = random_acts(k, &mut rng);
        let mut want = Vec::new();
        for ((&t, n), w) in types.iter().zip(ns).zip(&ws) {
            let mut y = vec![0.0; n];
            matmul(t, w, n, k, &x, &mut y).unwrap_or_else(|e| panic!("{e}"));
            want.extend(y);
        }
        let shared: Vec<SharedWeight<'_>> = types
            .iter()
            .zip(ns)
            .zip(&ws)
            .map(|((&t, n), w)| SharedWeight { t, w, n })
            .collect();
        let mut got = vec![f32::NAN; want.len()];
        matmul_shared(&shared, k, &x, &mut got).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{types:?}"
        );
        assert!(matmul_shared(&shared, k, &x, &mut got[1..]).is_err());
        assert!(matmul_shared(&shared, k, &x[1..], &mut got).is_err());
    }
}

/// F16 and BF16 weights, read in place: their products for one, a few and
/// many (the GEMM's) activation rows equal the f64 sums of the operands as
/// they meet (the activations rounded to the weight's type, as llama.cpp
/// rounds them) up to f32 rounding (every ISA's dot product: `float.rs`'s
/// tests); mixed with a block type in a shared product, each part equals its
/// own product.
#[test]
fn float_weights_multiply_rounded_activations() {
    let mut rng = StdRng::seed_from_u64(17);
    // k: whole Q8_0 blocks, for the shared product (tails: `float.rs`'s tests).
    let (n, k) = (37, 352);
    for t in QType::FLOATS {
        let w = random_rows(t, n, k, &mut rng);
        let mut wide = vec![0.0f32; n * k];
        for (row, dst) in w.chunks_exact(2 * k).zip(wide.chunks_exact_mut(k)) {
            reference::dequantize_row(t, row, dst);
        }
        let round = |v: f32| match t {
            QType::BF16 => half::bf16::from_f32(v).to_f32(),
            _ => half::f16::from_f32(v).to_f32(),
        };
        for m in [1, 3, 40, 43] {
            let x = random_acts(m * k, &mut rng);
            let mut want = vec![0.0f64; m * n];
            for i in 0..m {
                for r in 0..n {
                    want[i * n + r] = (0..k)
                        .map(|j| f64::from(wide[r * k + j]) * f64::from(round(x[i * k + j])))
                        .sum();
                }
            }
            let mut y = vec![f32::NAN; m * n];
            matmul(t, &w, n, k, &x, &mut y).unwrap();
            for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() < 1e-4,
                    "{t:?} m {m} [{i}]: {got} vs {want}"
                );
            }
        }
        // One row through a shared product with a Q8_0 weight.
        let q = random_rows(QType::Q8_0, 8, k, &mut rng);
        let x = random_acts(k, &mut rng);
        let mut shared = vec![0.0f32; n + 8];
        let weights = [
            SharedWeight { t, w: &w, n },
            SharedWeight {
                t: QType::Q8_0,
                w: &q,
                n: 8,
            },
        ];
        matmul_shared(&weights, k, &x, &mut shared).unwrap();
        let (mut a, mut b) = (vec![0.0f32; n], vec![0.0f32; 8]);
        matmul(t, &w, n, k, &x, &mut a).unwrap();
        matmul(QType::Q8_0, &q, 8, k, &x, &mut b).unwrap();
        assert_eq!(shared, [a, b].concat(), "{t:?}");
    }
}

#[test]
fn matmul_refuses_operands_that_do_not_fit() {
    let w = vec![0u8; QType::Q8_0.row_bytes(64) * 2];
    let mut y = vec![0.0; 2];
    assert!(matmul(QType::Q8_0, &w, 2, 48, &[0.0; 48], &mut y).is_err());
    assert!(matmul(QType::Q8_0, &w, 3, 64, &[0.0; 64], &mut [0.0; 3]).is_err());
    assert!(matmul(QType::Q8_0, &w, 2, 64, &[0.0; 60], &mut y).is_err());
    assert!(matmul(QType::Q8_0, &w, 2, 64, &[0.0; 64], &mut y).is_ok());
}

/// Our products against candle's quantised matmul (an independent
/// implementation of the same ggml maths) on random weights.
#[test]
fn matmul_agrees_with_candle() {
    use candle_core::quantized::{QMatMul, ggml_file::qtensor_from_ggml};
    use candle_core::{Device, Module, Tensor};
    let mut rng = StdRng::seed_from_u64(5);
    for t in QType::ALL {
        let Some(dtype) = candle_dtype(t) else {
            continue;
        };
        // Not a multiple of 256 for the 32-value types: candle's AVX-512
        // repacked path (k % 256 == 0) quantises activations differently.
        for (n, m) in [(64, 6), (1536, 6), (1536, 1), (576, 2)] {
            let k = if t.block_elems() == 32 { 576 } else { 512 };
            let w = random_rows(t, n, k, &mut rng);
            let x = random_acts(m * k, &mut rng);
            let q = qtensor_from_ggml(dtype, &w, vec![n, k], &Device::Cpu).unwrap();
            let theirs = QMatMul::from_qtensor(q)
                .unwrap()
                .forward(&Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mut ours = vec![0.0; m * n];
            matmul(t, &w, n, k, &x, &mut ours).unwrap();
            let mut worst = 0.0f32;
            for i in 0..m {
                let mut acts = Vec::new();
                quantize_acts_for(t, &x[i * k..(i + 1) * k], &mut acts);
                for (r, row) in w.chunks_exact(t.row_bytes(k)).enumerate() {
                    let (a, b) = (ours[i * n + r], theirs[i * n + r]);
                    worst = worst.max((a - b).abs() / abs_dot(t, k, row, &acts));
                }
            }
            // Activations are quantised exactly as candle does: only the
            // order of the sums differs.
            assert!(worst < 1e-5, "{} n={n} m={m}: {worst}", t.name());
        }
    }
}

/// Saturated quants (all bits set or clear), activations at ±127, zero scales,
/// and row counts that leave tails, on every instruction set.
#[test]
fn extreme_blocks_match_the_reference_on_every_isa() {
    let mut rng = StdRng::seed_from_u64(13);
    for t in QType::ALL {
        let k = 512;
        for fill in [0x00u8, 0xFF, 0x55] {
            for rows in [1, 3, 5] {
                let mut w = random_rows(t, rows, k, &mut rng);
                let f16_fields: &[usize] = match t {
                    QType::Q4_0 | QType::Q5_0 | QType::Q8_0 | QType::IQ4NL | QType::IQ4XS => &[0],
                    QType::Q4_1 | QType::Q5_1 | QType::Q4K | QType::Q5K => &[0, 2],
                    QType::Q6K => &[208],
                    QType::F16 | QType::BF16 => &[],
                };
                for (i, b) in w.chunks_exact_mut(t.block_bytes()).enumerate() {
                    let keep: Vec<(usize, [u8; 2])> = f16_fields
                        .iter()
                        .map(|&at| (at, [b[at], b[at + 1]]))
                        .collect();
                    b.fill(fill);
                    for (at, bytes) in keep {
                        // Every third block has a zero scale.
                        let bytes = if i % 3 == 2 { [0, 0] } else { bytes };
                        b[at..at + 2].copy_from_slice(&bytes);
                    }
                }
                let x: Vec<f32> = (0..k)
                    .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
                    .collect();
                let mut acts = Vec::new();
                quantize_acts_for(t, &x, &mut acts);
                exact_sums(&mut acts);
                for &isa in &Isa::all_available() {
                    let dot = rows_dot_fn(isa, t).unwrap();
                    let mut got = vec![f32::NAN; rows];
                    dot(k, &w, &acts, &mut got);
                    for (r, row) in w.chunks_exact(t.row_bytes(k)).enumerate() {
                        let want = reference::dot(t, k, row, &acts);
                        let scale = abs_dot(t, k, row, &acts);
                        assert!(
                            close(got[r], want, scale),
                            "{} fill {fill:#x} rows {rows} on {}: {} vs {want}",
                            t.name(),
                            isa.name(),
                            got[r]
                        );
                    }
                }
            }
        }
    }
}

/// The many-rows kernels give exactly what the row kernels give, for any
/// number of activation rows (groups of four and the tail).
#[test]
fn tile_kernels_equal_row_kernels_bit_for_bit() {
    let mut rng = StdRng::seed_from_u64(17);
    for t in QType::ALL {
        let (rows, k) = (7, 576usize.next_multiple_of(t.block_elems()));
        let w = random_rows(t, rows, k, &mut rng);
        for &isa in &Isa::all_available() {
            let (Some(tile), Some(dot)) = (tile_dot_fn(isa, t), rows_dot_fn(isa, t)) else {
                continue;
            };
            for m in 1..=9 {
                let x = random_acts(m * k, &mut rng);
                let mut acts = Vec::new();
                quantize_acts_for(t, &x, &mut acts);
                let mut got = vec![f32::NAN; m * rows];
                tile(k, &w, rows, &acts, m, &mut got);
                for i in 0..m {
                    let mut want = vec![f32::NAN; rows];
                    dot(k, &w, &acts[i * k / 32..(i + 1) * k / 32], &mut want);
                    assert_eq!(
                        &got[i * rows..(i + 1) * rows],
                        &want[..],
                        "{} m={m} on {}",
                        t.name(),
                        isa.name()
                    );
                }
            }
        }
    }
}

/// IQ4_NL / IQ4_XS blocks at the ends of their scales (the largest and the
/// smallest f16 `d`, negative `d`, every 6-bit sub-block scale from -32 to 31)
/// and every index, on every instruction set.
#[test]
fn iq4_blocks_at_extreme_scales_match_the_reference_on_every_isa() {
    let mut rng = StdRng::seed_from_u64(19);
    let scales = [
        half::f16::MAX,
        half::f16::MIN,
        half::f16::from_bits(1), // the smallest subnormal
        half::f16::from_f32(-1.0),
        half::f16::from_f32(1e-4),
    ];
    for t in [QType::IQ4NL, QType::IQ4XS] {
        let (rows, k) = (5, 1024);
        let mut w = random_rows(t, rows, k, &mut rng);
        for (i, b) in w.chunks_exact_mut(t.block_bytes()).enumerate() {
            b[0..2].copy_from_slice(&scales[i % scales.len()].to_le_bytes());
            if t == QType::IQ4XS {
                // Sub-block scales walk through all 64 values, block by block.
                let ls = |j: usize| ((i * 8 + j) % 64) as u16;
                let high: u16 = (0..8).map(|j| (ls(j) >> 4) << (2 * j)).sum();
                b[2..4].copy_from_slice(&high.to_le_bytes());
                for j in 0..4 {
                    b[4 + j] = (ls(2 * j) & 0xF) as u8 | (((ls(2 * j + 1) & 0xF) as u8) << 4);
                }
            }
        }
        for x in [
            (0..k)
                .map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })
                .collect::<Vec<f32>>(),
            random_acts(k, &mut rng),
        ] {
            let mut acts = Vec::new();
            quantize_acts_for(t, &x, &mut acts);
            exact_sums(&mut acts);
            for &isa in &Isa::all_available() {
                let dot = rows_dot_fn(isa, t).unwrap();
                let mut got = vec![f32::NAN; rows];
                dot(k, &w, &acts, &mut got);
                for (r, row) in w.chunks_exact(t.row_bytes(k)).enumerate() {
                    let want = reference::dot(t, k, row, &acts);
                    let scale = abs_dot(t, k, row, &acts);
                    assert!(
                        want.is_finite() && close(got[r], want, scale),
                        "{} row {r} on {}: {} vs {want}",
                        t.name(),
                        isa.name(),
                        got[r]
                    );
                }
            }
        }
    }
}

/// candle has no IQ4 types, so their layouts are checked against blocks
/// llama.cpp wrote: `tests/data/` holds the first two rows (1024 values) of
/// `blk.0.attn_q.weight` of the random-weight Llama-3.2-1B-shaped model of
/// `cargo xtask verify-models`, as `llama-quantize` stored them in its IQ4_NL
/// and IQ4_XS files (`*.blocks`), ggml's own Python decoder's values for them
/// (`gguf.quants.dequantize`, `*.ggml-f32`), and the F16 values they were
/// quantised from (`f16-source`).
#[test]
fn iq4_layouts_decode_as_llama_cpp_wrote_them() {
    let floats = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let source: Vec<f32> = include_bytes!("data/f16-source")
        .chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    for (t, blocks, theirs) in [
        (
            QType::IQ4NL,
            &include_bytes!("data/iq4_nl.blocks")[..],
            floats(include_bytes!("data/iq4_nl.ggml-f32")),
        ),
        (
            QType::IQ4XS,
            &include_bytes!("data/iq4_xs.blocks")[..],
            floats(include_bytes!("data/iq4_xs.ggml-f32")),
        ),
    ] {
        let mut ours = vec![f32::NAN; source.len()];
        reference::dequantize_row(t, blocks, &mut ours);
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs(),
                "{} value {i}: {a} vs ggml's {b}",
                t.name()
            );
        }
        // And they are the weights quantised: 4 bits leave a few percent of
        // error (a wrong layout would leave ~140%).
        let err: f32 = ours.iter().zip(&source).map(|(a, b)| (a - b).powi(2)).sum();
        let norm: f32 = source.iter().map(|b| b * b).sum();
        assert!(
            (err / norm).sqrt() < 0.1,
            "{}: {}",
            t.name(),
            (err / norm).sqrt()
        );
        // The kernels compute with the same values.
        let k = source.len() / 2;
        let x: Vec<f32> = (0..k).map(|i| ((i % 7) as f32 - 3.0) * 0.25).collect();
        let mut acts = Vec::new();
        quantize_acts_for(t, &x, &mut acts);
        for &isa in &Isa::all_available() {
            let mut got = [f32::NAN; 2];
            rows_dot_fn(isa, t).unwrap()(k, blocks, &acts, &mut got);
            for (r, row) in blocks.chunks_exact(t.row_bytes(k)).enumerate() {
                let want = reference::dot(t, k, row, &acts);
                assert!(
                    close(got[r], want, abs_dot(t, k, row, &acts)),
                    "{} row {r} on {}: {} vs {want}",
                    t.name(),
                    isa.name(),
                    got[r]
                );
            }
        }
    }
}
