//! Every weight type the engine says it runs ([`runnable_types`]) runs: a
//! small llama whose matrices are quantised to it (by candle's quantisers)
//! loads and computes logits near the F32 model's. A type in the list that
//! candle cannot quantise must be one of hearth-kernels' formats, whose
//! layouts the kernels' own tests check against candle and ggml; IQ4_NL and
//! IQ4_XS are quantised here by a plain quantiser of the test's own.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use hearth_engine::gguf::{GgmlType, GgufFile};
use hearth_engine::{LoadOptions, load_model, runnable_types};
use hearth_kernels::QType;
use hearth_testkit::gguf::{GgufWriter, TinyLlama};

fn candle_type(t: GgmlType) -> Option<GgmlDType> {
    Some(match t {
        GgmlType::F32 => GgmlDType::F32,
        GgmlType::F16 => GgmlDType::F16,
        GgmlType::BF16 => GgmlDType::BF16,
        GgmlType::Q4_0 => GgmlDType::Q4_0,
        GgmlType::Q4_1 => GgmlDType::Q4_1,
        GgmlType::Q5_0 => GgmlDType::Q5_0,
        GgmlType::Q5_1 => GgmlDType::Q5_1,
        GgmlType::Q8_0 => GgmlDType::Q8_0,
        GgmlType::Q2_K => GgmlDType::Q2K,
        GgmlType::Q3_K => GgmlDType::Q3K,
        GgmlType::Q4_K => GgmlDType::Q4K,
        GgmlType::Q5_K => GgmlDType::Q5K,
        GgmlType::Q6_K => GgmlDType::Q6K,
        _ => return None,
    })
}

/// How a test model's matrices are quantised.
#[derive(Clone, Copy)]
enum Quantiser {
    Candle(GgmlDType),
    /// [`quantize_iq4`].
    Iq4(QType),
}

/// `x` as IQ4_NL or IQ4_XS blocks, simply (no search for the best scale): a
/// block's (sub-block's) value of largest magnitude is mapped to the table's
/// -127, every value to the nearest table entry. Good to a few percent.
fn quantize_iq4(t: QType, x: &[f32]) -> Vec<u8> {
    const TABLE: [f32; 16] = [
        -127., -104., -83., -65., -49., -35., -22., -10., 1., 13., 25., 38., 53., 69., 89., 113.,
    ];
    let f16 = |v: f32| half::f16::from_f32(v);
    let signed_max = |x: &[f32]| {
        x.iter()
            .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
    };
    // 32 values against `scale` as 16 bytes of indices.
    let indices = |x: &[f32], scale: f32, out: &mut Vec<u8>| {
        let nearest = |v: f32| {
            (0..16u8)
                .min_by(|&a, &b| {
                    let e = |i: u8| (scale * TABLE[usize::from(i)] - v).abs();
                    e(a).total_cmp(&e(b))
                })
                .unwrap()
        };
        for j in 0..16 {
            out.push(nearest(x[j]) | (nearest(x[j + 16]) << 4));
        }
    };
    let mut out = Vec::new();
    for block in x.chunks_exact(t.block_elems()) {
        if t == QType::IQ4NL {
            let d = f16(signed_max(block) / -127.0);
            out.extend(d.to_le_bytes());
            indices(block, d.to_f32(), &mut out);
            continue;
        }
        let best: Vec<f32> = block
            .chunks_exact(32)
            .map(|s| signed_max(s) / -127.0)
            .collect();
        let d = f16(best.iter().fold(0.0f32, |m, s| m.max(s.abs())) / 31.0);
        let ls: Vec<i32> = best
            .iter()
            .map(|s| {
                if d.to_f32() > 0.0 {
                    (s / d.to_f32()).round() as i32
                } else {
                    0
                }
                .clamp(-32, 31)
            })
            .collect();
        let high: u16 = ls
            .iter()
            .enumerate()
            .map(|(j, l)| (((l + 32) >> 4) as u16) << (2 * j))
            .sum();
        out.extend(d.to_le_bytes());
        out.extend(high.to_le_bytes());
        for j in 0..4 {
            out.push((((ls[2 * j] + 32) & 0xF) | (((ls[2 * j + 1] + 32) & 0xF) << 4)) as u8);
        }
        for (j, sub) in block.chunks_exact(32).enumerate() {
            indices(sub, d.to_f32() * ls[j] as f32, &mut out);
        }
    }
    out
}

/// The model with every matrix (not the norms) stored as `ty`, and the same
/// model with those matrices dequantised back to F32: what the quantised one
/// must compute, up to the rounding of its activations.
fn quantised(base: &GgufWriter, ty: GgmlType, how: Quantiser) -> (Vec<u8>, Vec<u8>) {
    let (mut q_model, mut f_model) = (base.clone(), base.clone());
    for (qt, ft) in q_model.tensors.iter_mut().zip(&mut f_model.tensors) {
        if qt.dims.len() != 2 {
            continue;
        }
        let values: Vec<f32> = qt
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let shape = (qt.dims[1] as usize, qt.dims[0] as usize);
        let (data, back) = match how {
            Quantiser::Candle(dtype) => {
                let dense = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
                let q = QTensor::quantize(&dense, dtype).unwrap();
                let back = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
                (
                    q.data().unwrap().into_owned(),
                    back.to_vec1::<f32>().unwrap(),
                )
            }
            Quantiser::Iq4(t) => {
                let data = quantize_iq4(t, &values);
                let mut back = vec![0.0f32; values.len()];
                hearth_kernels::reference::dequantize_row(t, &data, &mut back);
                (data, back)
            }
        };
        qt.data = data;
        qt.type_code = ty.code();
        ft.data = back.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    (q_model.to_bytes(), f_model.to_bytes())
}

fn logits(bytes: &[u8]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, bytes).unwrap();
    let gguf = GgufFile::open(&path).unwrap();
    let (model, _) =
        load_model(&gguf, &Device::Cpu, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    model
        .forward(&mut model.new_cache(), &[1, 5, 6, 7], 0)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn every_type_the_engine_runs_loads_and_computes() {
    // K-quants need rows of 256 values.
    let model = TinyLlama {
        d_model: 256,
        heads: 4,
        kv_heads: 2,
        ff: 256,
        ..TinyLlama::default()
    };
    let base = model.writer();
    let mut ran = Vec::new();
    for ty in runnable_types(&Device::Cpu) {
        let how = match (candle_type(ty), QType::from_ggml(ty)) {
            (Some(dtype), _) => Quantiser::Candle(dtype),
            (None, Some(t @ (QType::IQ4NL | QType::IQ4XS))) => Quantiser::Iq4(t),
            (None, kernels) => {
                assert!(
                    kernels.is_some(),
                    "{ty} is said to run but neither candle nor the kernels have it"
                );
                continue;
            }
        };
        let (q, f) = quantised(&base, ty, how);
        let (got, want) = (logits(&q), logits(&f));
        let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
            / norm;
        // Activations are rounded to 8 bits for the quantised products: a
        // few percent. Garbage (a wrong layout, bytes read from the wrong
        // place) is off by about 100%.
        assert!(err < 0.05, "{ty}: relative error {err}");
        ran.push(ty.name());
    }
    assert!(ran.len() >= 15, "{ran:?}");
    assert!(
        ran.contains(&"IQ4_NL") && ran.contains(&"IQ4_XS"),
        "{ran:?}"
    );
}
