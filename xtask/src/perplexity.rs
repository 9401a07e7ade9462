//! `cargo xtask perplexity`: Hearth's `hearth perplexity` against llama.cpp's
//! `llama-perplexity` on the same GGUF, the same text and the same window, for
//! each test model (or the files given). Prints a table with the ratio and
//! fails when a ratio is outside the tolerance (1%).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, fetch, llama_cpp, target_dir};

/// How far apart the two perplexities may be.
const TOLERANCE: f64 = 0.01;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// GGUF files to score (default: the test models).
    #[arg(short, long = "model")]
    models: Vec<PathBuf>,
    /// The text (default: the GPL-3 text every Debian ships).
    #[arg(short = 'f', long, default_value = "/usr/share/common-licenses/GPL-3")]
    file: PathBuf,
    /// Window length in tokens.
    #[arg(long, default_value_t = 512)]
    ctx: usize,
    /// Windows scored.
    #[arg(long, default_value_t = 8)]
    chunks: usize,
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> Result<()> {
    let models = if args.models.is_empty() {
        fetch::fetch_all()?;
        hearth_testkit::models::ALL
            .iter()
            .map(|m| m.path())
            .collect()
    } else {
        args.models.clone()
    };
    let llama = llama_cpp::ensure(None)?.join("build/bin/llama-perplexity");
    exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
    let hearth = target_dir().join("release/hearth");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    println!(
        "text {} | ctx {} | chunks {} | threads {threads}",
        args.file.display(),
        args.ctx,
        args.chunks
    );
    println!("| model | Hearth PPL | llama.cpp PPL | ratio |");
    println!("|---|---|---|---|");
    let mut failed = Vec::new();
    let run = Scoring {
        text: &args.file,
        ctx: args.ctx,
        chunks: args.chunks,
    };
    for model in &models {
        let ours = hearth_ppl(&hearth, model, run)?;
        let theirs = llama_ppl(&llama, model, run, threads, None)?;
        let ratio = ours / theirs;
        let name = model.file_name().unwrap_or_default().to_string_lossy();
        println!("| {name} | {ours:.4} | {theirs:.4} | {ratio:.4} |");
        if (ratio - 1.0).abs() > TOLERANCE {
            failed.push(name.into_owned());
        }
    }
    if !failed.is_empty() {
        bail!(
            "perplexity differs from llama.cpp's by more than {}% for: {}",
            TOLERANCE * 100.0,
            failed.join(", ")
        );
    }
    Ok(())
}

/// What one scoring run is: the text, the window and how many windows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scoring<'a> {
    pub(crate) text: &'a Path,
    pub(crate) ctx: usize,
    pub(crate) chunks: usize,
}

/// `hearth perplexity --json` on `model`; its error carries hearth's stderr.
pub(crate) fn hearth_ppl(hearth: &Path, model: &Path, run: Scoring<'_>) -> Result<f64> {
    let out = Command::new(hearth)
        .arg("perplexity")
        .arg("-m")
        .arg(model)
        .arg("-f")
        .arg(run.text)
        .args(["--ctx", &run.ctx.to_string()])
        .args(["--chunks", &run.chunks.to_string(), "--json"])
        .output()
        .context("cannot run hearth perplexity")?;
    if !out.status.success() {
        bail!(
            "hearth perplexity failed on {}: {}",
            model.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("hearth perplexity printed no JSON")?;
    json["ppl"]
        .as_f64()
        .context("hearth perplexity's JSON has no ppl")
}

/// `hearth perplexity --kl-divergence-base BASE --json` on `model`: Hearth
/// scored on llama.cpp's tokens and compared with its log-probabilities; the
/// JSON (`ppl`, `versus_llama`).
pub(crate) fn hearth_against(
    hearth: &Path,
    model: &Path,
    base: &Path,
) -> Result<serde_json::Value> {
    Ok(hearth_against_measured(hearth, model, base)?.0)
}

/// [`hearth_against`], and the peak resident memory of the `hearth` process
/// (see `fit.rs`).
pub(crate) fn hearth_against_measured(
    hearth: &Path,
    model: &Path,
    base: &Path,
) -> Result<(serde_json::Value, Option<u64>)> {
    let (out, peak) = crate::fit::output_with_peak_rss(
        Command::new(hearth)
            .arg("perplexity")
            .arg("-m")
            .arg(model)
            .arg("--kl-divergence-base")
            .arg(base)
            .arg("--json"),
    )
    .context("cannot run hearth perplexity")?;
    if !out.status.success() {
        bail!(
            "hearth perplexity failed on {}: {}",
            model.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = serde_json::from_slice(&out.stdout).context("hearth perplexity printed no JSON")?;
    Ok((json, peak))
}

/// `llama-perplexity` on `model`: its final estimate. With `save_logits`, it
/// also writes its log-probabilities there (`--kl-divergence-base`).
pub(crate) fn llama_ppl(
    llama: &Path,
    model: &Path,
    run: Scoring<'_>,
    threads: usize,
    save_logits: Option<&Path>,
) -> Result<f64> {
    let mut command = Command::new(llama);
    command
        .arg("-m")
        .arg(model)
        .arg("-f")
        .arg(run.text)
        .args(["-c", &run.ctx.to_string()])
        .args(["--chunks", &run.chunks.to_string()])
        .args(["-t", &threads.to_string()]);
    if let Some(path) = save_logits {
        command.arg("--kl-divergence-base").arg(path);
    }
    let out = command.output().context("cannot run llama-perplexity")?;
    // "Final estimate: PPL = 18.3746 +/- 1.38172"
    find_figure(&out.stderr, "Final estimate: PPL = ")
        .with_context(|| format!("llama-perplexity gave no estimate for {}", model.display()))
}

/// `llama-perplexity --kl-divergence` of `model` from the log-probabilities
/// in `base`: its mean KL divergence.
pub(crate) fn llama_kld(
    llama: &Path,
    model: &Path,
    base: &Path,
    ctx: usize,
    threads: usize,
) -> Result<f64> {
    let out = Command::new(llama)
        .arg("-m")
        .arg(model)
        .arg("--kl-divergence-base")
        .arg(base)
        .arg("--kl-divergence")
        .args(["-c", &ctx.to_string()])
        .args(["-t", &threads.to_string()])
        .output()
        .context("cannot run llama-perplexity")?;
    // "Mean    KLD:   0.134705 ±   0.003327"
    find_figure(&out.stdout, "Mean    KLD:")
        .or_else(|| find_figure(&out.stderr, "Mean    KLD:"))
        .with_context(|| {
            format!(
                "llama-perplexity gave no KL divergence for {}",
                model.display()
            )
        })
}

/// The number after `label` on the first line of `log` that has it.
fn find_figure(log: &[u8], label: &str) -> Option<f64> {
    String::from_utf8_lossy(log).lines().find_map(|line| {
        let rest = line.split(label).nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
