//! The GGUF block formats (ggml's `block_q4_0` … `block_q6_K`, `block_iq4_nl`,
//! `block_iq4_xs`) the kernels compute on. Names, codes and block sizes come
//! from hearth-gguf's table of ggml types; the layouts inside a block are the
//! kernels' own business.

use hearth_gguf::{BlockLayout, GgmlType};

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
    /// `d: f16, qs: [u8; 16]`: `IQ4_VALUES[q] · d`, the nibbles laid out as
    /// Q4_0's (low nibbles are values 0..16, high ones 16..32).
    IQ4NL,
    /// 256 values: `d: f16, scales_h: u16, scales_l: [u8; 4], qs: [u8; 128]`,
    /// 8 sub-blocks of 32 laid out as IQ4_NL's, each with a 6-bit scale `ls`
    /// (low 4 bits a nibble of `scales_l`, high 2 bits from `scales_h`):
    /// `IQ4_VALUES[q] · d · (ls - 32)`.
    IQ4XS,
    /// IEEE half precision, one value per "block" (`float.rs`).
    F16,
    /// bfloat16: f32's top 16 bits (`float.rs`).
    BF16,
}

/// The 16 values a 4-bit index of IQ4_NL / IQ4_XS stands for (ggml's
/// `kvalues_iq4nl`): denser near zero, where most weights are.
pub(crate) const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

impl QType {
    pub const ALL: [QType; 10] = [
        QType::Q4_0,
        QType::Q4_1,
        QType::Q5_0,
        QType::Q5_1,
        QType::Q8_0,
        QType::Q4K,
        QType::Q5K,
        QType::Q6K,
        QType::IQ4NL,
        QType::IQ4XS,
    ];

    /// The 16-bit float types, which have kernels of their own (`float.rs`):
    /// activations rounded to the weight's type, not quantised to blocks.
    pub const FLOATS: [QType; 2] = [QType::F16, QType::BF16];

    /// Whether this is one of [`QType::FLOATS`].
    pub const fn is_float(self) -> bool {
        matches!(self, QType::F16 | QType::BF16)
    }

    /// The ggml type this is: where its name and block layout come from.
    pub const fn ggml(self) -> GgmlType {
        match self {
            QType::Q4_0 => GgmlType::Q4_0,
            QType::Q4_1 => GgmlType::Q4_1,
            QType::Q5_0 => GgmlType::Q5_0,
            QType::Q5_1 => GgmlType::Q5_1,
            QType::Q8_0 => GgmlType::Q8_0,
            QType::Q4K => GgmlType::Q4_K,
            QType::Q5K => GgmlType::Q5_K,
            QType::Q6K => GgmlType::Q6_K,
            QType::IQ4NL => GgmlType::IQ4_NL,
            QType::IQ4XS => GgmlType::IQ4_XS,
            QType::F16 => GgmlType::F16,
            QType::BF16 => GgmlType::BF16,
        }
    }

    /// The kernels' format for a ggml type, if they have one.
    pub fn from_ggml(ty: GgmlType) -> Option<QType> {
        QType::ALL
            .into_iter()
            .chain(QType::FLOATS)
            .find(|q| q.ggml() == ty)
    }

    const fn layout(self) -> BlockLayout {
        match self.ggml().layout() {
            Some(layout) => layout,
            // Every format above is a ggml type in use (a test checks it).
            None => panic!("a kernel format that is a retired ggml type"),
        }
    }

    /// Values per block.
    pub const fn block_elems(self) -> usize {
        self.layout().block
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        self.layout().bytes
    }

    /// Bytes of one row of `k` values (`k` a multiple of [`Self::block_elems`]).
    pub fn row_bytes(self, k: usize) -> usize {
        k / self.block_elems() * self.block_bytes()
    }

    pub const fn name(self) -> &'static str {
        self.ggml().name()
    }
}

/// Reads a little-endian f16 at `b[at..at + 2]` as f32.
#[inline(always)]
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_a_ggml_type_with_a_layout() {
        for q in QType::ALL.into_iter().chain(QType::FLOATS) {
            let layout = q.ggml().layout().expect("a type ggml reads");
            assert_eq!(
                (q.block_elems(), q.block_bytes()),
                (layout.block, layout.bytes)
            );
            assert_eq!(QType::from_ggml(q.ggml()), Some(q));
        }
        assert_eq!(QType::from_ggml(GgmlType::F32), None);
        assert_eq!(QType::BF16.row_bytes(3), 6);
        assert_eq!(QType::Q4K.name(), "Q4_K");
        assert_eq!(QType::Q8_0.row_bytes(64), 68);
        assert_eq!(
            (QType::IQ4NL.name(), QType::IQ4NL.block_bytes()),
            ("IQ4_NL", 18)
        );
        assert_eq!(
            (QType::IQ4XS.name(), QType::IQ4XS.row_bytes(512)),
            ("IQ4_XS", 272)
        );
    }
}
