//! `cargo xtask bench`: `hearth bench` (release build) on both test models.
//!
//! Numbers are only meaningful against a reference measured in the same run on
//! the same machine, so this prints ratios, never a bare time to compare with.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{cargo, exec, fetch, workspace_root};

#[derive(clap::Args)]
pub(crate) struct Args {
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
}

#[allow(clippy::print_stdout)]
pub(crate) fn bench(args: &Args) -> Result<()> {
    exec(cargo().args(["build", "--release", "--locked", "-p", "hearth-cli"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), Into::into);
    let hearth = target.join("release").join("hearth");

    println!(
        "{:<34} {:>12} {:>12} {:>9} {:>10}",
        "model", "prefill t/s", "decode t/s", "load s", "peak RSS"
    );
    for model in hearth_testkit::models::ALL {
        let path = fetch::fetch(&model)?;
        let mut cmd = Command::new(&hearth);
        cmd.arg("bench")
            .arg("-m")
            .arg(&path)
            .args(["--json", "--prompt-tokens", &args.prompt_tokens.to_string()])
            .args(["--gen-tokens", &args.gen_tokens.to_string()])
            .args(["--runs", &args.runs.to_string()]);
        if let Some(t) = args.threads {
            cmd.args(["--threads", &t.to_string()]);
        }
        let out = cmd.output().context("cannot run hearth bench")?;
        if !out.status.success() {
            anyhow::bail!(
                "hearth bench failed on {}: {}",
                model.file_name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let report: Value = serde_json::from_slice(&out.stdout).context("bad bench JSON")?;
        let num = |k: &str| report.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
        println!(
            "{:<34} {:>12.1} {:>12.1} {:>9.2} {:>7.0} MiB",
            model.file_name,
            num("prefill_tok_s"),
            num("decode_tok_s"),
            num("load_secs"),
            num("peak_rss_bytes") / (1024.0 * 1024.0),
        );
    }
    Ok(())
}
