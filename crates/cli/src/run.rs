//! `hearth run`: one prompt, the answer streamed to stdout, stats to stderr.
//!
//! A local model answers through hearth-core's turn path without opening the
//! history (nothing is kept). A cloud model (`-m PROVIDER:MODEL`) or a
//! `--policy` goes through the router like a chat turn, and the exchange is
//! kept in the history (it records which backend answered, and why).

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use hearth_backend::{BackendId, Message, PromptMode, TokenLogprob};
use hearth_core::{App, ChatEvent, LocalBackend, TurnOptions};
use hearth_store::NewConversation;

use crate::args::{ModelArgs, SamplingArgs};
use crate::interrupt::Interrupt;
use crate::out::noteln;
use crate::route::{self, RouteArgs};
use crate::stats;

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

    /// Print each generated token's log-probability and its N most likely
    /// alternatives (0-20) to stderr after the answer, one JSON line per token
    /// (local models only).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=20),
          conflicts_with_all = ["policy", "fallback"])]
    logprobs: Option<u8>,

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
        let app = args.model.app()?;
        if routed || route::cloud_model(&app, args.model.model.as_deref())?.is_some() {
            anyhow::ensure!(
                !args.json,
                "--json is for local models (cloud models get JSON mode through `hearth serve`)"
            );
            anyhow::ensure!(
                args.logprobs.is_none(),
                "--logprobs is for local models: Hearth computes them from its own engine"
            );
            return run_routed(&app, args);
        }
    }
    let (engine, path) = args.model.load()?;
    let engine = Arc::new(engine);
    let interrupt = Interrupt::install()?;
    let (messages, mode) = if args.raw {
        (vec![Message::user(&args.prompt)], PromptMode::Text)
    } else {
        let system = args.system.iter().map(Message::system);
        let messages = system.chain([Message::user(&args.prompt)]).collect();
        (messages, PromptMode::Chat)
    };
    let mut request = args.sampling.request(messages, mode);
    request.json = args.json;
    request.logprobs = args.logprobs;

    let name = engine.info().name.clone().unwrap_or_default();
    let backend = LocalBackend::new(Arc::clone(&engine), name);
    let answer = stream_answer(&backend, request, &interrupt)?;
    if let Some(tokens) = &answer.completion.logprobs {
        print_logprobs(tokens);
    }
    stats::print(&answer, engine.info());
    let speed = answer
        .completion
        .engine
        .as_ref()
        .map(|e| e.decode_tok_s)
        .filter(|_| {
            answer
                .completion
                .usage
                .is_some_and(|u| u.output_tokens >= 4)
        });
    crate::args::record_run(&path, &engine, speed);
    Ok(())
}

/// Answers `request` with the local model, writing each piece of text to
/// stdout as it arrives. Ctrl-C ends the answer early (stop reason
/// "cancelled"); what was written is kept.
fn stream_answer(
    backend: &LocalBackend,
    request: hearth_backend::ChatRequest,
    interrupt: &Interrupt,
) -> Result<hearth_core::Answer> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cancel = interrupt.start();
    let mut write_error = None;
    let result = runtime.block_on(hearth_core::answer(backend, request, cancel, |text| {
        let mut out = std::io::stdout();
        if write_error.is_none()
            && let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        {
            write_error = Some(e);
        }
    }));
    interrupt.finish();
    let answer = result?;
    writeln!(std::io::stdout())?;
    match write_error {
        Some(e) => Err(e.into()),
        None => Ok(answer),
    }
}

/// One JSON line per generated token on stderr, for people and scripts alike:
/// `{"token": "L", "logprob": -1.8953, "top": [["L", -1.8953], ["The", -1.9309]]}`.
fn print_logprobs(tokens: &[TokenLogprob]) {
    for t in tokens {
        let top: Vec<(&str, f32)> = t
            .top
            .iter()
            .map(|a| (a.token.as_str(), a.logprob))
            .collect();
        let line = serde_json::json!({"token": t.token, "logprob": t.logprob, "top": top});
        noteln!("{line}");
    }
}

/// One turn through the router, kept as a conversation.
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
            ..TurnOptions::default()
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
        Some(reason) => noteln!("answered by {by} because {reason}"),
        None => noteln!("answered by {by}"),
    }
    let m = &answer.metrics;
    noteln!(
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
