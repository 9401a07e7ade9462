//! `hearth run`: one prompt, the answer streamed to stdout, stats to stderr.

use anyhow::Result;
use hearth_backend::Message;
use hearth_engine::Prompt;

use crate::args::{ModelArgs, SamplingArgs};
use crate::interrupt::Interrupt;
use crate::{stats, stream};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    sampling: SamplingArgs,

    /// System prompt.
    #[arg(long)]
    system: Option<String>,

    /// Send PROMPT as raw text, without the chat template.
    #[arg(long)]
    raw: bool,

    /// The prompt.
    prompt: String,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let (engine, path) = args.model.load()?;
    let interrupt = Interrupt::install()?;
    let prompt = if args.raw {
        Prompt::Text(args.prompt.clone())
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::system(system));
        }
        messages.push(Message::user(&args.prompt));
        Prompt::Chat(messages)
    };
    let request = args.sampling.request(prompt);

    let completion = stream::answer(&engine, request, &interrupt)?;
    stats::print(&completion, engine.info());
    let speed = (completion.stats.completion_tokens >= 4).then_some(completion.stats.decode_tok_s);
    crate::args::record_run(&path, &engine, speed);
    Ok(())
}
