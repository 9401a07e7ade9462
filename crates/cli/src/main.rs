//! `hearth`: private, local-first AI chat from the terminal.
//!
//! Every subcommand lives in its own module; this file only parses arguments and
//! dispatches. Answers go to stdout, statistics and diagnostics to stderr, so
//! `hearth run ... > answer.txt` captures just the answer.

mod args;
mod bench;
mod chat;
mod history;
mod interrupt;
mod open;
mod run;
mod stats;
mod stream;
mod tokenize;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Environment variable naming the log filter (tracing `EnvFilter` syntax).
const LOG_ENV: &str = hearth_core::env::LOG;

#[derive(Parser)]
#[command(name = "hearth", version, about = "Private, local-first AI chat")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat interactively with a model; every turn is kept in the history.
    Chat(chat::Args),
    /// Saved conversations: list, show, search, export, import, rm.
    #[command(subcommand_required = true)]
    History(history::Args),
    /// Answer one prompt and exit.
    Run(run::Args),
    /// Print the token ids of a text as JSON.
    Tokenize(tokenize::Args),
    /// Measure prefill and decode speed, load time and peak memory.
    Bench(bench::Args),
}

fn main() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    match Cli::parse().command {
        Command::Chat(args) => chat::chat(&args),
        Command::History(args) => history::history(&args),
        Command::Run(args) => run::run(&args),
        Command::Tokenize(args) => tokenize::tokenize(&args),
        Command::Bench(args) => bench::bench(&args),
    }
}
