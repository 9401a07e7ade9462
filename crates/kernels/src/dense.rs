//! Products with many activation rows (a prompt) that the integer panels of
//! `lanes.rs` do not take (F16 and BF16 weights; every type without AVX2:
//! ARM, old x86): weights are decoded to f32 a panel of rows at a time and
//! multiplied with an f32 GEMM.
//!
//! With hundreds of rows the work is compute-bound, and a register-blocked
//! float GEMM (the `gemm` crate, candle's own) outruns the integer dot products
//! that are best for one row: each decoded panel is reused by every activation
//! row while it sits in the cache. Decoding costs the same whatever the number
//! of rows, so this pays from a few dozen rows on. [`crate::matmul`] hands it
//! the activations already rounded to 8 bits as the row kernels round them,
//! so results differ from the row kernels' by float rounding only.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::QType;
use crate::pool::Pool;
use crate::reference::dequantize_row;

/// The most weight rows decoded per panel: 128 rows of a few thousand values
/// stay in L2 while every activation row passes over them. Smaller panels
/// repeat the GEMM's packing of the activations more often; larger ones leave
/// a thread idle on the small K/V projections (measured: 128 beats 64 and 256).
const PANEL_ROWS: usize = 128;

/// Rows per panel for `n` rows over `parts` threads: at most [`PANEL_ROWS`],
/// and as even a split as whole panels allow, so no thread is left with one
/// panel more than another (576 rows over 2 threads: 6 panels of 96, not 4½
/// of 128, where one thread would wait a whole panel's time).
fn panel_rows(n: usize, parts: usize) -> usize {
    let per_part = n.div_ceil(parts.max(1));
    let panels_per_part = per_part.div_ceil(PANEL_ROWS);
    per_part
        .div_ceil(panels_per_part)
        .next_multiple_of(8)
        .min(PANEL_ROWS)
}

thread_local! {
    static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A pointer the pool's parts share; each part writes only its own columns.
#[derive(Clone, Copy)]
pub(crate) struct Out(pub(crate) *mut f32);
// SAFETY: parts write disjoint columns of the output (see `matmul_dense`).
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    /// The output from value `i` on (a method, so closures capture the whole
    /// `Out`, not its raw pointer field).
    pub(crate) fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// `y = x · Wᵀ` for `m` rows of `x`; the operands were checked by the caller
/// (`w` holds `n` rows of `row_bytes`, `x` is `m · k`, `y` is `m · n`).
pub(crate) fn matmul_dense(t: QType, w: &[u8], n: usize, k: usize, x: &[f32], y: &mut [f32]) {
    let m = x.len() / k;
    debug_assert!(x.len() == m * k && y.len() == m * n);
    let row_bytes = t.row_bytes(k);
    let pool = Pool::global();
    let panel_rows = panel_rows(n, pool.parts());
    let panels = n.div_ceil(panel_rows);
    let next = AtomicUsize::new(0);
    let out = Out(y.as_mut_ptr());
    let task = |_part: usize| {
        PANEL.with_borrow_mut(|panel| {
            panel.resize(panel_rows * k, 0.0);
            // Parts take panels as they finish, so a slower one does not hold
            // the others up.
            loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= panels {
                    break;
                }
                let r0 = p * panel_rows;
                let rows = panel_rows.min(n - r0);
                let w = &w[r0 * row_bytes..][..rows * row_bytes];
                for (dst, src) in panel.chunks_exact_mut(k).zip(w.chunks_exact(row_bytes)) {
                    dequantize_row(t, src, dst);
                }
                // SAFETY: `x` is `m × k` row-major, the panel `rows × k`
                // row-major (read as its transpose, `k × rows`), and the
                // destination is columns `r0..r0 + rows` of the `m × n`
                // row-major `y`, which no other part writes; all three outlive
                // the call.
                unsafe {
                    gemm::gemm(
                        m,
                        rows,
                        k,
                        out.at(r0),
                        1,
                        n as isize,
                        false,
                        x.as_ptr(),
                        1,
                        k as isize,
                        panel.as_ptr(),
                        k as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
    };
    pool.run(&task);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_split_rows_evenly_over_the_threads() {
        for (n, parts, rows) in [
            (576, 2, 96),
            (1536, 2, 128),
            (192, 2, 96),
            (640, 2, 112),
            (2048, 2, 128),
            (100, 1, 104),
            (7, 4, 8),
        ] {
            assert_eq!(
                panel_rows(n, parts),
                rows.min(PANEL_ROWS),
                "{n} over {parts}"
            );
        }
    }
}
