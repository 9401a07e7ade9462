//! The 256-value formats: the K-quants `Q4_K`, `Q5_K`, `Q6_K`, and `IQ4_XS`
//! (8 sub-blocks of IQ4_NL's table indices with 6-bit scales). A
//! super-block's 256 activations are 8 consecutive [`crate::ActBlock`]s.

use crate::{Isa, QType, RowsDot, TileDot};

#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_panel;

/// This family's kernel for `t` on exactly `isa` (no fallback), if it has one.
pub(crate) fn rows_dot(isa: Isa, t: QType) -> Option<RowsDot> {
    match isa {
        Isa::Portable => Some(portable::rows_dot(t)),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::avx2::rows_dot(t),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512::rows_dot(t),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => neon::rows_dot(t),
        _ => None,
    }
}

/// This family's many-rows kernel for `t` on exactly `isa`, if it has one.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) fn tile_dot(isa: Isa, t: QType) -> Option<TileDot> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::avx2::tile_dot(t),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512::tile_dot(t),
        _ => None,
    }
}
