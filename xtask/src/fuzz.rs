//! `cargo xtask fuzz [--seconds N] [--asan]`: the coverage-guided fuzz target
//! over the GGUF reader (`crates/gguf/fuzz`, cargo-fuzz and libFuzzer).
//!
//! Installs cargo-fuzz on first use (pinned to 0.13), writes the hostile-file
//! corpus and the tiny models from hearth-testkit as seeds, and runs the
//! target for N seconds (default 600) on the corpus kept in
//! `~/.cache/hearth/fuzz/gguf-reader`, which grows from run to run. Inputs
//! that crash land in its `artifacts/`; the run fails then.
//!
//! Built without a sanitizer by default: the reader has no unsafe code, so
//! AddressSanitizer would only instrument what Rust's bounds checks already
//! guard, at about a third of the speed; and without it the target builds on
//! the stable toolchain. `--asan` turns it on (through `RUSTC_BOOTSTRAP=1`,
//! which lets the stable compiler take cargo-fuzz's `-Zsanitizer`). Debug
//! assertions and overflow checks are on either way, and libFuzzer's malloc
//! limit catches an allocation the input does not warrant.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hearth_testkit::gguf::hostile::{corpus, lying_models};
use hearth_testkit::gguf::{TinyGguf, TinyLlama};

use crate::{cargo, exec, target_dir};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long to fuzz.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Build with AddressSanitizer (slower; see the module docs).
    #[arg(long)]
    asan: bool,
}

/// The fuzz crate and its one target.
const FUZZ_DIR: &str = "crates/gguf/fuzz";
const TARGET: &str = "reader";

#[allow(clippy::print_stderr)]
pub(crate) fn run(args: &Args) -> Result<()> {
    ensure_cargo_fuzz()?;
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let dir = PathBuf::from(home).join(".cache/hearth/fuzz/gguf-reader");
    let (corpus_dir, seeds, artifacts) =
        (dir.join("corpus"), dir.join("seeds"), dir.join("artifacts"));
    for d in [&corpus_dir, &seeds, &artifacts] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let n = write_seeds(&seeds)?;
    eprintln!(
        "fuzzing the GGUF reader for {} s ({n} seeds, corpus in {})",
        args.seconds,
        corpus_dir.display()
    );
    let mut cmd = cargo();
    cmd.args(["fuzz", "run", "--fuzz-dir", FUZZ_DIR])
        .env("CARGO_TARGET_DIR", target_dir().join("fuzz"));
    if args.asan {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    } else {
        cmd.args(["--sanitizer", "none"]);
    }
    let mut prefix = artifacts.into_os_string();
    prefix.push("/");
    cmd.arg(TARGET)
        .arg(&corpus_dir)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds))
        // The largest seed is ~100 KiB: no input warrants a 64 MiB block, and
        // none should take seconds.
        .arg("-malloc_limit_mb=64")
        .arg("-rss_limit_mb=1024")
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(prefix);
            a
        });
    exec(&mut cmd).context("the GGUF reader fuzz target found a crash (see artifacts above)")
}

/// Installs cargo-fuzz when `cargo fuzz` does not run.
#[allow(clippy::print_stderr)]
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("installing cargo-fuzz (about 2 minutes on 2 cores) ...");
        exec(cargo().args(["install", "cargo-fuzz", "--locked", "--version", "^0.13"]))?;
    }
    Ok(())
}

/// Writes the seed inputs (the hostile corpus, the lying models, the tiny
/// models) into `dir`, returning how many.
fn write_seeds(dir: &Path) -> Result<usize> {
    let mut files: Vec<(String, Vec<u8>)> = corpus()
        .into_iter()
        .chain(lying_models())
        .map(|c| (c.name.to_owned(), c.bytes))
        .collect();
    files.push(("tiny-gguf".into(), TinyGguf::default().to_bytes()));
    let small = TinyLlama {
        d_model: 32,
        heads: 2,
        kv_heads: 1,
        ff: 32,
        ..TinyLlama::default()
    };
    files.push(("tiny-llama".into(), small.to_bytes()));
    for (name, bytes) in &files {
        let path = dir.join(format!("{name}.gguf"));
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files.len())
}
