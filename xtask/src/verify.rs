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
//! `--noise-floor` adds, for each quantised type, llama.cpp scoring the file
//! one token at a time (`-ub 1`) against its own batched run: on random
//! weights a quantised model turns rounding differences into different top
//! tokens (activations are rounded to 8 bits, so a last-bit change can move
//! a value to the next step), and this says how far llama.cpp parts from
//! itself when only its kernel path changes. A cell whose Hearth↔llama.cpp
//! divergence is within that spread is rounding, not a bug.
//!
//! A type Hearth cannot run must be refused at load with its name. Prints the
//! table; fails when a cell misses the goals and Hearth is not the closer of
//! the two to F16.
//!
//! Each row also holds the app's fit estimate for the file at the scoring
//! window beside the peak resident memory of a chat filling that window
//! (`hearth run`, `fit.rs`): the goal is within 10%. The scoring
//! run's own peak is shown too (higher: it holds the scored logits).
//!
//! `--long` scores one window of 16 384 tokens (`--ctx` for another) of a
//! long text made at run time from the licences every Debian ships
//! (`/usr/share/common-licenses`, repeated to about 600 kB, ~150k tokens,
//! written to `~/.cache/hearth/verify/long.txt`), at F16 and Q8_0, with the
//! Phi shapes whose metadata declares LongRoPE (`LONG_SHAPES`) added:
//! llama-perplexity scores the second half of each window, so `--ctx 8192`
//! compares positions 4096–8191 (past Gemma's window, past the Phi shapes'
//! original 4096 so llama.cpp takes the long rope factors). `--kv-type
//! f16|q8_0|f32` asks both engines for that KV cache (llama.cpp with flash
//! attention for q8_0).
//!
//! `--full` runs the real shapes instead (`FULL_SHAPES`: the models' own
//! layer counts, widths and vocabularies; the F16 file is 1.2–16 GB and is
//! kept in the cache between runs, as are its quantised twins), by default
//! Llama 3.2 1B, Qwen3 0.6B and Qwen2.5 0.5B over two windows of 512 tokens;
//! the larger ones by name (`--shape llama-3.1-8b`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::perplexity::{
    KvType, LlamaVersus, Scoring, hearth_against, hearth_against_measured, llama_ppl, llama_versus,
};
use crate::{cargo, exec, fetch, llama_cpp, target_dir, workspace_root};

/// The shapes `make_model.py` knows (scaled-down families).
const SHAPES: [&str; 9] = hearth_testkit::models::ARCHITECTURES;

/// Shapes `make_model.py` knows beyond the test files': Phi-3.5-mini and
/// Phi-4-mini as their 128k releases declare them (LongRoPE factors, an
/// original context of 4096, the attention factor), which the window only
/// exercises past 4096 tokens. Run by `--long`, or by name.
const LONG_SHAPES: [&str; 2] = ["phi-3.5-mini-128k", "phi-4-mini-128k"];

/// `--long`'s window, and its types.
const LONG_CTX: usize = 16384;
const LONG_TYPES: [&str; 2] = ["F16", "Q8_0"];

/// `--long`'s text: the licences repeated to at least this many bytes (about
/// 150k tokens; llama-perplexity needs twice the window).
const LONG_TEXT_BYTES: usize = 600_000;
const LICENCES: &str = "/usr/share/common-licenses";

/// What the `gguf` writer and numpy are pinned to: the same versions write
/// the same bytes, which the engine's architecture tests check.
const PYTHON_PACKAGES: [&str; 2] = ["gguf==0.19.0", "numpy==2.4.6"];

/// The real shapes `make_model.py` knows (`--full`; `-full` is added to a
/// name given without it).
const FULL_SHAPES: [&str; 10] = [
    "llama-3.2-1b-full",
    "llama-3.2-3b-full",
    "llama-3.1-8b-full",
    "mistral-7b-v0.3-full",
    "qwen2.5-0.5b-full",
    "qwen3-0.6b-full",
    "qwen3-4b-full",
    "gemma-3-1b-full",
    "phi-3.5-mini-full",
    "phi-4-mini-full",
];

/// What `--full` runs when no shape is named: the small real models (the
/// others take from minutes to an hour each on two cores).
const FULL_DEFAULT: [&str; 3] = ["llama-3.2-1b-full", "qwen3-0.6b-full", "qwen2.5-0.5b-full"];

/// How far the fit estimate may be from the measured peak.
const FIT_TOLERANCE: f64 = 0.10;

/// The window and windows of the fixtures the architecture tests keep.
const FIXTURE_CTX: usize = 128;
const FIXTURE_CHUNKS: usize = 2;

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
    /// The text scored (default: the GPL-3 text every Debian ships; with
    /// `--long`, the licences repeated to ~150k tokens).
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// The real shapes (layer counts, widths, vocabularies) instead of the
    /// scaled-down ones.
    #[arg(long)]
    full: bool,
    /// Perplexity window in tokens (default 128, past Gemma's 32-token test
    /// window; 512 with `--full`).
    #[arg(long)]
    ctx: Option<usize>,
    /// Perplexity windows scored (default 8 of 128 or, with `--full`, 2 of
    /// 512: about 500 positions compared).
    #[arg(long)]
    chunks: Option<usize>,
    /// Instead of the table: rewrite the engine's architecture fixtures
    /// (llama.cpp's top token at each position of a text, on each shape's
    /// test file) in `crates/engine/tests/data/architectures/`; with
    /// `--shape`, only those shapes'.
    #[arg(long)]
    write_fixtures: bool,
    /// Long context: a text longer than the window, one window of 16384
    /// (unless `--ctx`), F16 and Q8_0 (unless `--type`), the LongRoPE Phi
    /// shapes added to the default ones.
    #[arg(long, conflicts_with = "full")]
    long: bool,
    /// KV cache type of both engines (default: each engine's own, f16 in
    /// both); q8_0 turns llama.cpp's flash attention on.
    #[arg(long, value_enum)]
    kv_type: Option<KvType>,
    /// For each quantised type, also score the file with llama.cpp one token
    /// at a time (`-ub 1`: its decode kernels instead of its prompt ones)
    /// against its own batched run: how far llama.cpp parts from itself when
    /// only the order and path of its arithmetic change. Where Hearth parts
    /// from llama.cpp by no more than that, the parting is rounding, not a
    /// bug. Slow: a whole decode of the text per type.
    #[arg(long)]
    noise_floor: bool,
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
    let python = venv(&cache.join("verify-venv"))?;
    let llama = llama_cpp::ensure(None)?.join("build/bin");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let tokenizer = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    let file = match &args.file {
        Some(file) => file.clone(),
        None if args.long => long_text(&dir)?,
        None => PathBuf::from(LICENCES).join("GPL-3"),
    };
    if args.write_fixtures {
        let shapes: Vec<&str> = if args.shapes.is_empty() {
            SHAPES.to_vec()
        } else {
            args.shapes.iter().map(String::as_str).collect()
        };
        if let Some(unknown) = shapes.iter().find(|s| !SHAPES.contains(s)) {
            bail!("no test shape {unknown}; known: {}", SHAPES.join(", "));
        }
        return write_fixtures(&python, &llama, threads, &tokenizer, &file, &shapes);
    }
    // The chats that measure what the fit estimate is for cut their prompts
    // from the same text.
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
    if let Some(kv) = args.kv_type {
        kv.ensure_hearth_has_it(&target_dir().join("release/hearth"))?;
    }
    let tools = Tools {
        python,
        llama,
        hearth: target_dir().join("release/hearth"),
        threads,
    };
    let pick = |list: &[String], all: &[&'static str]| -> Vec<String> {
        if list.is_empty() {
            all.iter().map(|s| (*s).to_owned()).collect()
        } else {
            list.to_vec()
        }
    };
    let shapes = if args.full {
        let shapes = pick(&args.shapes, &FULL_DEFAULT)
            .into_iter()
            .map(|s| {
                if s.ends_with("-full") {
                    s
                } else {
                    format!("{s}-full")
                }
            })
            .collect::<Vec<_>>();
        if let Some(unknown) = shapes.iter().find(|s| !FULL_SHAPES.contains(&s.as_str())) {
            bail!("no full shape {unknown}; known: {}", FULL_SHAPES.join(", "));
        }
        shapes
    } else {
        let shapes = if args.long {
            let all: Vec<&str> = SHAPES.iter().chain(&LONG_SHAPES).copied().collect();
            pick(&args.shapes, &all)
        } else {
            pick(&args.shapes, &SHAPES)
        };
        if let Some(unknown) = shapes
            .iter()
            .find(|s| !SHAPES.contains(&s.as_str()) && !LONG_SHAPES.contains(&s.as_str()))
        {
            bail!(
                "no shape {unknown}; known: {}, {}",
                SHAPES.join(", "),
                LONG_SHAPES.join(", ")
            );
        }
        shapes
    };
    let types = if args.long {
        pick(&args.types, &LONG_TYPES)
    } else {
        pick(&args.types, &TYPES)
    };
    let run = Scoring {
        text: &file,
        ctx: args.ctx.unwrap_or(match (args.full, args.long) {
            (true, _) => 512,
            (_, true) => LONG_CTX,
            _ => 128,
        }),
        chunks: args.chunks.unwrap_or(match (args.full, args.long) {
            (true, _) => 2,
            (_, true) => 1,
            _ => 8,
        }),
        kv_type: args.kv_type,
    };

    println!(
        "text {} | ctx {} (scored: positions {}–{} of each window) | chunks {} | threads {} | KV cache {}",
        file.display(),
        run.ctx,
        run.ctx / 2,
        run.ctx - 1,
        run.chunks,
        tools.threads,
        KvType::describe(run.kv_type)
    );
    println!(
        "| shape | type | same top-1 (confident) | same top-1 (all) | PPL Hearth / llama.cpp | KLD Hearth↔llama.cpp | KLD from F16: Hearth / llama.cpp | llama.cpp one token at a time ↔ batched: same top-1 (all), KLD, PPL ratio | fit estimate / peak RSS, MiB | verdict |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = Vec::new();
    let mut misfits = Vec::new();
    for shape in shapes {
        let base = dir.join(format!("{shape}-F16.gguf"));
        if !(args.full && base.is_file()) {
            // Full shapes take minutes to write: kept between runs (written
            // under another name first, so a file there is whole).
            let partial = base.with_extension("partial");
            make_model(&tools.python, &shape, &tokenizer, &partial)?;
            std::fs::rename(&partial, &base)?;
        }
        // llama.cpp's log-probabilities for the unquantised file.
        let f16_logits = dir.join(format!("{shape}-F16.base.kl"));
        llama_ppl(
            &tools.llama.join("llama-perplexity"),
            &base,
            run,
            tools.threads,
            Some(&f16_logits),
        )?;
        for ty in &types {
            let ty = ty.clone();
            let file = if ty == "F16" {
                base.clone()
            } else {
                let out = dir.join(format!("{shape}-{ty}.gguf"));
                if !(args.full && out.is_file()) {
                    let partial = out.with_extension("partial");
                    if let Err(e) = quantize(&tools, &base, &partial, &ty) {
                        failed.push(format!("{shape} {ty}"));
                        println!("| {shape} | {ty} | - | - | - | - | - | - | - | FAILED: {e:#} |");
                        continue;
                    }
                    std::fs::rename(&partial, &out)?;
                }
                out
            };
            let logits = dir.join(format!("{shape}-{ty}.kl"));
            let row = check(
                &tools,
                &file,
                run,
                &logits,
                (ty != "F16").then_some(&f16_logits),
                args.noise_floor && ty != "F16",
            );
            let _ = std::fs::remove_file(&logits);
            let fit = match &row {
                Ok(r) => {
                    let kv = KvType::hearth_args(run.kv_type);
                    let chat = crate::fit::chat_peak(
                        &tools.hearth,
                        &file,
                        run.ctx,
                        &text,
                        &kv,
                        &dir.join("chat-home"),
                    );
                    fit_cell(&tools, &file, run.ctx, &dir, chat, r.peak_rss)
                }
                Err(_) => "-".to_owned(),
            };
            if fit.ends_with('!') {
                misfits.push(format!("{shape} {ty}"));
            }
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
                    "| {shape} | {ty} | {}/{} ({:.1}%) | {}/{} | {:.5} | {:.6} | {} | {} | {fit} | {verdict} |",
                    r.confident_same,
                    r.confident,
                    100.0 * r.agreement(),
                    r.same,
                    r.positions,
                    r.ours / r.theirs,
                    r.kld,
                    r.from_f16
                        .map_or("-".to_owned(), |(o, t)| format!("{o:.6} / {t:.6}")),
                    r.llama_spread.map_or("-".to_owned(), |s| format!(
                        "{:.1}%, {:.6}, {:.5}",
                        100.0 * s.same_top,
                        s.kld,
                        s.ppl / r.theirs
                    )),
                ),
                Err(_) => println!("| {shape} | {ty} | - | - | - | - | - | - | - | {verdict} |"),
            }
        }
        let _ = std::fs::remove_file(&f16_logits);
    }
    if !misfits.is_empty() {
        println!(
            "fit estimate more than {:.0}% from the measured peak (marked !): {}",
            FIT_TOLERANCE * 100.0,
            misfits.join(", ")
        );
    }
    if !failed.is_empty() {
        bail!("outside the goals or failing: {}", failed.join(", "));
    }
    Ok(())
}

/// "estimate / chat peak (ratio; the estimate's parts; the scoring run's
/// peak)", ending in `!` when estimate and chat peak are further apart than
/// [`FIT_TOLERANCE`]; why not, when either cannot be had.
fn fit_cell(
    tools: &Tools,
    file: &Path,
    ctx: usize,
    dir: &Path,
    chat: Result<Option<u64>>,
    scoring: Option<u64>,
) -> String {
    let first_line = |e: anyhow::Error| {
        format!("{e:#}")
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let peak = match chat {
        Ok(Some(peak)) => peak,
        Ok(None) => return "no peak read".to_owned(),
        Err(e) => return format!("no chat peak: {}", first_line(e)),
    };
    match crate::fit::estimate(&tools.hearth, file, ctx, &dir.join("fit-home")) {
        Ok(e) => {
            let ratio = e.total as f64 / peak as f64;
            format!(
                "{} / {} ({ratio:.3}; weights {} + KV {} + overhead {}; scoring peak {}){}",
                crate::fit::mib(e.total),
                crate::fit::mib(peak),
                crate::fit::mib(e.weights),
                crate::fit::mib(e.kv_cache),
                crate::fit::mib(e.overhead),
                scoring.map_or("-".to_owned(), crate::fit::mib),
                if (ratio - 1.0).abs() > FIT_TOLERANCE {
                    " !"
                } else {
                    ""
                }
            )
        }
        Err(e) => format!("no estimate: {}", first_line(e)),
    }
}

/// `--long`'s text in `dir`: the licences in [`LICENCES`] (the files, not
/// their links, in name order), repeated to [`LONG_TEXT_BYTES`]. Written at
/// run time (no large file in git); the same machine writes the same text.
fn long_text(dir: &Path) -> Result<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(LICENCES)
        .with_context(|| format!("cannot list {LICENCES}; give a long text with -f"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut text = String::new();
    for path in &files {
        let licence = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        text.push_str(&licence);
        text.push_str("\n\n");
    }
    if text.trim().is_empty() {
        bail!("no text under {LICENCES}; give a long text with -f");
    }
    let once = text.clone();
    while text.len() < LONG_TEXT_BYTES {
        text.push_str(&once);
    }
    let out = dir.join("long.txt");
    if std::fs::read(&out).ok().as_deref() != Some(text.as_bytes()) {
        let partial = out.with_extension("partial");
        std::fs::write(&partial, &text)?;
        std::fs::rename(&partial, &out)?;
    }
    Ok(out)
}

fn cache() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/hearth"))
}

/// A venv with llama.cpp's `gguf` package and numpy, pinned; its python.
fn venv(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin/python3");
    let check = format!(
        "import importlib.metadata as m; assert [f'{{p}}=={{m.version(p)}}' for p in ('gguf', 'numpy')] == {:?}",
        PYTHON_PACKAGES
    );
    let ready = Command::new(&python)
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        exec(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
        exec(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet"])
                .args(PYTHON_PACKAGES),
        )?;
    }
    Ok(python)
}

/// Where the fixture of `shape` is kept.
fn fixture_path(shape: &str) -> PathBuf {
    workspace_root()
        .join("crates/engine/tests/data/architectures")
        .join(format!("{shape}.json"))
}

/// Writes the scaled-down file of every shape where the tests look for it
/// (see `hearth_testkit::models::architecture_path`), unless it is there
/// already with the sha256 its fixture was made from. Different bytes mean
/// the writer changed: that is an error, not a silent new reference.
#[allow(clippy::print_stderr)]
pub(crate) fn write_test_architectures() -> Result<()> {
    let python = venv(&cache()?.join("verify-venv"))?;
    let tokenizer = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    for shape in SHAPES {
        let path = hearth_testkit::models::architecture_path(shape);
        let fixture: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture_path(shape))
                .with_context(|| format!("no fixture for {shape}"))?,
        )?;
        let want = fixture["model_sha256"]
            .as_str()
            .with_context(|| format!("the {shape} fixture has no model_sha256"))?;
        if path.is_file() && fetch::sha256_file(&path)? == want {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let partial = path.with_extension("partial");
        make_model(&python, shape, &tokenizer, &partial)?;
        let got = fetch::sha256_file(&partial)?;
        if got != want {
            bail!(
                "make_model.py wrote {shape} with sha256 {got}, not the {want} its fixture was made from; \
                 if the writer changed on purpose, run `cargo xtask verify-models --write-fixtures`"
            );
        }
        std::fs::rename(&partial, &path)?;
        eprintln!("test model ready: {}", path.display());
    }
    Ok(())
}

/// `make_model.py SHAPE TOKENIZER OUT`.
fn make_model(python: &Path, shape: &str, tokenizer: &Path, out: &Path) -> Result<()> {
    exec(
        Command::new(python)
            .arg(workspace_root().join("xtask/verify/make_model.py"))
            .arg(shape)
            .arg(tokenizer)
            .arg(out),
    )
}

/// For each of `shapes` (test shapes): its test file, llama.cpp's perplexity
/// run on `text` with its log-probabilities saved, reduced to the fixture the
/// tests keep.
#[allow(clippy::print_stderr)]
fn write_fixtures(
    python: &Path,
    llama: &Path,
    threads: usize,
    tokenizer: &Path,
    text: &Path,
    shapes: &[&str],
) -> Result<()> {
    let run = Scoring {
        text,
        ctx: FIXTURE_CTX,
        chunks: FIXTURE_CHUNKS,
        kv_type: None,
    };
    for &shape in shapes {
        let model = hearth_testkit::models::architecture_path(shape);
        if let Some(dir) = model.parent() {
            std::fs::create_dir_all(dir)?;
        }
        make_model(python, shape, tokenizer, &model)?;
        let logits = model.with_extension("kl");
        let ppl = llama_ppl(
            &llama.join("llama-perplexity"),
            &model,
            run,
            threads,
            Some(&logits),
        )?;
        let out = fixture_path(shape);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        exec(
            Command::new(python)
                .arg(workspace_root().join("xtask/verify/summarize.py"))
                .arg(&logits)
                .arg(&model)
                .arg(shape)
                .arg(ppl.to_string())
                .arg(&out),
        )?;
        std::fs::remove_file(&logits)?;
        eprintln!("fixture written: {}", out.display());
    }
    Ok(())
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
    /// Peak resident memory of the `hearth` process that scored the file.
    peak_rss: Option<u64>,
    /// llama.cpp one token at a time against its batched run (`--noise-floor`).
    llama_spread: Option<LlamaVersus>,
}

impl Row {
    fn agreement(&self) -> f64 {
        self.confident_same as f64 / self.confident.max(1) as f64
    }

    /// "ok" when the goals are met; "ok, closer to F16" when the top tokens
    /// part more often but Hearth's answers are nearer the unquantised
    /// model's than llama.cpp's are (the parting is llama.cpp's rounding);
    /// "ok, within llama.cpp's own spread" when Hearth parts from llama.cpp
    /// (KL divergence and perplexity) no more than llama.cpp's two kernel
    /// paths part from each other (`--noise-floor`); `None` otherwise.
    fn verdict(&self) -> Option<&'static str> {
        let ppl_apart = (self.ours / self.theirs - 1.0).abs();
        if let Some(spread) = self.llama_spread {
            let spread_apart = (spread.ppl / self.theirs - 1.0).abs();
            if self.agreement() < AGREEMENT
                && self.kld <= spread.kld
                && ppl_apart <= TOLERANCE.max(spread_apart)
            {
                return Some("ok, within llama.cpp's own spread");
            }
        }
        if ppl_apart > TOLERANCE {
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
/// through `logits`; with `f16`, both engines' divergence from it too; with
/// `spread`, llama.cpp one token at a time against its batched run.
fn check(
    tools: &Tools,
    file: &Path,
    run: Scoring<'_>,
    logits: &Path,
    f16: Option<&Path>,
    spread: bool,
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
    let (ours, peak_rss) = hearth_against_measured(&tools.hearth, file, logits, run.kv_type)
        .map_err(|e| {
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
            let hearth = hearth_against(&tools.hearth, file, f16, run.kv_type).map_err(failed)?;
            let llama = llama_versus(&perplexity, file, f16, run, tools.threads, &[])
                .map_err(failed)?
                .kld;
            Some((
                hearth["versus_llama"]["kld_mean"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
                llama,
            ))
        }
        None => None,
    };
    let llama_spread = if spread {
        // One micro-batch of one token: llama.cpp's matrix-vector kernels
        // (and the KV cache read a token at a time) instead of its
        // matrix-matrix ones, on the same file and tokens.
        let batch = run.ctx.to_string();
        let one = ["-b", batch.as_str(), "-ub", "1"];
        Some(llama_versus(&perplexity, file, logits, run, tools.threads, &one).map_err(failed)?)
    } else {
        None
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
        peak_rss,
        llama_spread,
    })
}
