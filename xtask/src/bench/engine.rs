//! `cargo xtask bench engine`: `hearth bench` (release build) on both test models, next to
//! llama.cpp on the same files, threads and token counts, run by the same script.
//!
//! A tok/s figure means little on a shared machine; the ratio to a reference measured
//! minutes apart on the same cores does. llama.cpp comes from the PyPI package
//! `llama-cpp-python` (`xtask/bench_ref.py`); without it only Hearth's numbers print.

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
}

#[allow(clippy::print_stdout)]
pub(crate) fn bench(args: &EngineArgs) -> Result<()> {
    exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), Into::into);
    let hearth = target.join("release").join("hearth");

    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut rows = Vec::new();
    for model in hearth_testkit::models::ALL {
        let path = fetch::fetch(&model)?;
        let mut cmd = Command::new(&hearth);
        cmd.arg("bench")
            .arg("-m")
            .arg(&path)
            .args(["--json", "--threads", &threads.to_string()])
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
        rows.push((model.file_name, ours, reference));
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
