//! `y = x · Wᵀ` for quantised `W`, split over the kernel pool's threads by
//! output rows.

use std::cell::RefCell;

use std::sync::Mutex;

use crate::pool::Pool;
use crate::{ActBlock, Isa, QType, quantize_acts_for, rows_dot_fn, tile_dot_fn};

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

/// From this many activation rows on, a product decodes the weights and runs
/// an f32 GEMM ([`crate::dense`]); below, integer dot products on quantised
/// activations are faster (decoding costs the same for any number of rows).
pub const DENSE_MIN_ROWS: usize = 32;

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
    if m >= DENSE_MIN_ROWS {
        crate::dense::matmul_dense(t, &w[..n * row_bytes], n, k, x, y);
        return Ok(());
    }
    let dot = rows_dot_fn(Isa::active(), t)
        .or_else(|| rows_dot_fn(Isa::Portable, t))
        .ok_or(MatmulError::RowLength {
            t: t.name(),
            k,
            block,
        })?;
    let tile = tile_dot_fn(Isa::active(), t);
    ACTS.with_borrow_mut(|acts| {
        quantize_acts_for(t, x, acts);
        let acts: &[ActBlock] = acts;
        let per_row = k / 32;
        let w = &w[..n * row_bytes];
        let pool = Pool::global();
        let parts = pool.parts();
        if n * k * m < PARALLEL_MIN_WORK || parts == 1 || n < parts * 4 {
            for (i, y) in y.chunks_exact_mut(n).enumerate() {
                dot(k, w, &acts[i * per_row..][..per_row], y);
            }
            return;
        }
        // Each part takes a run of whole rows (a multiple of 4).
        let chunk = n.div_ceil(parts).next_multiple_of(4);
        if m == 1 {
            let slots: Vec<Mutex<&mut [f32]>> = y.chunks_mut(chunk).map(Mutex::new).collect();
            pool.run(&|part| {
                if let Some(Ok(mut y)) = slots.get(part).map(Mutex::lock) {
                    let w = &w[part * chunk * row_bytes..][..y.len() * row_bytes];
                    dot(k, w, acts, &mut y);
                }
            });
            return;
        }
        // Several activation rows: each part fills its own block of columns,
        // copied into place afterwards.
        let results: Vec<Mutex<Vec<f32>>> = (0..parts).map(|_| Mutex::new(Vec::new())).collect();
        pool.run(&|part| {
            let r0 = (part * chunk).min(n);
            let rows = chunk.min(n - r0);
            let w = &w[r0 * row_bytes..][..rows * row_bytes];
            let mut out = vec![0.0f32; m * rows];
            match tile {
                _ if rows == 0 => {}
                Some(tile) => tile(k, w, rows, acts, m, &mut out),
                None => {
                    for (i, out) in out.chunks_exact_mut(rows).enumerate() {
                        dot(k, w, &acts[i * per_row..][..per_row], out);
                    }
                }
            }
            if let Ok(mut slot) = results[part].lock() {
                *slot = out;
            }
        });
        for (part, result) in results.into_iter().enumerate() {
            let out = result.into_inner().unwrap_or_default();
            let r0 = (part * chunk).min(n);
            let rows = chunk.min(n - r0);
            if rows == 0 {
                continue;
            }
            for (i, src) in out.chunks_exact(rows).enumerate() {
                y[i * n + r0..][..rows].copy_from_slice(src);
            }
        }
    });
    Ok(())
}
