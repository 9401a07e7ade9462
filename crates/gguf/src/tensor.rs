//! Tensor records: reading one (shape, type, size, all checked) and checking
//! where the tensors lie in the file (aligned, inside it, not overlapping).

use std::io::{Read, Seek};
use std::ops::Range;

use crate::error::{GgufError, TensorProblem};
use crate::read::{Field, Source};
use crate::types::GgmlType;

/// Dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// Longest tensor name the GGUF specification allows, in bytes.
pub const MAX_TENSOR_NAME: u64 = 64;

/// Where a tensor's bytes are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    /// GGUF order: the innermost (row) dimension first; unused ones are 1.
    dims: [usize; MAX_DIMS],
    n_dims: u8,
    ty: GgmlType,
    /// Absolute byte range in the file.
    start: u64,
    size: u64,
}

impl TensorInfo {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ggml_type(&self) -> GgmlType {
        self.ty
    }

    /// Dimensions in GGUF order: innermost (a row's length) first.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..usize::from(self.n_dims)]
    }

    /// Dimensions outermost first (candle's and PyTorch's order): a `[rows,
    /// columns]` weight matrix is `[n_out, n_in]`.
    pub fn shape(&self) -> Vec<usize> {
        self.dims().iter().rev().copied().collect()
    }

    /// Values in the tensor (checked not to overflow when read).
    pub fn elements(&self) -> u64 {
        self.dims().iter().map(|&d| d as u64).product()
    }

    /// Bytes of data.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The data's absolute byte range in the file (checked to be inside it).
    pub fn byte_range(&self) -> Range<u64> {
        self.start..self.start + self.size
    }
}

/// A tensor record as read, its offset still relative to the data section.
pub(crate) struct RawTensor {
    pub(crate) info: TensorInfo,
    pub(crate) offset: u64,
}

/// Reads tensor record `index`: name, dimensions, type, offset.
pub(crate) fn read_record<R: Read + Seek>(
    src: &mut Source<R>,
    index: u64,
) -> Result<RawTensor, GgufError> {
    let name = src.string(Field::TensorName(index), MAX_TENSOR_NAME)?;
    let what = Field::Tensor(&name);
    let bad = |problem| GgufError::Tensor {
        name: name.clone(),
        problem,
    };
    let n_dims = src.u32(what)?;
    if n_dims as usize > MAX_DIMS {
        return Err(bad(TensorProblem::TooManyDims(n_dims)));
    }
    let mut raw = [1u64; MAX_DIMS];
    for d in raw.iter_mut().take(n_dims as usize) {
        *d = src.u64(what)?;
        // ggml keeps dimensions as int64_t.
        if *d > i64::MAX as u64 {
            return Err(bad(TensorProblem::DimTooLarge(*d)));
        }
    }
    let elements = raw
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&e| e <= i64::MAX as u64)
        .ok_or_else(|| {
            bad(TensorProblem::ElementsOverflow(
                raw[..n_dims as usize].to_vec(),
            ))
        })?;
    let mut dims = [1usize; MAX_DIMS];
    for (d, &r) in dims.iter_mut().zip(&raw) {
        // Each dimension divides the element count, which fits in usize
        // below (checked with the size); on 32-bit targets check each.
        *d = usize::try_from(r).map_err(|_| bad(TensorProblem::DimTooLarge(r)))?;
    }
    let code = src.u32(what)?;
    let ty = GgmlType::from_code(code).ok_or_else(|| bad(TensorProblem::UnknownType(code)))?;
    let Some(layout) = ty.layout() else {
        return Err(bad(TensorProblem::RetiredType {
            name: ty.name(),
            code,
            hint: ty.retired_hint().unwrap_or("re-convert the model"),
        }));
    };
    // Rows must be whole blocks (what ggml checks: blocks never span rows).
    if raw[0] % layout.block as u64 != 0 {
        return Err(bad(TensorProblem::PartialBlock {
            row: raw[0],
            ty: ty.name(),
            block: layout.block,
        }));
    }
    let size = ty
        .bytes_for(elements)
        .filter(|&s| usize::try_from(s).is_ok() && usize::try_from(elements).is_ok())
        .ok_or_else(|| {
            bad(TensorProblem::SizeOverflow {
                elements,
                ty: ty.name(),
            })
        })?;
    let offset = src.u64(what)?;
    src.charge(
        (size_of::<TensorInfo>() + size_of::<u32>()) as u64 + name.len() as u64,
        what,
    )?;
    Ok(RawTensor {
        info: TensorInfo {
            name,
            dims,
            n_dims: n_dims as u8,
            ty,
            start: 0,
            size,
        },
        offset,
    })
}

/// Places each tensor at `data_start + offset` and checks the result: offsets
/// aligned, every range inside the file of `file_len` bytes, no two ranges
/// overlapping.
pub(crate) fn place(
    raw: Vec<RawTensor>,
    data_start: u64,
    alignment: u64,
    file_len: u64,
) -> Result<Vec<TensorInfo>, GgufError> {
    let mut out = Vec::with_capacity(raw.len());
    for RawTensor { mut info, offset } in raw {
        let bad = |problem| GgufError::Tensor {
            name: info.name.clone(),
            problem,
        };
        if offset % alignment != 0 {
            return Err(bad(TensorProblem::Misaligned { offset, alignment }));
        }
        let start = data_start
            .checked_add(offset)
            .ok_or_else(|| bad(TensorProblem::OffsetOverflow { offset }))?;
        let end = start
            .checked_add(info.size)
            .filter(|&end| end <= file_len)
            .ok_or_else(|| GgufError::TensorPastEnd {
                name: info.name.clone(),
                start,
                end: start.saturating_add(info.size),
                len: file_len,
            })?;
        debug_assert!(end - start == info.size);
        info.start = start;
        out.push(info);
    }
    check_overlaps(&out)?;
    Ok(out)
}

/// Two tensors sharing bytes would be a file that lies about one of them.
fn check_overlaps(tensors: &[TensorInfo]) -> Result<(), GgufError> {
    let mut order: Vec<&TensorInfo> = tensors.iter().filter(|t| t.size > 0).collect();
    order.sort_by_key(|t| (t.start, t.size));
    // The tensor reaching furthest so far: a later start before its end overlaps.
    let mut furthest: Option<&TensorInfo> = None;
    for t in order {
        if let Some(prev) = furthest {
            let prev_end = prev.byte_range().end;
            if t.start < prev_end {
                return Err(GgufError::Overlap {
                    first: prev.name.clone(),
                    first_start: prev.start,
                    first_end: prev_end,
                    second: t.name.clone(),
                    second_start: t.start,
                    second_end: t.byte_range().end,
                });
            }
        }
        if furthest.is_none_or(|f| t.byte_range().end > f.byte_range().end) {
            furthest = Some(t);
        }
    }
    Ok(())
}
