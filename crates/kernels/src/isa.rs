//! Which instruction set the kernels run on, chosen at run time.

use std::sync::OnceLock;

use crate::{ActBlock, QType};

/// An instruction-set level with its own kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust; what any CPU runs.
    Portable,
    /// x86-64 with AVX2 and FMA (Haswell and later, Zen).
    Avx2,
    /// x86-64 with AVX-512 F/BW/VL and VNNI (Ice Lake and later, Zen 4/5).
    Avx512,
    /// AArch64 with NEON and the dot-product extension (Apple M-series,
    /// Graviton 2+). CI checks these kernels under QEMU (correctness only).
    Neon,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    pub fn from_name(name: &str) -> Option<Isa> {
        [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon]
            .into_iter()
            .find(|i| i.name() == name)
    }

    /// Whether this CPU can run the kernels of `self`.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every level this CPU can run, slowest first (what the tests cover).
    pub fn all_available() -> Vec<Isa> {
        [Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon]
            .into_iter()
            .filter(|i| i.available())
            .collect()
    }

    /// The level the kernels use: `HEARTH_KERNELS` when it names one this CPU
    /// can run, else the best available. Decided once per process.
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let best = Isa::all_available()
                .into_iter()
                .max()
                .unwrap_or(Isa::Portable);
            match std::env::var("HEARTH_KERNELS").ok().as_deref() {
                None | Some("") | Some("auto") => best,
                Some(name) => match Isa::from_name(name).filter(|i| i.available()) {
                    Some(isa) => isa,
                    None => best,
                },
            }
        })
    }
}

/// `out[r] = row_r(w) · acts` for `out.len()` consecutive rows of `k` values in
/// `w` (each [`QType::row_bytes`] long), `acts` holding `k / 32` blocks
/// quantised by [`crate::quantize_acts_for`] for the weight's type (the
/// 256-value types' kernels take a super-block's activation scale from its
/// first block).
pub type RowsDot = fn(k: usize, w: &[u8], acts: &[ActBlock], out: &mut [f32]);

/// The kernel for `t` on `isa`, or `None` when this CPU cannot run `isa`. A
/// level without its own kernel for `t` falls back to the next slower one.
pub fn rows_dot_fn(isa: Isa, t: QType) -> Option<RowsDot> {
    if !isa.available() {
        return None;
    }
    let family = |isa| match t {
        QType::Q4_0 | QType::Q4_1 | QType::Q5_0 | QType::Q5_1 | QType::Q8_0 | QType::IQ4NL => {
            crate::legacy::rows_dot(isa, t)
        }
        QType::Q4K | QType::Q5K | QType::Q6K | QType::IQ4XS => crate::kquants::rows_dot(isa, t),
        // Their activations are rounded, not quantised to blocks (`float.rs`).
        QType::F16 | QType::BF16 => None,
    };
    let order: &[Isa] = match isa {
        Isa::Portable => &[Isa::Portable],
        Isa::Avx2 => &[Isa::Avx2, Isa::Portable],
        Isa::Avx512 => &[Isa::Avx512, Isa::Avx2, Isa::Portable],
        Isa::Neon => &[Isa::Neon, Isa::Portable],
    };
    order.iter().find_map(|&i| family(i))
}

/// `out[i · rows + r] = row_r(w) · acts_i` for `rows` weight rows and `m`
/// activation rows (`acts` holds `m · k / 32` blocks, quantised as for
/// [`RowsDot`]): several activation rows
/// share each unpacked weight block (prompt processing).
pub type TileDot =
    fn(k: usize, w: &[u8], rows: usize, acts: &[ActBlock], m: usize, out: &mut [f32]);

/// The many-rows kernel for `t` on exactly `isa`, when it has one (then its
/// results equal [`rows_dot_fn`]'s bit for bit); `None`: use the row kernel.
pub fn tile_dot_fn(isa: Isa, t: QType) -> Option<TileDot> {
    if !isa.available() {
        return None;
    }
    match t {
        QType::Q4_0 | QType::Q4_1 | QType::Q5_0 | QType::Q5_1 | QType::Q8_0 | QType::IQ4NL => {
            crate::legacy::tile_dot(isa, t)
        }
        QType::Q4K | QType::Q5K | QType::Q6K | QType::IQ4XS => crate::kquants::tile_dot(isa, t),
        QType::F16 | QType::BF16 => None,
    }
}

/// Panics unless a kernel call's operands fit: rows of whole blocks of `t`,
/// `rows` rows of weights, `m` rows of activation blocks and `m · rows`
/// outputs. The SIMD kernels read through raw pointers after this check.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn check_operands(
    t: QType,
    k: usize,
    w: &[u8],
    rows: usize,
    acts: &[ActBlock],
    m: usize,
    out: &[f32],
) {
    let block = t.block_elems();
    assert!(
        k.is_multiple_of(block),
        "rows of {k} values are not whole blocks of {block}"
    );
    assert!(w.len() >= rows * t.row_bytes(k), "weight slice too short");
    assert!(acts.len() >= m * (k / 32), "too few activation blocks");
    assert!(out.len() >= m * rows, "output too short");
}
