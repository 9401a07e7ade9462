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

    /// Decode by greedy generation from the synthetic prompt (the path a
    /// chat answer takes) instead of a fixed token walk; implied by
    /// `--draft`, whose acceptance is then reported. Compare a `--draft`
    /// run with a `--generate` one.
    #[arg(long)]
    generate: bool,
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
    /// Tokens decoded in the median-speed run (generation may end early).
    decoded_tokens: usize,
    /// With a draft model: the share of its proposed tokens kept, over all
    /// measured runs.
    draft_acceptance: Option<f64>,
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
        ..args.model.engine_options()?
    };
    let path = args.model.path()?;
    let engine = hearth_engine::Engine::load(&path, options)?;
    let generate = args.generate || args.model.draft.is_some();
    let once = || {
        if generate {
            engine.bench_generate(args.prompt_tokens, args.gen_tokens)
        } else {
            engine.bench(args.prompt_tokens, args.gen_tokens)
        }
    };
    // One warm-up run: first-touch page faults and lazy allocations are not speed.
    once()?;
    let mut prefill = Vec::with_capacity(args.runs);
    let mut decode = Vec::with_capacity(args.runs);
    let (mut drafted, mut accepted, mut decoded) = (0, 0, Vec::new());
    for _ in 0..args.runs {
        let run = once()?;
        prefill.push(run.prefill_tok_s);
        decode.push(run.decode_tok_s);
        decoded.push((run.decode_tok_s, run.gen_tokens));
        drafted += run.draft_tokens;
        accepted += run.draft_accepted;
    }
    decoded.sort_by(|a, b| a.0.total_cmp(&b.0));
    let decoded_tokens = decoded[decoded.len() / 2].1;
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
        decoded_tokens,
        draft_acceptance: args
            .model
            .draft
            .is_some()
            .then(|| accepted as f64 / drafted.max(1) as f64),
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
            "decode       {:.1} tok/s ({} tokens, median of {}{})",
            report.decode_tok_s,
            report.decoded_tokens,
            report.runs,
            if generate { ", greedy generation" } else { "" }
        )?;
        if let Some(rate) = report.draft_acceptance {
            writeln!(
                out,
                "draft        {:.1}% of {} drafted tokens accepted ({} per step)",
                rate * 100.0,
                drafted,
                args.model.draft_tokens
            )?;
        }
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
