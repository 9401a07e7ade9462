//! `cargo xtask verify-models`: every model family Hearth claims, built from
//! random weights with the real tensor names, shapes and metadata
//! (`xtask/verify/make_model.py`, written with llama.cpp's own `gguf`
//! package), quantised by llama.cpp's `llama-quantize` into each type people
//! download, and checked against llama.cpp on the same file:
//!
//! - perplexity on the same text and window (`hearth perplexity` against
//!   `llama-perplexity`), as a ratio;
//! - 24 greedy tokens from the same raw prompt (`hearth run --raw` against
//!   `llama-completion`): the same text, or where it parts.
//!
//! A type Hearth cannot run must be refused at load with its name; a type it
//! runs must agree within 1%. Prints the table; fails otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::perplexity::{Scoring, hearth_ppl, llama_ppl};
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

const TOLERANCE: f64 = 0.01;
const PROMPT: &str = "The GNU General Public License is a free";
const GREEDY_TOKENS: &str = "24";

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
    /// Perplexity windows scored.
    #[arg(long, default_value_t = 4)]
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
        "text {} | ctx {} | chunks {} | greedy {GREEDY_TOKENS} tokens | threads {}",
        args.file.display(),
        args.ctx,
        args.chunks,
        tools.threads
    );
    println!(
        "| shape | type | Hearth PPL | llama.cpp PPL | ratio | greedy {GREEDY_TOKENS} | verdict |"
    );
    println!("|---|---|---|---|---|---|---|");
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
        for ty in pick(&args.types, &TYPES) {
            let file = if ty == "F16" {
                base.clone()
            } else {
                let out = dir.join(format!("{shape}-{ty}.gguf"));
                quantize(&tools, &base, &out, &ty)?;
                out
            };
            let row = check(&tools, &file, args);
            let verdict = match &row {
                Ok(r) if (r.ratio - 1.0).abs() <= TOLERANCE && r.greedy.agrees() => "ok".to_owned(),
                Ok(_) => {
                    failed.push(format!("{shape} {ty}"));
                    "DIFFERS".to_owned()
                }
                Err(Refusal::Refused(why)) => format!("refused at load: {why}"),
                Err(Refusal::Failed(why)) => {
                    failed.push(format!("{shape} {ty}"));
                    format!("FAILED: {why}")
                }
            };
            match row {
                Ok(r) => println!(
                    "| {shape} | {ty} | {:.4e} | {:.4e} | {:.5} | {} | {verdict} |",
                    r.ours, r.theirs, r.ratio, r.greedy
                ),
                Err(_) => println!("| {shape} | {ty} | - | - | - | - | {verdict} |"),
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "outside {}% or failing: {}",
            TOLERANCE * 100.0,
            failed.join(", ")
        );
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

/// How 24 greedy tokens compare.
enum Greedy {
    Same,
    /// They part at token `at`, where Hearth's top two were `margin` nats
    /// apart: below [`NEAR_TIE`] either engine's pick is a fair answer.
    Parts {
        at: usize,
        margin: f32,
    },
}

/// A top-1/top-2 margin (nats) below which two engines may pick differently.
const NEAR_TIE: f32 = 0.1;

impl Greedy {
    fn agrees(&self) -> bool {
        match self {
            Self::Same => true,
            Self::Parts { margin, .. } => *margin < NEAR_TIE,
        }
    }
}

impl std::fmt::Display for Greedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Same => f.write_str("same"),
            Self::Parts { at, margin } if *margin < NEAR_TIE => {
                write!(f, "near-tie at token {at} (margin {margin:.3})")
            }
            Self::Parts { at, margin } => write!(f, "parts at token {at} (margin {margin:.3})"),
        }
    }
}

struct Row {
    ours: f64,
    theirs: f64,
    ratio: f64,
    greedy: Greedy,
}

enum Refusal {
    /// Hearth said at load that it cannot run the file (the honest answer).
    Refused(String),
    /// Anything else.
    Failed(String),
}

fn check(tools: &Tools, file: &Path, args: &Args) -> Result<Row, Refusal> {
    let failed = |e: anyhow::Error| Refusal::Failed(format!("{e:#}"));
    let run = Scoring {
        text: &args.file,
        ctx: args.ctx,
        chunks: args.chunks,
    };
    let ours = hearth_ppl(&tools.hearth, file, run).map_err(|e| {
        let message = format!("{e:#}");
        let first = message
            .lines()
            .find(|l| l.starts_with("Error"))
            .unwrap_or(&message)
            .to_owned();
        if message.contains("cannot run") {
            Refusal::Refused(first)
        } else {
            Refusal::Failed(first)
        }
    })?;
    let theirs = llama_ppl(
        &tools.llama.join("llama-perplexity"),
        file,
        run,
        tools.threads,
    )
    .map_err(failed)?;
    let greedy = greedy(tools, file).map_err(failed)?;
    Ok(Row {
        ours,
        theirs,
        ratio: ours / theirs,
        greedy,
    })
}

/// Hearth's and llama.cpp's greedy continuations of [`PROMPT`]; where they
/// part, the margin between Hearth's top two tokens there (from
/// `hearth run --logprobs 2`).
fn greedy(tools: &Tools, file: &Path) -> Result<Greedy> {
    let ours = Command::new(&tools.hearth)
        .args(["run", "--raw", "--temperature", "0", "--logprobs", "2"])
        .args(["--max-tokens", GREEDY_TOKENS])
        .arg("-m")
        .arg(file)
        .arg(PROMPT)
        .output()
        .context("cannot run hearth run")?;
    if !ours.status.success() {
        bail!("hearth run: {}", String::from_utf8_lossy(&ours.stderr));
    }
    let theirs = Command::new(tools.llama.join("llama-completion"))
        .arg("-m")
        .arg(file)
        .args(["-p", PROMPT, "-n", GREEDY_TOKENS, "--temp", "0", "-no-cnv"])
        .args(["-t", &tools.threads.to_string()])
        .output()
        .context("cannot run llama-completion")?;
    let text = String::from_utf8_lossy(&ours.stdout);
    let theirs = String::from_utf8_lossy(&theirs.stdout);
    let theirs = theirs.strip_prefix(PROMPT).unwrap_or(&theirs);
    let (text, theirs) = (text.trim_end(), theirs.trim_end());
    if text == theirs {
        return Ok(Greedy::Same);
    }
    let parted = text
        .chars()
        .zip(theirs.chars())
        .take_while(|(a, b)| a == b)
        .count();
    // The token whose text holds the first differing character.
    let stderr = String::from_utf8_lossy(&ours.stderr);
    let mut chars = 0;
    for (at, line) in stderr.lines().filter(|l| l.starts_with('{')).enumerate() {
        let token: serde_json::Value = serde_json::from_str(line)?;
        chars += token["token"].as_str().map_or(0, |t| t.chars().count());
        if chars > parted {
            let top = |i: usize| token["top"][i][1].as_f64().unwrap_or(f64::NAN) as f32;
            return Ok(Greedy::Parts {
                at,
                margin: top(0) - top(1),
            });
        }
    }
    // llama.cpp went on where Hearth stopped (or the other way round).
    Ok(Greedy::Parts {
        at: stderr.lines().filter(|l| l.starts_with('{')).count(),
        margin: f32::INFINITY,
    })
}
