//! `hearth`: private, local-first AI chat from the terminal.
//!
//! Every subcommand lives in its own module; this file only parses arguments and
//! dispatches. Answers go to stdout, statistics and diagnostics to stderr, so
//! `hearth run ... > answer.txt` captures just the answer; `out.rs` is the one
//! place that writes to the terminal.

mod args;
mod bench;
mod chat;
mod chat_tools;
mod cloud;
mod docs;
mod history;
mod interrupt;
mod keys;
mod mcp;
mod models;
mod network;
mod open;
mod out;
mod perplexity;
mod route;
mod run;
mod serve;
mod stats;
mod thinking;
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
    /// Serve the OpenAI-compatible API on 127.0.0.1 (Ctrl-C stops).
    Serve(serve::Args),
    /// Print the token ids of a text as JSON.
    Tokenize(tokenize::Args),
    /// Measure prefill and decode speed, load time and peak memory.
    Bench(bench::Args),
    /// The perplexity of a model on a text file, computed as llama.cpp's llama-perplexity does.
    Perplexity(perplexity::Args),
    /// Search Hugging Face for GGUF models.
    Search(models::SearchArgs),
    /// List a Hugging Face repo's GGUF files with their fit on this machine.
    Files(models::FilesArgs),
    /// Download a model into the library (Ctrl-C pauses; run again to resume).
    Pull(models::PullArgs),
    /// The models in the library (and found in other apps' folders).
    #[command(alias = "ls")]
    List(models::ListArgs),
    /// Remove a model from the library (deletes only files Hearth downloaded or copied).
    Rm(models::RmArgs),
    /// Add a local .gguf file to the library.
    Import(models::ImportArgs),
    /// How a library model loads (context, KV cache type, device): show, or set with flags.
    ModelSettings(models::SettingsArgs),
    /// Curated chat models, with the one recommended for this machine.
    Catalog(models::CatalogArgs),
    /// Check a Hugging Face token (read from stdin) and keep it in the OS keychain, for gated and private models.
    Login,
    /// Remove the Hugging Face token from the OS keychain.
    Logout,
    /// Cloud providers: add (key from stdin or env), list, test, models, rm, price.
    #[command(subcommand_required = true)]
    Provider(cloud::ProviderArgs),
    /// Where API keys are kept (the OS keychain or the encrypted database), and the default.
    Keys(keys::Args),
    /// How each backend has been doing: TTFT and speed percentiles, errors, fallbacks.
    Stats(cloud::StatsArgs),
    /// Every connection Hearth made (`log`), the offline switch, the proxy and trusted CAs.
    #[command(subcommand_required = true)]
    Network(network::NetworkArgs),
    /// Daily and monthly spending caps for cloud models.
    Budget(cloud::BudgetArgs),
    /// When a local model counts as too slow, so a conversation that allows cloud falls back.
    Router(cloud::RouterArgs),
    /// Replace e-mail addresses, numbers and your own words before text goes to a cloud model.
    Redaction(cloud::RedactionArgs),
    /// MCP servers: add, list, rm, import (Claude Desktop), tools, call.
    #[command(subcommand_required = true)]
    Mcp(mcp::McpArgs),
    /// Print sentence embeddings of texts as JSON.
    Embed(docs::EmbedArgs),
    /// Document collections: add, list, rm, search.
    #[command(subcommand_required = true)]
    Docs(docs::DocsArgs),
}

fn main() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        // rmcp logs its own ERROR line for a failed MCP connection, which
        // `hearth mcp` already explains.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rmcp=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let outcome = match Cli::parse().command {
        Command::Chat(args) => chat::chat(&args),
        Command::History(args) => history::history(&args),
        Command::Run(args) => run::run(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Tokenize(args) => tokenize::tokenize(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Perplexity(args) => perplexity::perplexity(&args),
        Command::Search(args) => models::search(&args),
        Command::Files(args) => models::files(&args),
        Command::Pull(args) => models::pull(&args),
        Command::List(args) => models::list(&args),
        Command::Rm(args) => models::rm(&args),
        Command::Import(args) => models::import(&args),
        Command::ModelSettings(args) => models::settings(&args),
        Command::Catalog(args) => models::catalog(&args),
        Command::Login => models::login(),
        Command::Logout => models::logout(),
        Command::Provider(args) => cloud::provider(&args),
        Command::Keys(args) => keys::keys(&args),
        Command::Stats(args) => cloud::stats(&args),
        Command::Network(args) => network::network(&args),
        Command::Budget(args) => cloud::budget(&args),
        Command::Router(args) => cloud::router(&args),
        Command::Redaction(args) => cloud::redaction(&args),
        Command::Mcp(args) => mcp::mcp(&args),
        Command::Embed(args) => docs::embed(&args),
        Command::Docs(args) => docs::docs(&args),
    };
    out::quiet_on_closed_stdout(outcome)
}
