//! Every weight type the engine says it runs ([`runnable_types`]) runs: a
//! small llama whose matrices are quantised to it (by candle's quantisers)
//! loads and computes logits near the F32 model's. A type in the list that
//! candle cannot quantise must be one of hearth-kernels' formats, whose
//! layouts the kernels' own tests check against candle and ggml.

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

/// The model with every matrix (not the norms) stored as `ty`, and the same
/// model with those matrices dequantised back to F32: what the quantised one
/// must compute, up to the rounding of its activations.
fn quantised(base: &GgufWriter, ty: GgmlType, dtype: GgmlDType) -> (Vec<u8>, Vec<u8>) {
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
        let dense = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
        let q = QTensor::quantize(&dense, dtype).unwrap();
        qt.data = q.data().unwrap().into_owned();
        qt.type_code = ty.code();
        let back = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
        ft.data = back
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
    }
    (q_model.to_bytes(), f_model.to_bytes())
}

fn logits(bytes: &[u8]) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, bytes).unwrap();
    let gguf = GgufFile::open(&path).unwrap();
    let (mut model, _) =
        load_model(&gguf, &Device::Cpu, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    model
        .forward(&[1, 5, 6, 7], 0)
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
        let Some(dtype) = candle_type(ty) else {
            assert!(
                QType::from_ggml(ty).is_some(),
                "{ty} is said to run but neither candle nor the kernels have it"
            );
            continue;
        };
        let (q, f) = quantised(&base, ty, dtype);
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
    assert!(ran.len() >= 13, "{ran:?}");
}
