//! `cargo xtask verify-models`: every model family Hearth claims, built from
//! random weights with the real tensor names, shapes and metadata
//! (`xtask/verify/make_model.py`, written with llama.cpp's own `gguf`
//! package), quantised by llama.cpp's `llama-quantize` into each type people
//! download, and checked against llama.cpp on the same file, teacher-forced:
//!
//! - `llama-perplexity --kl-divergence-base` scores the text and saves its
//!   log-probabilities at every scored position;
//! - `hearth perplexity --kl-divergence-base` scores llama.cpp's own tokens
//!   and compares each position: the same top token where llama.cpp's lead
//!   over its second choice exceeds 0.1 nats (goal: 99%), the KL divergence,
//!   and the perplexity ratio (goal: within 1%);
//! - for quantised types, both engines' KL divergence from the F16 file's
//!   log-probabilities (llama.cpp's), which says, where the two part, which
//!   one is closer to the unquantised model.
//!
//! A type Hearth cannot run must be refused at load with its name. Prints the
//! table; fails when a cell misses the goals and Hearth is not the closer of
//! the two to F16.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::perplexity::{Scoring, hearth_against, llama_kld, llama_ppl};
use crate::{cargo, exec, fetch, llama_cpp, target_dir, workspace_root};

/// The shapes `make_model.py` knows (scaled-down families).
const SHAPES: [&str; 8] = [
    "llama-3.2-1b",
    "llama-3.1-8b",
    "mistral-7b-v0.3",
    "qwen2.5-0.5b",
    "qwen3-0.6b",
    "gemma-3-1b",
    "phi-3.5-mini",
    "phi-4-mini",
];

/// The types people download, as `llama-quantize` names them.
const TYPES: [&str; 11] = [
    "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_NL", "IQ4_XS",
];

/// How far apart the two perplexities may be.
const TOLERANCE: f64 = 0.01;
/// The share of confident positions whose top token must be llama.cpp's.
const AGREEMENT: f64 = 0.99;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only these shapes (default: all).
    #[arg(long = "shape")]
    shapes: Vec<String>,
    /// Only these types (default: all).
    #[arg(long = "type")]
    types: Vec<String>,
    /// The text scored (default: the GPL-3 text every Debian ships).
    #[arg(short = 'f', long, default_value = "/usr/share/common-licenses/GPL-3")]
    file: PathBuf,
    /// Perplexity window in tokens (past Gemma's 32-token test window).
    #[arg(long, default_value_t = 128)]
    ctx: usize,
    /// Perplexity windows scored (8 of 128: 504 positions compared).
    #[arg(long, default_value_t = 8)]
    chunks: usize,
}

struct Tools {
    python: PathBuf,
    llama: PathBuf,
    hearth: PathBuf,
    threads: usize,
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(args: &Args) -> Result<()> {
    let cache = cache()?;
    let dir = cache.join("verify");
    std::fs::create_dir_all(&dir)?;
    let tools = Tools {
        python: venv(&cache.join("verify-venv"))?,
        llama: llama_cpp::ensure(None)?.join("build/bin"),
        hearth: {
            exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
            target_dir().join("release/hearth")
        },
        threads: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let tokenizer = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    let pick = |list: &[String], all: &[&'static str]| -> Vec<String> {
        if list.is_empty() {
            all.iter().map(|s| (*s).to_owned()).collect()
        } else {
            list.to_vec()
        }
    };

    println!(
        "text {} | ctx {} | chunks {} | threads {}",
        args.file.display(),
        args.ctx,
        args.chunks,
        tools.threads
    );
    println!(
        "| shape | type | same top-1 (confident) | same top-1 (all) | PPL Hearth / llama.cpp | KLD Hearth↔llama.cpp | KLD from F16: Hearth / llama.cpp | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let run = Scoring {
        text: &args.file,
        ctx: args.ctx,
        chunks: args.chunks,
    };
    let mut failed = Vec::new();
    for shape in pick(&args.shapes, &SHAPES) {
        let base = dir.join(format!("{shape}-F16.gguf"));
        exec(
            Command::new(&tools.python)
                .arg(workspace_root().join("xtask/verify/make_model.py"))
                .arg(&shape)
                .arg(&tokenizer)
                .arg(&base),
        )?;
        // llama.cpp's log-probabilities for the unquantised file.
        let f16_logits = dir.join(format!("{shape}-F16.base.kl"));
        llama_ppl(
            &tools.llama.join("llama-perplexity"),
            &base,
            run,
            tools.threads,
            Some(&f16_logits),
        )?;
        for ty in pick(&args.types, &TYPES) {
            let file = if ty == "F16" {
                base.clone()
            } else {
                let out = dir.join(format!("{shape}-{ty}.gguf"));
                quantize(&tools, &base, &out, &ty)?;
                out
            };
            let logits = dir.join(format!("{shape}-{ty}.kl"));
            let row = check(
                &tools,
                &file,
                run,
                &logits,
                (ty != "F16").then_some(&f16_logits),
            );
            let _ = std::fs::remove_file(&logits);
            let verdict = match &row {
                Ok(r) => match r.verdict() {
                    Some(v) => v.to_owned(),
                    None => {
                        failed.push(format!("{shape} {ty}"));
                        "DIFFERS".to_owned()
                    }
                },
                Err(Refusal::Refused(why)) => format!("refused at load: {why}"),
                Err(Refusal::Failed(why)) => {
                    failed.push(format!("{shape} {ty}"));
                    format!("FAILED: {why}")
                }
            };
            match row {
                Ok(r) => println!(
                    "| {shape} | {ty} | {}/{} ({:.1}%) | {}/{} | {:.5} | {:.6} | {} | {verdict} |",
                    r.confident_same,
                    r.confident,
                    100.0 * r.agreement(),
                    r.same,
                    r.positions,
                    r.ours / r.theirs,
                    r.kld,
                    r.from_f16
                        .map_or("-".to_owned(), |(o, t)| format!("{o:.6} / {t:.6}")),
                ),
                Err(_) => println!("| {shape} | {ty} | - | - | - | - | - | {verdict} |"),
            }
        }
        let _ = std::fs::remove_file(&f16_logits);
    }
    if !failed.is_empty() {
        bail!("outside the goals or failing: {}", failed.join(", "));
    }
    Ok(())
}

fn cache() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/hearth"))
}

/// A venv with llama.cpp's `gguf` package and numpy; its python.
fn venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin/python3");
    let ready = Command::new(&python)
        .args(["-c", "import gguf, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        exec(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
        exec(Command::new(&python).args(["-m", "pip", "install", "--quiet", "gguf", "numpy"]))?;
    }
    Ok(python)
}

fn quantize(tools: &Tools, base: &Path, out: &Path, ty: &str) -> Result<()> {
    let done = Command::new(tools.llama.join("llama-quantize"))
        .arg(base)
        .arg(out)
        .arg(ty)
        .arg(tools.threads.to_string())
        .output()
        .context("cannot run llama-quantize")?;
    if !done.status.success() {
        bail!(
            "llama-quantize {ty} failed: {}",
            String::from_utf8_lossy(&done.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(())
}

/// One cell: Hearth against llama.cpp on the same file and tokens.
struct Row {
    /// Perplexities: Hearth's (on llama.cpp's tokens) and llama.cpp's.
    ours: f64,
    theirs: f64,
    positions: usize,
    same: usize,
    /// Positions where llama.cpp's top-1/top-2 margin exceeds 0.1 nats.
    confident: usize,
    confident_same: usize,
    /// Mean KL divergence of Hearth from llama.cpp.
    kld: f64,
    /// Mean KL divergence from llama.cpp's F16 log-probabilities: Hearth's
    /// and llama.cpp's (quantised types only).
    from_f16: Option<(f64, f64)>,
}

impl Row {
    fn agreement(&self) -> f64 {
        self.confident_same as f64 / self.confident.max(1) as f64
    }

    /// "ok" when the goals are met; "ok, closer to F16" when the top tokens
    /// part more often but Hearth's answers are nearer the unquantised
    /// model's than llama.cpp's are (the parting is llama.cpp's rounding);
    /// `None` otherwise.
    fn verdict(&self) -> Option<&'static str> {
        if (self.ours / self.theirs - 1.0).abs() > TOLERANCE {
            return None;
        }
        if self.agreement() >= AGREEMENT {
            return Some("ok");
        }
        match self.from_f16 {
            Some((ours, theirs)) if ours <= theirs => Some("ok, closer to F16"),
            _ => None,
        }
    }
}

enum Refusal {
    /// Hearth said at load that it cannot run the file (the honest answer).
    Refused(String),
    /// Anything else.
    Failed(String),
}

/// Scores `file` with both engines, llama.cpp's log-probabilities going
/// through `logits`; with `f16`, both engines' divergence from it too.
fn check(
    tools: &Tools,
    file: &Path,
    run: Scoring<'_>,
    logits: &Path,
    f16: Option<&Path>,
) -> Result<Row, Refusal> {
    let failed = |e: anyhow::Error| {
        Refusal::Failed(
            format!("{e:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let perplexity = tools.llama.join("llama-perplexity");
    let theirs = llama_ppl(&perplexity, file, run, tools.threads, Some(logits)).map_err(failed)?;
    let ours = hearth_against(&tools.hearth, file, logits).map_err(|e| {
        let message = format!("{e:#}");
        // The error's first line, not hearth's backtrace.
        let first = message.lines().next().unwrap_or_default().to_owned();
        if message.contains("cannot run") {
            Refusal::Refused(first)
        } else {
            Refusal::Failed(first)
        }
    })?;
    let count = |key: &str| ours["versus_llama"][key].as_u64().unwrap_or(0) as usize;
    let from_f16 = match f16 {
        Some(f16) => {
            let hearth = hearth_against(&tools.hearth, file, f16).map_err(failed)?;
            let llama =
                llama_kld(&perplexity, file, f16, run.ctx, tools.threads).map_err(failed)?;
            Some((
                hearth["versus_llama"]["kld_mean"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                llama,
            ))
        }
        None => None,
    };
    Ok(Row {
        ours: ours["ppl"].as_f64().unwrap_or(f64::NAN),
        theirs,
        positions: count("positions"),
        same: count("same_top1"),
        confident: count("confident"),
        confident_same: count("confident_same_top1"),
        kld: ours["versus_llama"]["kld_mean"]
            .as_f64()
            .unwrap_or(f64::NAN),
        from_f16,
    })
}
