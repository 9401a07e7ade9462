//! The ggml tensor types, one named table: every type code llama.cpp knows
//! (ggml.h's `enum ggml_type`), with its name, the values per block and the
//! bytes per block, and the codes llama.cpp has retired, so an error can name
//! whatever a file holds. Also llama.cpp's `general.file_type` names.
//!
//! Block sizes are `sizeof(block_*)` and `QK*` from ggml-common.h (checked by
//! compiling it: see the test at the end); written for Hearth.

use std::fmt;

/// How a type stores values: `block` values in `bytes` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockLayout {
    /// Values per block (1 for plain number types).
    pub block: usize,
    /// Bytes per block.
    pub bytes: usize,
}

macro_rules! ggml_types {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $code:literal, $name:literal, $layout:expr;
    )*) => {
        /// A ggml tensor type, by the name llama.cpp and the Hugging Face file
        /// names use (`Q4_K`, `IQ4_XS`, …).
        #[allow(non_camel_case_types)] // ggml's own names, as users see them
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum GgmlType {
            $($(#[$doc])* $variant,)*
        }

        impl GgmlType {
            /// Every type in the table, in code order.
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$variant,)*];

            /// The type with this code in a GGUF tensor record, if ggml ever had one.
            pub const fn from_code(code: u32) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The code stored in GGUF tensor records.
            pub const fn code(self) -> u32 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The name, e.g. `Q4_K`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// How values are stored; `None` for a type llama.cpp no longer
            /// reads from GGUF files (see [`GgmlType::retired_hint`]).
            pub const fn layout(self) -> Option<BlockLayout> {
                match self {
                    $(Self::$variant => $layout,)*
                }
            }
        }
    };
}

const fn plain(bytes: usize) -> Option<BlockLayout> {
    Some(BlockLayout { block: 1, bytes })
}

const fn blocks(block: usize, bytes: usize) -> Option<BlockLayout> {
    Some(BlockLayout { block, bytes })
}

/// Values per K-quant / i-quant super-block (`QK_K`).
const QK_K: usize = 256;

ggml_types! {
    F32 = 0, "F32", plain(4);
    F16 = 1, "F16", plain(2);
    Q4_0 = 2, "Q4_0", blocks(32, 18);
    Q4_1 = 3, "Q4_1", blocks(32, 20);
    /// Retired in 2023.
    Q4_2 = 4, "Q4_2", None;
    /// Retired in 2023.
    Q4_3 = 5, "Q4_3", None;
    Q5_0 = 6, "Q5_0", blocks(32, 22);
    Q5_1 = 7, "Q5_1", blocks(32, 24);
    Q8_0 = 8, "Q8_0", blocks(32, 34);
    Q8_1 = 9, "Q8_1", blocks(32, 36);
    Q2_K = 10, "Q2_K", blocks(QK_K, 84);
    Q3_K = 11, "Q3_K", blocks(QK_K, 110);
    Q4_K = 12, "Q4_K", blocks(QK_K, 144);
    Q5_K = 13, "Q5_K", blocks(QK_K, 176);
    Q6_K = 14, "Q6_K", blocks(QK_K, 210);
    Q8_K = 15, "Q8_K", blocks(QK_K, 292);
    IQ2_XXS = 16, "IQ2_XXS", blocks(QK_K, 66);
    IQ2_XS = 17, "IQ2_XS", blocks(QK_K, 74);
    IQ3_XXS = 18, "IQ3_XXS", blocks(QK_K, 98);
    IQ1_S = 19, "IQ1_S", blocks(QK_K, 50);
    IQ4_NL = 20, "IQ4_NL", blocks(32, 18);
    IQ3_S = 21, "IQ3_S", blocks(QK_K, 110);
    IQ2_S = 22, "IQ2_S", blocks(QK_K, 82);
    IQ4_XS = 23, "IQ4_XS", blocks(QK_K, 136);
    I8 = 24, "I8", plain(1);
    I16 = 25, "I16", plain(2);
    I32 = 26, "I32", plain(4);
    I64 = 27, "I64", plain(8);
    F64 = 28, "F64", plain(8);
    IQ1_M = 29, "IQ1_M", blocks(QK_K, 56);
    BF16 = 30, "BF16", plain(2);
    /// Q4_0 repacked for ARM; retired (llama.cpp repacks Q4_0 at load now).
    Q4_0_4_4 = 31, "Q4_0_4_4", None;
    /// Q4_0 repacked for ARM; retired.
    Q4_0_4_8 = 32, "Q4_0_4_8", None;
    /// Q4_0 repacked for ARM; retired.
    Q4_0_8_8 = 33, "Q4_0_8_8", None;
    TQ1_0 = 34, "TQ1_0", blocks(QK_K, 54);
    TQ2_0 = 35, "TQ2_0", blocks(QK_K, 66);
    /// IQ4_NL repacked for ARM; retired.
    IQ4_NL_4_4 = 36, "IQ4_NL_4_4", None;
    /// IQ4_NL repacked for ARM; retired.
    IQ4_NL_4_8 = 37, "IQ4_NL_4_8", None;
    /// IQ4_NL repacked for ARM; retired.
    IQ4_NL_8_8 = 38, "IQ4_NL_8_8", None;
    MXFP4 = 39, "MXFP4", blocks(32, 17);
    NVFP4 = 40, "NVFP4", blocks(64, 36);
    Q1_0 = 41, "Q1_0", blocks(128, 18);
    Q2_0 = 42, "Q2_0", blocks(64, 18);
}

impl GgmlType {
    /// Values per block, if the type can still be read.
    pub const fn block_size(self) -> Option<usize> {
        match self.layout() {
            Some(l) => Some(l.block),
            None => None,
        }
    }

    /// Bytes per block, if the type can still be read.
    pub const fn type_size(self) -> Option<usize> {
        match self.layout() {
            Some(l) => Some(l.bytes),
            None => None,
        }
    }

    /// What to do with a file holding a retired type (`None` for types in use).
    pub const fn retired_hint(self) -> Option<&'static str> {
        match self {
            Self::Q4_0_4_4 | Self::Q4_0_4_8 | Self::Q4_0_8_8 => {
                Some("re-quantise to Q4_0 (llama.cpp repacks it at load now)")
            }
            Self::IQ4_NL_4_4 | Self::IQ4_NL_4_8 | Self::IQ4_NL_8_8 => {
                Some("re-quantise to IQ4_NL (llama.cpp repacks it at load now)")
            }
            Self::Q4_2 | Self::Q4_3 => Some("re-convert the model from its original weights"),
            _ => None,
        }
    }

    /// Bytes of `values` values of this type: `None` when the count is not a
    /// whole number of blocks, the type is retired, or the size overflows.
    pub const fn bytes_for(self, values: u64) -> Option<u64> {
        let Some(l) = self.layout() else {
            return None;
        };
        let (block, bytes) = (l.block as u64, l.bytes as u64);
        if !values.is_multiple_of(block) {
            return None;
        }
        (values / block).checked_mul(bytes)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a llama.cpp `general.file_type` (the quantisation a file was
/// made with, e.g. 15 = `Q4_K_M`), including retired ones.
pub fn file_type_name(code: u64) -> Option<&'static str> {
    Some(match code {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        4 => "Q4_1_SOME_F16",
        5 => "Q4_2",
        6 => "Q4_3",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        33 => "Q4_0_4_4",
        34 => "Q4_0_4_8",
        35 => "Q4_0_8_8",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        1024 => "GUESSED",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for (i, &t) in GgmlType::ALL.iter().enumerate() {
            assert_eq!(GgmlType::from_code(t.code()), Some(t));
            assert_eq!(
                t.code() as usize,
                i,
                "{t}: the table is in code order with no gaps"
            );
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(GgmlType::from_code(GgmlType::ALL.len() as u32), None);
        assert_eq!(GgmlType::from_code(u32::MAX), None);
    }

    /// `QK*` and `sizeof(block_*)` printed by a C program that includes
    /// llama.cpp's `ggml/src/ggml-common.h` (llama-cpp-python 0.3.36's vendored
    /// tree), and `ggml_type_name` uppercased: an independent statement of the
    /// table, so a typo in one of them fails here.
    #[test]
    fn layouts_match_ggml_common_h() {
        let printed = "\
            Q1_0 128 18, Q2_0 64 18, Q4_0 32 18, Q4_1 32 20, Q5_0 32 22, Q5_1 32 24, \
            Q8_0 32 34, Q8_1 32 36, MXFP4 32 17, NVFP4 64 36, Q2_K 256 84, Q3_K 256 110, \
            Q4_K 256 144, Q5_K 256 176, Q6_K 256 210, Q8_K 256 292, IQ2_XXS 256 66, \
            IQ2_XS 256 74, IQ3_XXS 256 98, IQ3_S 256 110, IQ2_S 256 82, IQ1_S 256 50, \
            IQ1_M 256 56, IQ4_NL 32 18, IQ4_XS 256 136, TQ1_0 256 54, TQ2_0 256 66, \
            F32 1 4, F16 1 2, BF16 1 2, I8 1 1, I16 1 2, I32 1 4, I64 1 8, F64 1 8";
        let mut seen = 0;
        for entry in printed.split(", ") {
            let mut parts = entry.split_whitespace();
            let name = parts.next().unwrap();
            let block: usize = parts.next().unwrap().parse().unwrap();
            let bytes: usize = parts.next().unwrap().parse().unwrap();
            let t = GgmlType::ALL
                .iter()
                .find(|t| t.name() == name)
                .unwrap_or_else(|| panic!("{name} is not in the table"));
            assert_eq!(t.layout(), Some(BlockLayout { block, bytes }), "{name}");
            seen += 1;
        }
        let in_use = GgmlType::ALL
            .iter()
            .filter(|t| t.layout().is_some())
            .count();
        assert_eq!(seen, in_use, "every type in use is checked");
    }

    #[test]
    fn retired_types_have_no_layout_and_say_what_to_do() {
        for &t in GgmlType::ALL {
            assert_eq!(t.layout().is_none(), t.retired_hint().is_some(), "{t}");
        }
        assert_eq!(GgmlType::Q4_0_4_4.bytes_for(32), None);
    }

    #[test]
    fn bytes_for_checks_blocks_and_overflow() {
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q8_0.bytes_for(33), None);
        assert_eq!(GgmlType::F32.bytes_for(1 << 62), None);
        assert_eq!(
            GgmlType::F32.bytes_for((1 << 62) - 1),
            Some(((1 << 62) - 1) * 4)
        );
        // 2^56 blocks of 292 bytes: past u64.
        assert_eq!(GgmlType::Q8_K.bytes_for(u64::MAX / 256 * 256), None);
        assert!(GgmlType::Q4_K.bytes_for(u64::MAX / 256 * 256).is_some());
    }

    #[test]
    fn file_types_are_named() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(32), Some("BF16"));
        assert_eq!(file_type_name(999), None);
    }
}
