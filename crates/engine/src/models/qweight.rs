//! Quantised weight matrices: Hearth's own kernels (hearth-kernels) on the CPU,
//! candle's `QMatMul` everywhere else.
//!
//! On the CPU, a weight whose type hearth-kernels handles stays in the mapped
//! GGUF file (no copy) and `x · Wᵀ` runs as a candle custom op over it (F16
//! and BF16 too: two bytes a weight, where candle would widen them to f32).
//! Other types (F32, Q2_K, Q3_K, …) and GPU devices (the `cuda` / `metal`
//! features) are copied into a candle `QTensor` as before.

use std::sync::{Arc, OnceLock};

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Result, Shape, Tensor};
use hearth_kernels::QType;

use crate::error::EngineError;
use crate::gguf::{GgufFile, Mapped};
use crate::support::{Support, kernels_on};

/// A `[n, k]` weight used as `x · Wᵀ`.
#[derive(Debug)]
pub(crate) enum QWeight {
    Hearth(MappedMatrix),
    Candle {
        matmul: QMatMul,
        /// The weight as stored, for row lookups: kept for an embedding
        /// table only. candle turns F32 weights into a dense copy for its
        /// matmul; keeping the stored copy of every matrix as well would
        /// hold each such weight twice over (issue 17's fit check).
        qtensor: Option<Arc<QTensor>>,
        /// Rows (outputs).
        n: usize,
        /// The dequantised table, made on the first lookup when rows are not a
        /// whole number of blocks (candle's quantised gather cannot split one).
        dense: OnceLock<Tensor>,
    },
}

/// A quantised matrix in the mapped file.
#[derive(Debug, Clone)]
pub(crate) struct MappedMatrix {
    qtype: QType,
    bytes: Mapped,
    /// Rows (outputs) and values per row (inputs).
    n: usize,
    k: usize,
}

impl QWeight {
    /// Loads tensor `name` (`[n, k]` in candle's order), for products, and
    /// with `lookups` for row lookups too (an embedding table).
    pub(crate) fn load(
        gguf: &GgufFile,
        device: &Device,
        candle_matmul: bool,
        name: &str,
        lookups: bool,
    ) -> std::result::Result<Self, EngineError> {
        let err = |source| EngineError::Tensor {
            name: name.to_owned(),
            source,
        };
        let info = gguf.tensor_info(name)?;
        let ours = kernels_on(device, candle_matmul);
        if let (Some(qtype), true, &[n, k]) = (
            Support::of(info.ggml_type()).kernels,
            ours,
            info.shape().as_slice(),
        ) && k % qtype.block_elems() == 0
        {
            let (_, bytes) = gguf.mapped(name)?;
            if bytes.bytes().len() == n * qtype.row_bytes(k) {
                return Ok(Self::Hearth(MappedMatrix { qtype, bytes, n, k }));
            }
        }
        let qtensor = Arc::new(gguf.qtensor(name, device)?);
        let n = qtensor.shape().dims().first().copied().unwrap_or(0);
        Ok(Self::Candle {
            matmul: QMatMul::from_arc(qtensor.clone()).map_err(err)?,
            qtensor: lookups.then_some(qtensor),
            n,
            dense: OnceLock::new(),
        })
    }

    /// `x · Wᵀ` over the last dimension of `x`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Hearth(m) => x.contiguous()?.apply_op1_no_bwd(m),
            Self::Candle { matmul, .. } => matmul.forward(x),
        }
    }

    /// Rows `ids` decoded to f32 (`[ids.len(), k]`): the embedding lookup.
    pub(crate) fn rows(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Self::Hearth(m) => {
                let row_bytes = m.qtype.row_bytes(m.k);
                let all = m.bytes.bytes();
                let mut out = vec![0.0f32; ids.len() * m.k];
                for (row, &id) in out.chunks_exact_mut(m.k).zip(ids) {
                    let id = id as usize;
                    if id >= m.n {
                        candle_core::bail!("token id {id} is outside the {} embedding rows", m.n);
                    }
                    hearth_kernels::reference::dequantize_row(
                        m.qtype,
                        &all[id * row_bytes..(id + 1) * row_bytes],
                        row,
                    );
                }
                Tensor::from_vec(out, (ids.len(), m.k), device)
            }
            Self::Candle { qtensor, dense, .. } => {
                let Some(qtensor) = qtensor else {
                    candle_core::bail!("rows of a weight loaded for products only");
                };
                let ids = Tensor::new(ids, device)?;
                if qtensor.shape().dims2()?.1 % qtensor.dtype().block_size() == 0 {
                    return qtensor.embedding(&ids);
                }
                let table = match dense.get() {
                    Some(table) => table,
                    None => {
                        tracing::warn!(
                            "embedding rows are not block-aligned; dequantising the table"
                        );
                        let table = qtensor.dequantize(device)?;
                        dense.get_or_init(|| table)
                    }
                };
                table.index_select(&ids, 0)
            }
        }
    }

    /// `x · Wᵢᵀ` for each of `weights`, which share their input (a layer's
    /// q/k/v or gate/up). For one token on the CPU they run as one stacked
    /// product (hearth-kernels' `matmul_shared`: one activation quantisation
    /// and one pass over the threads instead of one per weight); otherwise one
    /// by one.
    pub(crate) fn forward_shared(weights: &[&QWeight], x: &Tensor) -> Result<Vec<Tensor>> {
        let mapped: Option<Vec<&MappedMatrix>> = weights
            .iter()
            .map(|w| match w {
                Self::Hearth(m) => Some(m),
                Self::Candle { .. } => None,
            })
            .collect();
        let k = x.dims().last().copied().unwrap_or(0);
        match mapped {
            Some(mapped) if x.elem_count() == k && mapped.iter().all(|m| m.k == k) => {
                let y = x.contiguous()?.apply_op1_no_bwd(&Stacked(&mapped))?;
                let mut out = Vec::with_capacity(mapped.len());
                let mut first = 0;
                for m in &mapped {
                    out.push(y.narrow(candle_core::D::Minus1, first, m.n)?);
                    first += m.n;
                }
                Ok(out)
            }
            _ => weights.iter().map(|w| w.forward(x)).collect(),
        }
    }

    /// Rows (the vocabulary size for an embedding).
    pub(crate) fn n_rows(&self) -> usize {
        match self {
            Self::Hearth(m) => m.n,
            Self::Candle { n, .. } => *n,
        }
    }
}

impl CustomOp1 for MappedMatrix {
    fn name(&self) -> &'static str {
        "hearth-qmatmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(self.name(), storage, layout)?;
        let dims = layout.shape().dims();
        if dims.last() != Some(&self.k) {
            candle_core::bail!(
                "hearth-qmatmul: activations {dims:?} do not end in {} values",
                self.k
            );
        }
        let m = x.len() / self.k;
        let mut y = vec![0.0f32; m * self.n];
        hearth_kernels::matmul(self.qtype, self.bytes.bytes(), self.n, self.k, x, &mut y)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok((CpuStorage::F32(y), with_last_dim(layout, self.n)))
    }
}

/// Weights over one input, stacked by rows (see [`QWeight::forward_shared`]).
struct Stacked<'a>(&'a [&'a MappedMatrix]);

impl CustomOp1 for Stacked<'_> {
    fn name(&self) -> &'static str {
        "hearth-qmatmul-shared"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(self.name(), storage, layout)?;
        let weights: Vec<hearth_kernels::SharedWeight<'_>> = self
            .0
            .iter()
            .map(|m| hearth_kernels::SharedWeight {
                t: m.qtype,
                w: m.bytes.bytes(),
                n: m.n,
            })
            .collect();
        let total = weights.iter().map(|w| w.n).sum();
        let mut y = vec![0.0f32; total];
        hearth_kernels::matmul_shared(&weights, x.len(), x, &mut y)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok((CpuStorage::F32(y), with_last_dim(layout, total)))
    }
}

/// The values of a contiguous f32 tensor on the CPU: what the hearth-kernels
/// custom ops take (`op` names the op in the error).
pub(crate) fn contiguous_f32<'a>(
    op: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(data), Some((start, end))) => Ok(&data[start..end]),
        _ => candle_core::bail!("{op} takes contiguous f32 tensors"),
    }
}

/// `layout`'s shape with its last dimension set to `n`.
fn with_last_dim(layout: &Layout, n: usize) -> Shape {
    let mut dims = layout.shape().dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Shape::from(dims)
}
