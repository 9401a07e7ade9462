//! Where the model runs. The only place in the crate with GPU `#[cfg]`s: the
//! `cuda` and `metal` features pass straight through to candle. The `cuda` build
//! is compiled and linked by `cargo xtask check-gpu` but never run here (the
//! build machines have no GPU); `metal` is unverified (it builds on macOS only).

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::error::EngineError;

/// Which device to run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevicePreference {
    /// A GPU when one is compiled in and present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

impl FromStr for DevicePreference {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            "metal" => Ok(Self::Metal),
            other => Err(EngineError::InvalidRequest(format!(
                "unknown device \"{other}\" (use auto, cpu, cuda or metal)"
            ))),
        }
    }
}

impl fmt::Display for DevicePreference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Metal => "metal",
        })
    }
}

/// The preferences this build can honour here: `auto` and `cpu` always, a
/// GPU when this build has its feature and the machine has the device.
pub fn available_devices() -> Vec<DevicePreference> {
    let mut all = vec![DevicePreference::Auto, DevicePreference::Cpu];
    if cuda().is_ok() {
        all.push(DevicePreference::Cuda);
    }
    if metal().is_ok() {
        all.push(DevicePreference::Metal);
    }
    all
}

/// The device for a preference. Asking for a GPU this build does not support,
/// or one this machine does not have, is an error that says which; `Auto`
/// falls back to the CPU.
pub(crate) fn pick(pref: DevicePreference) -> Result<Device, EngineError> {
    match pref {
        DevicePreference::Cpu => Ok(Device::Cpu),
        DevicePreference::Cuda => cuda(),
        DevicePreference::Metal => metal(),
        DevicePreference::Auto => Ok(cuda().or_else(|_| metal()).unwrap_or(Device::Cpu)),
    }
}

fn unavailable(what: &str, why: impl fmt::Display) -> EngineError {
    EngineError::InvalidRequest(format!("{what} is not available: {why}"))
}

/// The first CUDA device. Without a GPU (or with a driver that does not
/// initialise) candle answers with an error, not a panic: cudarc checks what
/// `cuInit` returns. A build with this feature links `libcuda.so.1`, so it
/// starts only where the NVIDIA driver is installed.
#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, EngineError> {
    Device::new_cuda(0)
        .map_err(|e| unavailable("cuda", format_args!("no usable CUDA device ({e})")))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device, EngineError> {
    Err(unavailable(
        "cuda",
        "this build of Hearth has no CUDA support (it is built with `--features cuda`)",
    ))
}

#[cfg(feature = "metal")]
fn metal() -> Result<Device, EngineError> {
    Device::new_metal(0)
        .map_err(|e| unavailable("metal", format_args!("no usable Metal device ({e})")))
}

#[cfg(not(feature = "metal"))]
fn metal() -> Result<Device, EngineError> {
    Err(unavailable(
        "metal",
        "this build of Hearth has no Metal support (it is built with `--features metal`)",
    ))
}

/// A short name for stats: `cpu`, `cuda:0`, `metal:0`.
pub(crate) fn name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(_) => "cuda:0".to_owned(),
        Device::Metal(_) => "metal:0".to_owned(),
    }
}

/// Number of CPU threads the compute kernels use.
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Sets the number of CPU threads the compute kernels use. candle sizes its
/// thread pool from `RAYON_NUM_THREADS` the first time it computes, so this must
/// run before any model is loaded, while the program is still single-threaded
/// (the CLI calls it first thing in `main`).
pub fn set_threads(n: usize) {
    // SAFETY: setting an environment variable races with other threads reading
    // the environment; callers do this at start-up, before spawning threads.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_preferences() {
        assert_eq!(
            "CPU".parse::<DevicePreference>().unwrap(),
            DevicePreference::Cpu
        );
        assert_eq!(
            "auto".parse::<DevicePreference>().unwrap(),
            DevicePreference::Auto
        );
        assert!("tpu".parse::<DevicePreference>().is_err());
    }

    #[test]
    #[cfg(not(any(feature = "cuda", feature = "metal")))]
    fn auto_without_gpu_features_is_cpu() {
        assert!(matches!(pick(DevicePreference::Auto).unwrap(), Device::Cpu));
        // Asking for a GPU this build lacks says so, and how to get one.
        let err = pick(DevicePreference::Cuda).unwrap_err().to_string();
        assert!(err.contains("no CUDA support"), "{err}");
        assert!(err.contains("--features cuda"), "{err}");
        let err = pick(DevicePreference::Metal).unwrap_err().to_string();
        assert!(err.contains("no Metal support"), "{err}");
        assert_eq!(
            available_devices(),
            [DevicePreference::Auto, DevicePreference::Cpu]
        );
    }
}
