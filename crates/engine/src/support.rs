//! The ggml weight types the engine runs, and with what: the one list of them
//! (a file with any other type is refused at load, naming the tensor).
//!
//! A type runs when hearth-kernels has a format for it (`QType::from_ggml`: on
//! the CPU, the weights stay in the mapped file) or candle can hold it
//! (`gguf::candle_dtype`: any device, copied into a candle `QTensor`). Giving
//! a type kernels (or a candle mapping) is what makes it run: nothing else
//! needs to change here.

use candle_core::Device;
use candle_core::quantized::GgmlDType;
use hearth_gguf::GgmlType;
use hearth_kernels::QType;

/// How the engine can compute with a weight of one ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Support {
    /// Hearth's kernels (CPU only, unless the candle reference is asked for).
    pub(crate) kernels: Option<QType>,
    /// candle's quantised tensors (any device).
    pub(crate) candle: Option<GgmlDType>,
}

impl Support {
    pub(crate) fn of(ty: GgmlType) -> Self {
        Self {
            kernels: QType::from_ggml(ty),
            candle: candle_dtype(ty),
        }
    }

    /// Whether a weight of this type runs where `kernels` says whether
    /// Hearth's kernels may be used.
    pub(crate) fn runs(self, kernels: bool) -> bool {
        (kernels && self.kernels.is_some()) || self.candle.is_some()
    }
}

/// Whether Hearth's kernels may compute on `device` (they are CPU code).
pub(crate) fn kernels_on(device: &Device, candle_matmul: bool) -> bool {
    device.is_cpu() && !candle_matmul
}

/// The ggml types a model's weights may have to run on `device`.
pub fn runnable_types(device: &Device) -> Vec<GgmlType> {
    let kernels = kernels_on(device, false);
    GgmlType::ALL
        .iter()
        .copied()
        .filter(|&t| Support::of(t).runs(kernels))
        .collect()
}

/// [`runnable_types`] as a list for messages ("F32, F16, …").
pub(crate) fn runnable_type_names(device: &Device, kernels: bool) -> String {
    GgmlType::ALL
        .iter()
        .filter(|&&t| Support::of(t).runs(kernels && device.is_cpu()))
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candle type that holds a ggml type, for the types candle can load
/// (`qtensor_from_ggml`; it refuses Q8_1 and Q8_K, the activation formats).
pub(crate) fn candle_dtype(ty: GgmlType) -> Option<GgmlDType> {
    Some(match ty {
        GgmlType::F32 => GgmlDType::F32,
        GgmlType::F16 => GgmlDType::F16,
        GgmlType::BF16 => GgmlDType::BF16,
        GgmlType::Q4_0 => GgmlDType::Q4_0,
        GgmlType::Q4_1 => GgmlDType::Q4_1,
        GgmlType::Q5_0 => GgmlDType::Q5_0,
        GgmlType::Q5_1 => GgmlDType::Q5_1,
        GgmlType::Q8_0 => GgmlDType::Q8_0,
        GgmlType::Q2_K => GgmlDType::Q2K,
        GgmlType::Q3_K => GgmlDType::Q3K,
        GgmlType::Q4_K => GgmlDType::Q4K,
        GgmlType::Q5_K => GgmlDType::Q5K,
        GgmlType::Q6_K => GgmlDType::Q6K,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_types_people_download_run_and_exotic_ones_do_not() {
        let cpu = runnable_types(&Device::Cpu);
        for t in [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q4_0,
            GgmlType::Q8_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
            GgmlType::IQ4_NL,
            GgmlType::IQ4_XS,
        ] {
            assert!(cpu.contains(&t), "{t}");
        }
        for t in [
            GgmlType::MXFP4,
            GgmlType::TQ1_0,
            GgmlType::Q8_K,
            GgmlType::I32,
        ] {
            assert!(!cpu.contains(&t), "{t}");
        }
        // Kernel formats run on the CPU even when candle has no such type.
        for q in QType::ALL {
            assert!(Support::of(q.ggml()).runs(true), "{}", q.name());
        }
        let names = runnable_type_names(&Device::Cpu, true);
        assert!(names.starts_with("F32, F16"), "{names}");
    }
}
