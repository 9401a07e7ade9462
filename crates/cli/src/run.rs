//! `hearth run`: one prompt, the answer streamed to stdout, stats to stderr.
//!
//! A local model is run directly. A cloud model (`-m PROVIDER:MODEL`) or a
//! `--policy` goes through the router like a chat turn, and the exchange is
//! kept in the history (it records which backend answered, and why).

use std::io::Write;

use anyhow::{Context, Result};
use hearth_backend::{BackendId, Message};
use hearth_core::{App, ChatEvent, TurnOptions};
use hearth_engine::{OutputFormat, Prompt};
use hearth_store::NewConversation;

use crate::args::{ModelArgs, SamplingArgs};
use crate::interrupt::Interrupt;
use crate::route::{self, RouteArgs};
use crate::{open, stats, stream};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    sampling: SamplingArgs,

    /// System prompt.
    #[arg(long)]
    system: Option<String>,

    /// Send PROMPT as raw text, without the chat template (local models only).
    #[arg(long, conflicts_with_all = ["policy", "fallback"])]
    raw: bool,

    /// Answer with one JSON object, enforced while sampling (local models only).
    #[arg(long, conflicts_with_all = ["policy", "fallback"])]
    json: bool,

    #[command(flatten)]
    route: RouteArgs,

    /// The prompt.
    prompt: String,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let routed = args.route.policy.is_some() || !args.route.fallback.is_empty();
    let maybe_cloud = args
        .model
        .model
        .as_deref()
        .and_then(BackendId::parse)
        .is_some();
    if !args.raw && (routed || maybe_cloud) {
        let app = open::app(args.model.engine_options())?;
        if routed || route::cloud_model(&app, args.model.model.as_deref())?.is_some() {
            anyhow::ensure!(
                !args.json,
                "--json is for local models (cloud models get JSON mode through `hearth serve`)"
            );
            return run_routed(&app, args);
        }
    }
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
    let mut request = args.sampling.request(prompt);
    if args.json {
        request.format = OutputFormat::JsonObject;
    }

    let completion = stream::answer(&engine, request, &interrupt)?;
    stats::print(&completion, engine.info());
    let speed = (completion.stats.completion_tokens >= 4).then_some(completion.stats.decode_tok_s);
    crate::args::record_run(&path, &engine, speed);
    Ok(())
}

/// One turn through the router, kept as a conversation.
#[allow(clippy::print_stderr)]
fn run_routed(app: &App, args: &Args) -> Result<()> {
    let (backend, model) = route::backend_and_model(app, &args.model)?;
    let conv = app.store().create_conversation(&NewConversation {
        privacy: args.route.policy(backend.is_some())?,
        backend,
        model,
        system_prompt: args.system.clone(),
        sampling: crate::chat::sampling(&args.sampling),
        ..NewConversation::default()
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let interrupt = Interrupt::install()?;
    let turn = route::with_consent(|consent| {
        let options = TurnOptions {
            max_tokens: args.sampling.max_tokens,
            stop: args.sampling.stop.clone(),
            consent,
        };
        let cancel = interrupt.start();
        let result =
            runtime.block_on(app.send(&conv.id, &args.prompt, &options, cancel, |event| {
                if let ChatEvent::Token { text } = event {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                }
            }));
        interrupt.finish();
        Ok(result?)
    });
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(b"\n").and_then(|()| out.flush());
    if turn.is_err() && app.store().active_path(&conv.id)?.is_empty() {
        // Refused before anything was stored: leave no empty conversation.
        app.store().delete_conversation(&conv.id)?;
    }
    let turn = turn?;
    let answer = &turn.answer;
    let by = match (&answer.backend, &answer.model) {
        (Some(backend), Some(model)) if backend != hearth_core::LOCAL_BACKEND => {
            format!("{backend}:{model}")
        }
        (_, Some(model)) => format!("local {model}"),
        _ => "local model".into(),
    };
    match &answer.fallback_reason {
        Some(reason) => eprintln!("answered by {by} because {reason}"),
        None => eprintln!("answered by {by}"),
    }
    let m = &answer.metrics;
    eprintln!(
        "{} tokens in, {} out · first token {} ms · {} · conversation {}",
        m.tokens_in.unwrap_or(0),
        m.tokens_out.unwrap_or(0),
        m.ttft_ms.map_or("-".into(), |t| format!("{t:.0}")),
        m.cost_usd
            .map_or("cost unknown".into(), |c| format!("${c:.6}")),
        conv.id
    );
    Ok(())
}
