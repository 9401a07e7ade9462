//! `y = x · Wᵀ` for quantised `W`, split over the kernel pool's threads by
//! output rows.

use std::cell::RefCell;

use std::sync::Mutex;

use crate::pool::Pool;
use crate::{
    ActBlock, Isa, QType, RowsDot, TileDot, dequantize_acts, quantize_acts_for, rows_dot_fn,
    tile_dot_fn,
};

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

/// From this many activation rows on (a prompt), a product goes through the
/// panels of `lanes.rs` (x86 with AVX2 or AVX-512 VNNI), else it decodes the
/// weights and runs an f32 GEMM ([`crate::dense`]). Either way a prompt
/// meets the 8-bit activations each generated token meets, as in llama.cpp
/// (that brought Hearth's perplexity on the 1B Q4_K_M from 1.5% to 0.6% of
/// llama.cpp's, `cargo xtask verify-models --full`), and its products are a
/// generated token's up to float rounding. Below, the many-rows kernels
/// (integer dot products, up to four activation rows per unpacked block) are
/// faster, and give each row's products bit for bit as decoding does.
const DENSE_MIN_ROWS: usize = 32;

/// Activation rows the many-rows kernels take at a time: their quantised
/// activations (2.5 KiB a row at k = 2048) stay in the core's cache while a
/// thread's weight rows stream past them.
const TILE_ACT_ROWS: usize = 16;

/// [`TileDot`] over `m` activation rows, [`TILE_ACT_ROWS`] at a time.
fn tile_in_blocks(
    tile: TileDot,
    k: usize,
    w: &[u8],
    rows: usize,
    acts: &[ActBlock],
    m: usize,
    out: &mut [f32],
) {
    let per_row = k / 32;
    let mut i = 0;
    while i < m {
        let mm = TILE_ACT_ROWS.min(m - i);
        tile(
            k,
            w,
            rows,
            &acts[i * per_row..(i + mm) * per_row],
            mm,
            &mut out[i * rows..(i + mm) * rows],
        );
        i += mm;
    }
}

/// Below this many multiply-adds a product runs on the calling thread: waking
/// other threads costs more than it saves.
const PARALLEL_MIN_WORK: usize = 1 << 16;

thread_local! {
    static ACTS: RefCell<Vec<ActBlock>> = const { RefCell::new(Vec::new()) };
    /// A prompt's activations after rounding, for the f32 GEMM.
    static ROUNDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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
    let row_bytes = check_weight(t, w, n, k)?;
    if !x.len().is_multiple_of(k) || y.len() != x.len() / k * n {
        return Err(MatmulError::Shape { len: x.len(), k, n });
    }
    let m = x.len() / k;
    if t.is_float() {
        crate::float::matmul_float(t, &w[..n * row_bytes], n, k, x, y, m >= DENSE_MIN_ROWS);
        return Ok(());
    }
    #[cfg(target_arch = "x86_64")]
    if m >= DENSE_MIN_ROWS && crate::lanes::takes(t) {
        ACTS.with_borrow_mut(|acts| {
            quantize_acts_for(t, x, acts);
            crate::lanes::matmul(t, &w[..n * row_bytes], n, k, acts, y);
        });
        return Ok(());
    }
    if m >= DENSE_MIN_ROWS {
        // The GEMM meets the activations rounded as the integer kernels
        // round them (8 bits, llama.cpp's `q8_0` / `q8_K`).
        ACTS.with_borrow_mut(|acts| {
            ROUNDED.with_borrow_mut(|rounded| {
                quantize_acts_for(t, x, acts);
                dequantize_acts(acts, rounded);
                crate::dense::matmul_dense(t, &w[..n * row_bytes], n, k, rounded, y);
            })
        });
        return Ok(());
    }
    if m == 1 {
        // One row is a stack of one weight.
        return matmul_shared(&[SharedWeight { t, w, n }], k, x, y);
    }
    let dot = row_kernel(t, k)?;
    let tile = tile_dot_fn(Isa::active(), t);
    ACTS.with_borrow_mut(|acts| {
        quantize_acts_for(t, x, acts);
        let acts: &[ActBlock] = acts;
        let per_row = k / 32;
        // Weight rows `r0..r0 + rows` for every activation row, into `out`
        // (`m × rows`).
        let run = |r0: usize, rows: usize, out: &mut [f32]| {
            let w = &w[r0 * row_bytes..][..rows * row_bytes];
            match tile {
                Some(tile) => tile_in_blocks(tile, k, w, rows, acts, m, out),
                None => {
                    for (i, out) in out.chunks_exact_mut(rows).enumerate() {
                        dot(k, w, &acts[i * per_row..][..per_row], out);
                    }
                }
            }
        };
        by_parts(n, k, m, y, &run);
    });
    Ok(())
}

/// `run(r0, rows, out)` for the `n` weight rows of a product with `m`
/// activation rows of `k` values: on the calling thread when the work is too
/// small to share ([`PARALLEL_MIN_WORK`]), else over the pool's parts, each
/// taking a run of whole weight rows (a multiple of 4; none for a part past
/// the end). `out` is `m × rows`: for one activation row, the part's own
/// slice of `y`; for several, a block of columns copied into place in `y`
/// (`m × n`) afterwards.
pub(crate) fn by_parts(
    n: usize,
    k: usize,
    m: usize,
    y: &mut [f32],
    run: &(dyn Fn(usize, usize, &mut [f32]) + Sync),
) {
    let pool = Pool::global();
    let parts = pool.parts();
    if n * k * m < PARALLEL_MIN_WORK || parts == 1 || n < parts * 4 {
        run(0, n, y);
        return;
    }
    let chunk = n.div_ceil(parts).next_multiple_of(4);
    if m == 1 {
        let slots: Vec<Mutex<&mut [f32]>> = y.chunks_mut(chunk).map(Mutex::new).collect();
        pool.run(&|part| {
            if let Some(Ok(mut out)) = slots.get(part).map(Mutex::lock) {
                let rows = out.len();
                run(part * chunk, rows, &mut out);
            }
        });
        return;
    }
    let results: Vec<Mutex<Vec<f32>>> = (0..parts).map(|_| Mutex::new(Vec::new())).collect();
    pool.run(&|part| {
        let r0 = (part * chunk).min(n);
        let rows = chunk.min(n - r0);
        let mut out = vec![0.0f32; m * rows];
        if rows > 0 {
            run(r0, rows, &mut out);
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
}

/// Checks that `w` holds `n` rows of `k` values of type `t`; returns the bytes
/// per row.
fn check_weight(t: QType, w: &[u8], n: usize, k: usize) -> Result<usize, MatmulError> {
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
    Ok(row_bytes)
}

/// The one-row kernel for `t` on this CPU.
fn row_kernel(t: QType, k: usize) -> Result<RowsDot, MatmulError> {
    rows_dot_fn(Isa::active(), t)
        .or_else(|| rows_dot_fn(Isa::Portable, t))
        .ok_or(MatmulError::RowLength {
            t: t.name(),
            k,
            block: t.block_elems(),
        })
}

/// One weight of [`matmul_shared`]: `n` rows of `k` values of type `t`.
#[derive(Debug, Clone, Copy)]
pub struct SharedWeight<'a> {
    pub t: QType,
    pub w: &'a [u8],
    pub n: usize,
}

thread_local! {
    static ACTS_K: RefCell<Vec<ActBlock>> = const { RefCell::new(Vec::new()) };
}

/// `y = x · [W₀; W₁; …]ᵀ` for one activation row `x` of `k` values and
/// several weights read as one matrix stacked by rows (a layer's q/k/v or
/// gate/up projections): `y` holds each weight's outputs in turn. The
/// activations are quantised once per block format and the rows go over the
/// pool in one pass, instead of a quantisation and a pass per weight.
pub fn matmul_shared(
    weights: &[SharedWeight<'_>],
    k: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), MatmulError> {
    let total: usize = weights.iter().map(|w| w.n).sum();
    if x.len() != k || y.len() != total {
        return Err(MatmulError::Shape {
            len: x.len(),
            k,
            n: total,
        });
    }
    if weights.iter().any(|w| w.t.is_float()) {
        // The floats' activations are rounded, not quantised: one by one.
        let mut first = 0;
        for w in weights {
            matmul(w.t, w.w, w.n, k, x, &mut y[first..first + w.n])?;
            first += w.n;
        }
        return Ok(());
    }
    // Each weight with its kernel, row size and first output row.
    let mut parts = Vec::with_capacity(weights.len());
    let mut first = 0;
    for w in weights {
        let row_bytes = check_weight(w.t, w.w, w.n, k)?;
        parts.push((w, row_kernel(w.t, k)?, row_bytes, first));
        first += w.n;
    }
    let needs = |kquant: bool| weights.iter().any(|w| (w.t.block_elems() == 256) == kquant);
    ACTS.with_borrow_mut(|legacy| {
        ACTS_K.with_borrow_mut(|kq| {
            if needs(false) {
                quantize_acts_for(QType::Q8_0, x, legacy);
            }
            if needs(true) {
                quantize_acts_for(QType::Q4K, x, kq);
            }
            let (legacy, kq): (&[ActBlock], &[ActBlock]) = (legacy, kq);
            // Rows `from..from + rows` of the stacked matrix into `out`.
            let run = |from: usize, rows: usize, out: &mut [f32]| {
                let to = from + rows;
                for &(w, dot, row_bytes, first) in &parts {
                    let (r0, r1) = (from.max(first), to.min(first + w.n));
                    if r0 >= r1 {
                        continue;
                    }
                    let acts = if w.t.block_elems() == 256 { kq } else { legacy };
                    let rows = &w.w[(r0 - first) * row_bytes..(r1 - first) * row_bytes];
                    dot(k, rows, acts, &mut out[r0 - from..r1 - from]);
                }
            };
            by_parts(total, k, 1, y, &run);
        })
    });
    Ok(())
}
