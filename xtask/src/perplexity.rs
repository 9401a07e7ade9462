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
    /// KV cache type of both engines (default: each engine's own, f16 in both).
    #[arg(long, value_enum)]
    kv_type: Option<KvType>,
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
    if let Some(kv) = args.kv_type {
        kv.ensure_hearth_has_it(&hearth)?;
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    println!(
        "text {} | ctx {} | chunks {} | threads {threads} | KV cache {}",
        args.file.display(),
        args.ctx,
        args.chunks,
        KvType::describe(args.kv_type)
    );
    println!("| model | Hearth PPL | llama.cpp PPL | ratio |");
    println!("|---|---|---|---|");
    let mut failed = Vec::new();
    let run = Scoring {
        text: &args.file,
        ctx: args.ctx,
        chunks: args.chunks,
        kv_type: args.kv_type,
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

/// What one scoring run is: the text, the window, how many windows and the
/// KV cache type both engines keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scoring<'a> {
    pub(crate) text: &'a Path,
    pub(crate) ctx: usize,
    pub(crate) chunks: usize,
    /// `None`: neither engine is told (both keep an f16 cache by default).
    pub(crate) kv_type: Option<KvType>,
}

/// A KV cache type, as both engines name it: `hearth perplexity --kv-type X`
/// and `llama-perplexity -ctk X -ctv X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KvType {
    F32,
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}

impl KvType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
        }
    }

    /// For the table's header.
    pub(crate) fn describe(kv: Option<Self>) -> String {
        match kv {
            Some(kv) if kv == Self::Q8_0 => {
                format!("{} (llama.cpp: flash attention on)", kv.name())
            }
            Some(kv) => kv.name().to_owned(),
            None => "each engine's default (f16)".to_owned(),
        }
    }

    /// `llama-perplexity`'s flags: the type of both caches, and flash
    /// attention for a quantised one (llama.cpp needs it for a quantised V
    /// cache; `auto`, its default, may leave it off).
    fn llama_args(kv: Option<Self>) -> Vec<&'static str> {
        match kv {
            None => Vec::new(),
            Some(kv) => {
                let mut args = vec!["-ctk", kv.name(), "-ctv", kv.name()];
                if kv == Self::Q8_0 {
                    args.extend(["-fa", "on"]);
                }
                args
            }
        }
    }

    /// `hearth perplexity`'s flag.
    pub(crate) fn hearth_args(kv: Option<Self>) -> Vec<&'static str> {
        kv.map_or_else(Vec::new, |kv| vec!["--kv-type", kv.name()])
    }

    /// Fails early, and says so plainly, when this `hearth` does not take
    /// `--kv-type` yet (rather than one refused run per cell).
    pub(crate) fn ensure_hearth_has_it(self, hearth: &Path) -> Result<()> {
        let help = Command::new(hearth)
            .args(["perplexity", "--help"])
            .output()
            .context("cannot run hearth perplexity --help")?;
        if !String::from_utf8_lossy(&help.stdout).contains("--kv-type") {
            bail!(
                "this hearth's `perplexity` has no --kv-type; run without --kv-type {} \
                 (both engines then keep an f16 KV cache)",
                self.name()
            );
        }
        Ok(())
    }
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
        .args(KvType::hearth_args(run.kv_type))
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
    kv_type: Option<KvType>,
) -> Result<serde_json::Value> {
    Ok(hearth_against_measured(hearth, model, base, kv_type)?.0)
}

/// [`hearth_against`], and the peak resident memory of the `hearth` process
/// (see `fit.rs`).
pub(crate) fn hearth_against_measured(
    hearth: &Path,
    model: &Path,
    base: &Path,
    kv_type: Option<KvType>,
) -> Result<(serde_json::Value, Option<u64>)> {
    let (out, peak) = crate::fit::output_with_peak_rss(
        Command::new(hearth)
            .arg("perplexity")
            .arg("-m")
            .arg(model)
            .arg("--kl-divergence-base")
            .arg(base)
            .arg("--json")
            .args(KvType::hearth_args(kv_type)),
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
        .args(["-t", &threads.to_string()])
        .args(KvType::llama_args(run.kv_type));
    if let Some(path) = save_logits {
        command.arg("--kl-divergence-base").arg(path);
    }
    let out = command.output().context("cannot run llama-perplexity")?;
    // "Final estimate: PPL = 18.3746 +/- 1.38172"
    find_figure(&out.stderr, "Final estimate: PPL = ").with_context(|| {
        format!(
            "llama-perplexity gave no estimate for {}: {}",
            model.display(),
            last_error(&out.stderr)
        )
    })
}

/// What llama.cpp said last that looks like a reason it stopped (such as
/// "you need at least 32768 tokens ..." when the text is too short).
fn last_error(log: &[u8]) -> String {
    let log = String::from_utf8_lossy(log);
    log.lines()
        .rev()
        .find(|l| l.contains("error") || l.contains("need at least") || l.contains("failed"))
        .or_else(|| log.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("(it printed nothing)")
        .trim()
        .to_owned()
}

/// What `llama-perplexity --kl-divergence` says of a run against the
/// log-probabilities of another.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LlamaVersus {
    /// Mean KL divergence from the base.
    pub(crate) kld: f64,
    /// Share of positions (0–1) with the base's top token.
    pub(crate) same_top: f64,
    /// This run's perplexity.
    pub(crate) ppl: f64,
}

/// `llama-perplexity --kl-divergence` of `model` from the log-probabilities
/// in `base`, with `extra` arguments for this run (such as another
/// micro-batch size).
pub(crate) fn llama_versus(
    llama: &Path,
    model: &Path,
    base: &Path,
    run: Scoring<'_>,
    threads: usize,
    extra: &[&str],
) -> Result<LlamaVersus> {
    let out = Command::new(llama)
        .arg("-m")
        .arg(model)
        .arg("--kl-divergence-base")
        .arg(base)
        .arg("--kl-divergence")
        .args(["-c", &run.ctx.to_string()])
        .args(["-t", &threads.to_string()])
        .args(KvType::llama_args(run.kv_type))
        .args(extra)
        .output()
        .context("cannot run llama-perplexity")?;
    let figure = |label: &str| {
        find_figure(&out.stdout, label)
            .or_else(|| find_figure(&out.stderr, label))
            .with_context(|| {
                format!(
                    "llama-perplexity gave no \"{}\" for {}: {}",
                    label.trim_end_matches([':', ' ']),
                    model.display(),
                    last_error(&out.stderr)
                )
            })
    };
    Ok(LlamaVersus {
        // "Mean    KLD:   0.134705 ±   0.003327"
        kld: figure("Mean    KLD:")?,
        // "Same top p: 95.686 ± 0.901 %"
        same_top: figure("Same top p:")? / 100.0,
        // "Mean PPL(Q)                   : 299842312.366200 ± …"
        ppl: figure("Mean PPL(Q)")?,
    })
}

/// The number after `label` on the first line of `log` that has it.
pub(crate) fn find_figure(log: &[u8], label: &str) -> Option<f64> {
    String::from_utf8_lossy(log).lines().find_map(|line| {
        let rest = line.split(label).nth(1)?;
        // "Mean PPL(Q)      : 12.3" has the colon after padding.
        let rest = rest.trim_start().strip_prefix(':').unwrap_or(rest);
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::find_figure;

    /// Lines as llama-perplexity 0.3.x prints them in a KL-divergence run.
    const LOG: &[u8] = b"chunk PPL ln(PPL(Q)/PPL(base)) KL Divergence
Mean PPL(Q)                   : 299842312.366200 \xc2\xb1 52248443.342400
Mean PPL(Q)/PPL(base)         :  12.900095 \xc2\xb1   1.677365
Mean    KLD:   0.004864 \xc2\xb1   0.000084
Same top p: 95.686 \xc2\xb1 0.901 %
";

    #[test]
    fn figures_are_read_after_their_label_and_a_padded_colon() {
        assert_eq!(find_figure(LOG, "Mean PPL(Q)"), Some(299_842_312.366_2));
        assert_eq!(find_figure(LOG, "Mean    KLD:"), Some(0.004864));
        assert_eq!(find_figure(LOG, "Same top p:"), Some(95.686));
        assert_eq!(find_figure(LOG, "Final estimate: PPL = "), None);
    }
}
