//! `cargo xtask bench engine`: `hearth bench` (release build) on both test models, next to
//! llama.cpp on the same files, threads and token counts, run by the same script.
//!
//! A tok/s figure means little on a shared machine; the ratio to a reference measured
//! minutes apart on the same cores does. The reference is either a llama.cpp build
//! (`--vs-llama-cpp DIR`: its `llama-bench` for speed and its `llama-completion` for
//! load time and resident memory, rounds interleaved with Hearth's; build it with
//! `cargo xtask build-llama-cpp`), or the PyPI package `llama-cpp-python`
//! (`xtask/bench_ref.py`). Without either only Hearth's numbers print.
//!
//! `--model FILE` (repeatable) benchmarks other files than the test models:
//! the real shapes `cargo xtask verify-models --full` writes, or any GGUF.
//! `--kernels avx2|portable|…` forces Hearth's kernel path (`HEARTH_KERNELS`),
//! so an AVX-512 machine measures what AVX2-only laptops run; compare it with
//! a llama.cpp built for AVX2 only (`cargo xtask build-llama-cpp --avx2`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{cargo, exec, fetch, workspace_root};

#[derive(clap::Args)]
pub(crate) struct EngineArgs {
    /// Prompt tokens for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens to decode.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Measured runs per model (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Python that has `llama_cpp` installed, for the reference run.
    #[arg(long, default_value = "python3")]
    python: String,
    /// A llama.cpp build (its directory, `bin/` or `build/bin/` inside it) to
    /// compare with, round by round, instead of `llama-cpp-python`.
    #[arg(long, value_name = "PATH")]
    pub(crate) vs_llama_cpp: Option<PathBuf>,
    /// GGUF files to measure instead of the test models (repeatable).
    #[arg(long = "model", value_name = "FILE")]
    models: Vec<PathBuf>,
    /// Hearth's kernel path: avx512, avx2, neon or portable (default: the
    /// best this CPU has).
    #[arg(long, value_name = "ISA")]
    kernels: Option<String>,
}

impl EngineArgs {
    /// The files to measure: `--model`s, else the test models (fetched).
    fn files(&self) -> Result<Vec<PathBuf>> {
        if !self.models.is_empty() {
            return Ok(self.models.clone());
        }
        hearth_testkit::models::ALL
            .into_iter()
            .map(|m| fetch::fetch(&m))
            .collect()
    }

    /// `hearth bench` on `model` with the kernels asked for.
    fn hearth(&self, hearth: &Path, model: &Path) -> Command {
        let mut cmd = Command::new(hearth);
        cmd.arg("bench").arg("-m").arg(model);
        if let Some(isa) = &self.kernels {
            cmd.env("HEARTH_KERNELS", isa);
        }
        cmd
    }
}

/// Bytes a decoded token reads: every tensor once, but of the token
/// embeddings only one row when the model has its own output matrix.
fn bytes_per_token(model: &Path) -> Result<f64> {
    let gguf = hearth_gguf::Gguf::open(model, &hearth_gguf::ReadOptions::summary())
        .with_context(|| format!("cannot read {}", model.display()))?;
    let untied = gguf.tensor("output.weight").is_some();
    Ok(gguf
        .tensors()
        .iter()
        .filter(|t| !(untied && t.name() == "token_embd.weight"))
        .map(|t| t.size() as f64)
        .sum())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[allow(clippy::print_stdout)]
pub(crate) fn bench(args: &EngineArgs) -> Result<()> {
    exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), Into::into);
    let hearth = target.join("release").join("hearth");
    if let Some(dir) = &args.vs_llama_cpp {
        return vs_llama_cpp(args, &hearth, dir);
    }

    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut rows = Vec::new();
    for path in args.files()? {
        let mut cmd = args.hearth(&hearth, &path);
        cmd.args(["--json", "--threads", &threads.to_string()])
            .args(["--prompt-tokens", &args.prompt_tokens.to_string()])
            .args(["--gen-tokens", &args.gen_tokens.to_string()])
            .args(["--runs", &args.runs.to_string()]);
        let ours = run_json(&mut cmd)?;
        let mut reference = Command::new(&args.python);
        reference
            .arg(workspace_root().join("xtask").join("bench_ref.py"))
            .arg(&path)
            .args([threads, args.prompt_tokens, args.gen_tokens, args.runs].map(|n| n.to_string()));
        let reference = run_json(&mut reference).ok();
        rows.push((file_name(&path), ours, reference));
    }

    println!(
        "{} threads, pp{} / tg{}, median of {} runs; ratio = hearth / llama.cpp (higher is better)",
        threads, args.prompt_tokens, args.gen_tokens, args.runs
    );
    println!(
        "{:<34} {:>10} {:>10} {:>7} | {:>10} {:>10} {:>7} | {:>7} {:>7}",
        "model", "prefill", "decode", "load s", "ref pp", "ref tg", "ref ld", "pp x", "tg x"
    );
    let mut missing_reference = false;
    for (name, ours, reference) in rows {
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let (rp, rt, rl) = reference
            .as_ref()
            .map_or((f64::NAN, f64::NAN, f64::NAN), |r| {
                (
                    num(r, "prefill_tok_s"),
                    num(r, "decode_tok_s"),
                    num(r, "load_secs"),
                )
            });
        missing_reference |= reference.is_none();
        println!(
            "{:<34} {:>10.1} {:>10.1} {:>7.2} | {:>10.1} {:>10.1} {:>7.2} | {:>7.2} {:>7.2}   peak RSS {:.0} MiB",
            name,
            num(&ours, "prefill_tok_s"),
            num(&ours, "decode_tok_s"),
            num(&ours, "load_secs"),
            rp,
            rt,
            rl,
            num(&ours, "prefill_tok_s") / rp,
            num(&ours, "decode_tok_s") / rt,
            num(&ours, "peak_rss_bytes") / (1024.0 * 1024.0),
        );
    }
    if missing_reference {
        println!(
            "no llama.cpp reference: `{} -m pip install llama-cpp-python` (builds from source), then rerun",
            args.python
        );
    }
    Ok(())
}

fn run_json(cmd: &mut Command) -> Result<Value> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the benchmark did not print JSON")
}

/// Where a llama.cpp build keeps `name`.
fn llama_tool(dir: &Path, name: &str) -> Result<PathBuf> {
    [
        dir.to_path_buf(),
        dir.join("bin"),
        dir.join("build").join("bin"),
    ]
    .into_iter()
    .map(|d| d.join(name))
    .find(|p| p.is_file())
    .with_context(|| {
        format!(
            "no {name} under {} (cargo xtask build-llama-cpp)",
            dir.display()
        )
    })
}

/// One round of llama-bench: (prefill, decode) tok/s.
fn llama_bench(tool: &Path, model: &Path, args: &EngineArgs, threads: usize) -> Result<(f64, f64)> {
    let out = Command::new(tool)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string()])
        .args(["-p", &args.prompt_tokens.to_string()])
        .args(["-n", &args.gen_tokens.to_string()])
        .args(["-r", "1", "-o", "json"])
        .output()
        .context("cannot run llama-bench")?;
    if !out.status.success() {
        anyhow::bail!(
            "llama-bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).context("llama-bench JSON")?;
    let speed = |prompt: bool| {
        runs.iter()
            .find(|r| {
                let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
                if prompt {
                    n("n_prompt") > 0 && n("n_gen") == 0
                } else {
                    n("n_gen") > 0
                }
            })
            .and_then(|r| r.get("avg_ts").and_then(Value::as_f64))
            .unwrap_or(f64::NAN)
    };
    Ok((speed(true), speed(false)))
}

/// llama.cpp's load time (its own "load time" line, seconds) and peak RSS
/// (bytes) for a short generation at `ctx` positions.
fn llama_load(dir: &Path, model: &Path, threads: usize, ctx: usize) -> Result<(f64, f64)> {
    let tool = llama_tool(dir, "llama-completion").or_else(|_| llama_tool(dir, "llama-cli"))?;
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(tool)
        .arg("-m")
        .arg(model)
        .args(["-p", "Hello", "-n", "8", "-no-cnv", "--temp", "0"])
        .args(["-t", &threads.to_string(), "-c", &ctx.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run llama.cpp under /usr/bin/time")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |key: &str| {
        text.lines()
            .find(|l| l.contains(key))
            .and_then(|l| l.split(key).nth(1))
            .and_then(|rest| {
                rest.trim_start_matches([' ', '=', ':'])
                    .split_whitespace()
                    .next()
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Ok((
        field("load time") / 1000.0,
        field("Maximum resident set size (kbytes)") * 1024.0,
    ))
}

/// Bytes per second `threads` threads read from memory together, as decoding
/// reads the weights: each scans its share of a 512 MiB buffer (16 times the
/// biggest L3 here) for a byte that is not there, with the `memchr` crate's
/// SIMD scan (dependencies are optimised in debug builds too); the best of
/// five passes. On a Zen 4 with 2 threads it reads 31 GB/s where the
/// 64 MiB `memcpy` of `hearth_hub::measure_bandwidth` (one thread, the fit
/// estimate's conservative figure) counts 15.
fn read_bandwidth(threads: usize) -> f64 {
    const BYTES: usize = 512 << 20;
    let buffer = vec![1u8; BYTES];
    let part = BYTES.div_ceil(threads.max(1));
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let found = std::thread::scope(|scope| {
            let scans: Vec<_> = buffer
                .chunks(part)
                .map(|chunk| {
                    scope.spawn(move || memchr::memchr(0, std::hint::black_box(chunk)).is_some())
                })
                .collect();
            scans.into_iter().any(|s| s.join().unwrap_or(true))
        });
        std::hint::black_box(found);
        best = best.min(start.elapsed().as_secs_f64());
    }
    BYTES as f64 / best.max(1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Paired, interleaved rounds of Hearth and llama.cpp on both test models.
#[allow(clippy::print_stdout)]
fn vs_llama_cpp(args: &EngineArgs, hearth: &Path, dir: &Path) -> Result<()> {
    let bench_tool = llama_tool(dir, "llama-bench")?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let ctx = args.prompt_tokens + args.gen_tokens;
    let bandwidth = read_bandwidth(threads);
    println!(
        "{threads} threads, pp{} / tg{}, context {ctx}, {} interleaved rounds (medians); \
         memory read bandwidth {:.1} GB/s ({threads} threads, measured now); \
         Hearth's kernels: {}; llama.cpp: {}",
        args.prompt_tokens,
        args.gen_tokens,
        args.runs,
        bandwidth / 1e9,
        args.kernels.as_deref().unwrap_or("the best this CPU has"),
        dir.display()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "", "prefill", "decode", "", "load s", "RSS MiB", ""
    );
    for path in args.files()? {
        let (mut ours_pp, mut ours_tg, mut ref_pp, mut ref_tg) = (vec![], vec![], vec![], vec![]);
        let mut ours_last = Value::Null;
        for _ in 0..args.runs.max(1) {
            let (pp, tg) = llama_bench(&bench_tool, &path, args, threads)?;
            ref_pp.push(pp);
            ref_tg.push(tg);
            let mut cmd = args.hearth(hearth, &path);
            cmd.args(["--json", "--runs", "1", "--threads", &threads.to_string()])
                .args(["--ctx", &ctx.to_string()])
                .args(["--prompt-tokens", &args.prompt_tokens.to_string()])
                .args(["--gen-tokens", &args.gen_tokens.to_string()]);
            ours_last = run_json(&mut cmd)?;
            let num = |k: &str| ours_last.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            ours_pp.push(num("prefill_tok_s"));
            ours_tg.push(num("decode_tok_s"));
        }
        let (ref_load, ref_rss) = llama_load(dir, &path, threads, ctx)?;
        let num = |k: &str| ours_last.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let (ours_load, ours_rss) = (num("load_secs"), num("peak_rss_bytes"));
        let (opp, otg, rpp, rtg) = (
            median(ours_pp),
            median(ours_tg),
            median(ref_pp),
            median(ref_tg),
        );
        let mib = |b: f64| b / (1024.0 * 1024.0);
        println!("{}", file_name(&path));
        println!(
            "  {:<32} {opp:>9.1} {otg:>9.1} {:>6} | {ours_load:>9.2} {:>9.0}",
            "hearth",
            "",
            mib(ours_rss)
        );
        println!(
            "  {:<32} {rpp:>9.1} {rtg:>9.1} {:>6} | {ref_load:>9.2} {:>9.0}",
            "llama.cpp",
            "",
            mib(ref_rss)
        );
        println!(
            "  {:<32} {:>8.2}x {:>8.2}x {:>6} | {:>8.2}x {:>8.2}x   (load and RSS: lower is better)",
            "hearth / llama.cpp",
            opp / rpp,
            otg / rtg,
            "",
            ours_load / ref_load,
            ours_rss / ref_rss
        );
        let read = bytes_per_token(&path)?;
        let ceiling = bandwidth / read;
        println!(
            "  decode vs bandwidth ceiling ({:.0} MB a token, {ceiling:.1} tok/s): hearth {:.0}%, llama.cpp {:.0}%",
            read / 1e6,
            100.0 * otg / ceiling,
            100.0 * rtg / ceiling
        );
    }
    Ok(())
}
