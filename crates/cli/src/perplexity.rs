//! `hearth perplexity`: how well a model predicts a text, scored as llama.cpp's
//! `llama-perplexity` scores it, so the two can be compared on the same file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hearth_engine::{CONFIDENT_MARGIN, EngineError, LlamaLogits, PerplexityOptions};

use crate::args::ModelArgs;
use crate::interrupt::Interrupt;
use crate::out::{note, noteln, outln};

/// llama.cpp's default window for perplexity.
const DEFAULT_WINDOW: usize = 512;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The model, and `--ctx`: the window length in tokens (default 512, as llama.cpp).
    #[command(flatten)]
    model: ModelArgs,

    /// The text to score (UTF-8).
    #[arg(
        short = 'f',
        long = "file",
        required_unless_present = "kl_divergence_base",
        conflicts_with = "kl_divergence_base"
    )]
    file: Option<PathBuf>,

    /// Score llama.cpp's tokens from the file `llama-perplexity
    /// --kl-divergence-base FILE` wrote, and compare each position with its
    /// log-probabilities: top-1 agreement, KL divergence, both perplexities.
    #[arg(long, value_name = "FILE")]
    kl_divergence_base: Option<PathBuf>,

    /// Score at most this many windows.
    #[arg(long)]
    chunks: Option<usize>,

    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What is scored: a text, or llama.cpp's tokens and log-probabilities.
enum Input {
    Text(String),
    Llama(LlamaLogits),
}

pub(crate) fn perplexity(args: &Args) -> Result<()> {
    let input = match (&args.kl_divergence_base, &args.file) {
        (Some(base), _) => Input::Llama(LlamaLogits::open(base)?),
        (None, Some(file)) => {
            let text =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let text = String::from_utf8(text)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", file.display()))?;
            Input::Text(text)
        }
        (None, None) => anyhow::bail!("give a text with -f FILE, or --kl-divergence-base FILE"),
    };
    let window = match &input {
        Input::Llama(base) => {
            if let Some(ctx) = args.model.ctx.filter(|&c| c != base.context()) {
                anyhow::bail!(
                    "llama.cpp scored windows of {} tokens; --ctx {ctx} cannot be compared with them",
                    base.context()
                );
            }
            base.context()
        }
        Input::Text(_) => args.model.ctx.unwrap_or(DEFAULT_WINDOW),
    };
    let model = ModelArgs {
        ctx: Some(window),
        ..args.model.clone()
    };
    let (engine, path) = model.load()?;
    let interrupt = Interrupt::install()?;
    noteln!("scoring {} with windows of {window} tokens", path.display());
    let cancel = interrupt.start();
    let progress = |progress: hearth_engine::ChunkScored| {
        note!("[{}]{:.4},", progress.chunk, progress.ppl);
    };
    let result = match input {
        Input::Text(text) => {
            let options = PerplexityOptions {
                context: window,
                max_chunks: args.chunks,
            };
            engine.perplexity(&text, options, cancel, progress)
        }
        Input::Llama(base) => engine.perplexity_against(base, args.chunks, cancel, progress),
    };
    interrupt.finish();
    noteln!();
    let score = match result {
        Ok(score) => score,
        Err(EngineError::Cancelled) => anyhow::bail!("cancelled"),
        Err(e) => return Err(e.into()),
    };
    if args.json {
        outln!("{}", serde_json::to_string(&score)?)?;
    } else {
        outln!(
            "PPL = {:.4} +/- {:.5} ({} tokens scored in {} windows of {}; the text is {} tokens)",
            score.ppl,
            score.ppl_stderr,
            score.scored,
            score.chunks,
            score.context,
            score.tokens
        )?;
        if let Some(versus) = &score.versus_llama {
            let divergence = match (versus.kld_mean, versus.kld_max) {
                (Some(mean), Some(max)) => format!("; KL divergence mean {mean:.6}, max {max:.6}"),
                _ => String::new(),
            };
            outln!(
                "versus llama.cpp: the same top token at {}/{} positions, {}/{} where llama.cpp's lead exceeds {} nats{divergence}",
                versus.same_top1,
                versus.positions,
                versus.confident_same_top1,
                versus.confident,
                CONFIDENT_MARGIN,
            )?;
        }
    }
    Ok(())
}
