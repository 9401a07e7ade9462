//! `cargo xtask build-llama-cpp`: the reference for `cargo xtask bench
//! --vs-llama-cpp`. llama.cpp is not vendored or fetched from GitHub: the PyPI
//! package `llama-cpp-python` ships its sources (`vendor/llama.cpp` in the
//! sdist), which pip can download here. Built natively (`GGML_NATIVE=ON`,
//! Release), or with `--avx2` for AVX2 + FMA + F16C only (what most laptops
//! have; the reference for Hearth's forced AVX2 path), `llama-bench`,
//! `llama-completion`, `llama-perplexity` and `llama-quantize` only.
//! Idempotent.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::exec;

/// The version recorded in ../shared/notes/perf-anchors.md.
const VERSION: &str = "0.3.36";

#[allow(clippy::print_stdout)]
pub(crate) fn build(dir: Option<PathBuf>, avx2: bool) -> Result<()> {
    let dir = ensure_for(dir, avx2)?;
    println!("{}", dir.display());
    Ok(())
}

/// The targets this build makes.
const TARGETS: [&str; 4] = [
    "llama-bench",
    "llama-completion",
    "llama-perplexity",
    "llama-quantize",
];

/// Builds llama.cpp in `dir` (default `~/.cache/hearth/llama.cpp`) unless its
/// targets are there; returns the directory (binaries under `build/bin`).
pub(crate) fn ensure(dir: Option<PathBuf>) -> Result<PathBuf> {
    ensure_for(dir, false)
}

/// [`ensure`], for AVX2 only with `avx2` (default directory
/// `~/.cache/hearth/llama.cpp-avx2`).
fn ensure_for(dir: Option<PathBuf>, avx2: bool) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let name = if avx2 { "llama.cpp-avx2" } else { "llama.cpp" };
    let dir = dir.unwrap_or_else(|| PathBuf::from(home).join(".cache/hearth").join(name));
    let bin = dir.join("build").join("bin");
    if TARGETS.iter().all(|t| bin.join(t).is_file()) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    // The sdist's build backend and the build tools, as wheels; then the sdist
    // alone (`--no-binary :all:` would build cmake itself from source too).
    exec(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "scikit-build-core",
        "cmake",
        "ninja",
    ]))?;
    let download = dir.join("sdist");
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "download", "--no-deps", "--no-build-isolation"])
        .args(["--no-binary", "llama-cpp-python"])
        .arg(format!("llama-cpp-python=={VERSION}"))
        .arg("-d")
        .arg(&download);
    exec(&mut pip)?;
    let archive = std::fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .context("pip downloaded no llama-cpp-python sdist")?;
    exec(
        Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&download),
    )?;
    let source = download
        .join(format!("llama_cpp_python-{VERSION}"))
        .join("vendor")
        .join("llama.cpp");
    if !source.join("CMakeLists.txt").is_file() {
        bail!("no llama.cpp sources in {}", source.display());
    }
    let build = dir.join("build");
    exec(
        Command::new("cmake")
            .arg("-S")
            .arg(&source)
            .arg("-B")
            .arg(&build)
            .args(["-G", "Ninja"])
            .args([
                "-DCMAKE_BUILD_TYPE=Release",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_OPENSSL=OFF",
                "-DLLAMA_BUILD_SERVER=OFF",
                "-DLLAMA_USE_PREBUILT_UI=OFF",
                "-DLLAMA_BUILD_UI=OFF",
            ])
            .args(if avx2 {
                &[
                    "-DGGML_NATIVE=OFF",
                    "-DGGML_AVX=ON",
                    "-DGGML_AVX2=ON",
                    "-DGGML_FMA=ON",
                    "-DGGML_F16C=ON",
                    "-DGGML_BMI2=ON",
                    "-DGGML_AVX512=OFF",
                    "-DGGML_AVX_VNNI=OFF",
                    "-DGGML_AVX512_VBMI=OFF",
                    "-DGGML_AVX512_VNNI=OFF",
                    "-DGGML_AVX512_BF16=OFF",
                ][..]
            } else {
                &["-DGGML_NATIVE=ON"][..]
            }),
    )?;
    exec(
        Command::new("cmake")
            .arg("--build")
            .arg(&build)
            .args(["-j", "2", "--target"])
            .args(TARGETS),
    )?;
    Ok(dir)
}
