//! Hearth's CPU hot paths: products of GGUF-quantised weights with f32
//! activations, the operation that decides how fast a local model answers.
//!
//! - [`QType`]: the block formats we compute on (`Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`,
//!   `Q8_0`, `Q4_K`, `Q5_K`, `Q6_K`, `IQ4_NL`, `IQ4_XS`), byte-compatible with
//!   GGUF/ggml; and the 16-bit floats `F16` and `BF16`, read in place with
//!   activations rounded to their type (`float.rs`).
//! - [`ActBlock`] / [`quantize_acts_for`]: activations are quantised once per
//!   product to blocks of 32 `i8` with an f32 scale (one scale per 256 values
//!   for the K-quants, as ggml's `q8_K`), so the inner loops are integer dot
//!   products (`vpdpbusd`, `vpmaddubsw`, `sdot`; IQ4's 16-value
//!   table looked up with a byte shuffle, `vpshufb` / `tbl`).
//! - [`Isa`]: which instruction set the kernels use, detected *at run time*
//!   (`is_x86_feature_detected!`), so a release binary built for plain x86-64
//!   still runs the AVX-512 code on a machine that has it. `HEARTH_KERNELS`
//!   forces one (`portable`, `avx2`, `avx512`, `neon`) for tests and benchmarks.
//! - [`matmul`]: `y = x · Wᵀ` for `m` activation rows, split over threads. A
//!   prompt's many rows go, on x86, to panels of 16 weight rows held one row
//!   per 32-bit lane, so one `vpdpbusd` feeds 16 rows (`lanes.rs`; on AVX2
//!   without VNNI, `vpmaddubsw` 8 rows); elsewhere to an f32 GEMM over
//!   decoded panels (`dense.rs`).
//!   [`matmul_shared`]: several weights over one activation row (a layer's
//!   q/k/v) in one pass.
//! - [`attend_one`]: a generated token's attention over the KV cache, keys
//!   split over the pool; [`attend_many`]: a prompt's, tiled with an online
//!   softmax (memory that grows with the cache, not its square). The cache is
//!   f32, f16 or `Q8_0` ([`quantize_q8_0`]).
//! - [`silu_mul`] / [`gelu_tanh_mul`]: an MLP's gated activation in one
//!   vectorised pass.
//! - [`mod@reference`]: straightforward scalar decoding and dot products every fast
//!   path is tested against.
//!
//! Formats learned from ggml's `ggml-quants.c` and candle's `k_quants.rs`;
//! written for Hearth.
#![allow(unsafe_code)] // SIMD intrinsics; every unsafe block says why it is sound.

mod act;
mod attention;
mod dense;
mod float;
mod format;
mod glu;
mod isa;
#[cfg(target_arch = "x86_64")]
mod lanes;
mod matmul;
#[cfg(target_arch = "aarch64")]
mod neon;
mod pool;
mod portable;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod x86;

mod kquants;
mod legacy;

pub use act::{ActBlock, dequantize_acts, quantize_acts, quantize_acts_for, quantize_acts_k};
pub use attention::{
    AttentionError, AttentionShape, DECODE_EXACT_ROWS, KvData, KvView, Q8_0_BLOCK, Q8_0_BYTES,
    QuerySpan, attend_many, attend_one, quantize_q8_0,
};
pub use format::QType;
pub use glu::{exp, gelu_tanh_mul, silu_mul};
pub use isa::{Isa, RowsDot, TileDot, rows_dot_fn, tile_dot_fn};
pub use matmul::{MatmulError, SharedWeight, matmul, matmul_shared};
