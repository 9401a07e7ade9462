//! `hearth tokenize`: the token ids of a text, as JSON.

use std::io::Write;

use anyhow::Result;
use hearth_engine::Tokenizer;
use hearth_engine::gguf::GgufFile;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Model: a library id or a path to a .gguf file (only its tokenizer is read).
    #[arg(short, long, env = hearth_core::env::MODEL)]
    model: String,

    /// Do not prepend BOS even if the model asks for it.
    #[arg(long)]
    no_bos: bool,

    /// Spell out special-token text (`<|im_start|>`) instead of mapping it to its id.
    #[arg(long)]
    no_special: bool,

    /// The text to tokenize.
    text: String,
}

pub(crate) fn tokenize(args: &Args) -> Result<()> {
    let gguf = GgufFile::open(crate::args::models(false)?.resolve(&args.model)?)?;
    let tokenizer = Tokenizer::for_model(&gguf)?;
    let ids = tokenizer.encode(&args.text, !args.no_bos, !args.no_special)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &ids)?;
    writeln!(out)?;
    Ok(())
}
