//! `hearth perplexity`: how well a model predicts a text, scored as llama.cpp's
//! `llama-perplexity` scores it, so the two can be compared on the same file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use hearth_engine::{EngineError, PerplexityOptions};

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
    #[arg(short = 'f', long = "file")]
    file: PathBuf,

    /// Score at most this many windows.
    #[arg(long)]
    chunks: Option<usize>,

    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn perplexity(args: &Args) -> Result<()> {
    let text = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", args.file.display()))?;
    let window = args.model.ctx.unwrap_or(DEFAULT_WINDOW);
    let model = ModelArgs {
        ctx: Some(window),
        ..args.model.clone()
    };
    let (engine, path) = model.load()?;
    let interrupt = Interrupt::install()?;
    let options = PerplexityOptions {
        context: window,
        max_chunks: args.chunks,
    };
    noteln!("scoring {} with windows of {window} tokens", path.display());
    let cancel = interrupt.start();
    let result = engine.perplexity(&text, options, cancel, |progress| {
        note!("[{}]{:.4},", progress.chunk, progress.ppl);
    });
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
    }
    Ok(())
}
