//! The GGUF block formats (ggml's `block_q4_0` … `block_q6_K`).

/// A quantised weight type we have kernels for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QType {
    /// `d: f16, qs: [u8; 16]`: `(q - 8) · d`.
    Q4_0,
    /// `d: f16, m: f16, qs: [u8; 16]`: `q · d + m`.
    Q4_1,
    /// `d: f16, qh: u32, qs: [u8; 16]`: `(q | h << 4) - 16) · d`.
    Q5_0,
    /// `d: f16, m: f16, qh: u32, qs: [u8; 16]`: `(q | h << 4) · d + m`.
    Q5_1,
    /// `d: f16, qs: [i8; 32]`: `q · d`.
    Q8_0,
    /// 256 values: `d, dmin: f16, scales: [u8; 12], qs: [u8; 128]`, 8 sub-blocks
    /// of 32 with 6-bit scales and mins.
    Q4K,
    /// 256 values: `d, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`.
    Q5K,
    /// 256 values: `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`.
    Q6K,
}

impl QType {
    pub const ALL: [QType; 8] = [
        QType::Q4_0,
        QType::Q4_1,
        QType::Q5_0,
        QType::Q5_1,
        QType::Q8_0,
        QType::Q4K,
        QType::Q5K,
        QType::Q6K,
    ];

    /// Values per block.
    pub fn block_elems(self) -> usize {
        match self {
            QType::Q4_0 | QType::Q4_1 | QType::Q5_0 | QType::Q5_1 | QType::Q8_0 => 32,
            QType::Q4K | QType::Q5K | QType::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            QType::Q4_0 => 18,
            QType::Q4_1 => 20,
            QType::Q5_0 => 22,
            QType::Q5_1 => 24,
            QType::Q8_0 => 34,
            QType::Q4K => 144,
            QType::Q5K => 176,
            QType::Q6K => 210,
        }
    }

    /// Bytes of one row of `k` values (`k` a multiple of [`Self::block_elems`]).
    pub fn row_bytes(self, k: usize) -> usize {
        k / self.block_elems() * self.block_bytes()
    }

    pub fn name(self) -> &'static str {
        match self {
            QType::Q4_0 => "Q4_0",
            QType::Q4_1 => "Q4_1",
            QType::Q5_0 => "Q5_0",
            QType::Q5_1 => "Q5_1",
            QType::Q8_0 => "Q8_0",
            QType::Q4K => "Q4_K",
            QType::Q5K => "Q5_K",
            QType::Q6K => "Q6_K",
        }
    }
}

/// Reads a little-endian f16 at `b[at..at + 2]` as f32.
#[inline(always)]
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}
