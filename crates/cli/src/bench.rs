//! `hearth bench`: prefill and decode speed (median of several runs), load time and
//! peak resident memory. A benchmark, not a test: compare its numbers only with a
//! reference measured on the same machine at the same time (`cargo xtask bench`).

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::args::ModelArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,

    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,

    /// Tokens decoded after the prompt.
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,

    /// Measured runs (the median is reported), after one warm-up run.
    #[arg(long, default_value_t = 3)]
    runs: usize,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,

    /// Multiply with candle's quantised matmul instead of Hearth's kernels
    /// (the reference `cargo xtask bench` compares them with).
    #[arg(long)]
    candle_matmul: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    architecture: String,
    device: String,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    runs: usize,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    load_secs: f64,
    file_size: u64,
    peak_rss_bytes: Option<u64>,
}

pub(crate) fn bench(args: &Args) -> Result<()> {
    if args.runs == 0 || args.prompt_tokens == 0 || args.gen_tokens == 0 {
        bail!("--runs, --prompt-tokens and --gen-tokens must be at least 1");
    }
    let options = hearth_engine::EngineOptions {
        candle_matmul: args.candle_matmul,
        ..args.model.engine_options()
    };
    let path = args.model.path()?;
    let engine = hearth_engine::Engine::load(&path, options)?;
    // One warm-up run: first-touch page faults and lazy allocations are not speed.
    engine.bench(args.prompt_tokens, args.gen_tokens)?;
    let mut prefill = Vec::with_capacity(args.runs);
    let mut decode = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let run = engine.bench(args.prompt_tokens, args.gen_tokens)?;
        prefill.push(run.prefill_tok_s);
        decode.push(run.decode_tok_s);
    }
    let info = engine.info();
    let report = Report {
        model: path.display().to_string(),
        architecture: info.architecture.clone(),
        device: engine.device_name(),
        threads: hearth_engine::threads(),
        prompt_tokens: args.prompt_tokens,
        gen_tokens: args.gen_tokens,
        runs: args.runs,
        prefill_tok_s: median(&mut prefill),
        decode_tok_s: median(&mut decode),
        load_secs: engine.load_time().as_secs_f64(),
        file_size: info.file_size,
        peak_rss_bytes: peak_rss(),
    };

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "model        {} ({})",
            report.model, report.architecture
        )?;
        writeln!(
            out,
            "device       {} x {} threads",
            report.device, report.threads
        )?;
        writeln!(
            out,
            "prefill      {:.1} tok/s ({} tokens, median of {})",
            report.prefill_tok_s, report.prompt_tokens, report.runs
        )?;
        writeln!(
            out,
            "decode       {:.1} tok/s ({} tokens, median of {})",
            report.decode_tok_s, report.gen_tokens, report.runs
        )?;
        writeln!(out, "load         {:.2} s", report.load_secs)?;
        match report.peak_rss_bytes {
            Some(b) => writeln!(out, "peak RSS     {:.0} MiB", b as f64 / 1048576.0)?,
            None => writeln!(out, "peak RSS     unknown on this OS")?,
        }
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident set size of this process (Linux `VmHWM`).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
