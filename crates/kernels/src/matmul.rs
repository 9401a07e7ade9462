//! `y = x · Wᵀ` for quantised `W`, split over rayon's threads by output rows.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::{ActBlock, Isa, QType, quantize_acts_for, rows_dot_fn};

/// A product whose operands do not fit together.
#[derive(Debug, thiserror::Error)]
pub enum MatmulError {
    #[error("{t} rows of {k} values: {k} is not a multiple of {block}")]
    RowLength {
        t: &'static str,
        k: usize,
        block: usize,
    },
    #[error("{t} weight of {n}x{k} needs {need} bytes, got {got}")]
    WeightBytes {
        t: &'static str,
        n: usize,
        k: usize,
        need: usize,
        got: usize,
    },
    #[error("activations of {len} values are not rows of {k}, or the output is not {n} per row")]
    Shape { len: usize, k: usize, n: usize },
}

/// Below this many multiply-adds a product runs on the calling thread: waking
/// other threads costs more than it saves.
const PARALLEL_MIN_WORK: usize = 1 << 16;

thread_local! {
    static ACTS: RefCell<Vec<ActBlock>> = const { RefCell::new(Vec::new()) };
}

/// `y[i][r] = Σ_j x[i][j] · W[r][j]` for `W` of `n` rows of `k` values of type
/// `t` (GGUF layout, row-major), `x` of `m = x.len() / k` rows, `y` of `m · n`.
pub fn matmul(
    t: QType,
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), MatmulError> {
    let block = t.block_elems();
    if k == 0 || !k.is_multiple_of(block) {
        return Err(MatmulError::RowLength {
            t: t.name(),
            k,
            block,
        });
    }
    let row_bytes = t.row_bytes(k);
    if w.len() < n * row_bytes {
        return Err(MatmulError::WeightBytes {
            t: t.name(),
            n,
            k,
            need: n * row_bytes,
            got: w.len(),
        });
    }
    if !x.len().is_multiple_of(k) || y.len() != x.len() / k * n {
        return Err(MatmulError::Shape { len: x.len(), k, n });
    }
    let m = x.len() / k;
    let dot = rows_dot_fn(Isa::active(), t)
        .or_else(|| rows_dot_fn(Isa::Portable, t))
        .ok_or(MatmulError::RowLength {
            t: t.name(),
            k,
            block,
        })?;
    ACTS.with_borrow_mut(|acts| {
        quantize_acts_for(t, x, acts);
        let acts: &[ActBlock] = acts;
        let per_row = k / 32;
        let threads = rayon::current_num_threads();
        if n * k * m < PARALLEL_MIN_WORK || threads == 1 {
            for (i, y) in y.chunks_exact_mut(n).enumerate() {
                dot(k, &w[..n * row_bytes], &acts[i * per_row..][..per_row], y);
            }
            return;
        }
        // Enough chunks to balance, each a whole number of 4-row groups.
        let chunk_rows = n.div_ceil(threads * 4).next_multiple_of(4).max(4);
        if m == 1 {
            y.par_chunks_mut(chunk_rows).enumerate().for_each(|(c, y)| {
                let w = &w[c * chunk_rows * row_bytes..][..y.len() * row_bytes];
                dot(k, w, acts, y);
            });
            return;
        }
        let parts: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(chunk_rows))
            .into_par_iter()
            .map(|c| {
                let r0 = c * chunk_rows;
                let rows = chunk_rows.min(n - r0);
                let w = &w[r0 * row_bytes..][..rows * row_bytes];
                let mut part = vec![0.0f32; m * rows];
                for (i, out) in part.chunks_exact_mut(rows).enumerate() {
                    dot(k, w, &acts[i * per_row..][..per_row], out);
                }
                (r0, part)
            })
            .collect();
        for (r0, part) in parts {
            let rows = part.len() / m;
            for (i, src) in part.chunks_exact(rows).enumerate() {
                y[i * n + r0..][..rows].copy_from_slice(src);
            }
        }
    });
    Ok(())
}
