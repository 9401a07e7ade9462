//! The row loop the portable kernels of both families share, and the IQ4
//! table lookup both use.

use crate::format::IQ4_VALUES;
use crate::{ActBlock, QType};

/// `out[r] = Σ block(block of row r, its activation blocks)` for `out.len()`
/// rows of `k` values of type `t`; a block of `t` meets `block_elems / 32`
/// activation blocks (1 for the 32-value formats, 8 for the K-quants).
#[inline(always)]
pub(crate) fn rows(
    t: QType,
    k: usize,
    w: &[u8],
    acts: &[ActBlock],
    out: &mut [f32],
    block: fn(&[u8], &[ActBlock]) -> f32,
) {
    let row_bytes = t.row_bytes(k);
    let per_block = t.block_elems() / 32;
    for (y, row) in out.iter_mut().zip(w.chunks_exact(row_bytes)) {
        *y = row
            .chunks_exact(t.block_bytes())
            .zip(acts.chunks_exact(per_block))
            .map(|(b, a)| block(b, a))
            .sum();
    }
}

/// 16 bytes of IQ4 table indices (IQ4_NL's block, an IQ4_XS sub-block: low
/// nibbles are values 0..16, high ones 16..32) times 32 activations.
#[inline(always)]
pub(crate) fn iq4_dot(qs: &[u8], a: &[i8; 32]) -> i32 {
    let mut sum = 0i32;
    for j in 0..16 {
        sum += i32::from(IQ4_VALUES[usize::from(qs[j] & 0xF)]) * i32::from(a[j]);
        sum += i32::from(IQ4_VALUES[usize::from(qs[j] >> 4)]) * i32::from(a[j + 16]);
    }
    sum
}
