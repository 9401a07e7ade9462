//! Cloud providers and what Hearth sends them: `hearth provider`, `hearth
//! stats`, `hearth budget`, `hearth router`, `hearth redaction`.
//!
//! API keys are read from stdin (hidden on a terminal) or from an environment
//! variable, never from the command line, where other users could see them.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use hearth_core::hearth_providers::{BreakerState, ProviderKind};
use hearth_core::redact::RedactionSettings;
use hearth_core::{App, Budget, KeySource, Price, ProviderKey, SecretStorage, provider_key_var};
use hearth_secrets::SecretString;
use tokio::runtime::Runtime;

use crate::open;
use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct ProviderArgs {
    #[command(subcommand)]
    command: ProviderCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ProviderCommand {
    /// Add a provider (or replace its settings). The key is read from stdin or
    /// from an environment variable, never from the command line, and kept in
    /// the OS keychain, the encrypted database (`--store db`), or not at all
    /// (`--store env`: read from the variable each session).
    Add {
        /// openai, anthropic, gemini, or compat (any OpenAI-compatible server:
        /// Ollama, LM Studio, llama.cpp server, vLLM, OpenRouter, Groq, …).
        kind: ProviderKind,
        /// The name conversations use (`NAME:MODEL`) [default: the kind].
        #[arg(long)]
        name: Option<String>,
        /// Base URL, e.g. http://localhost:11434/v1 (required for compat).
        #[arg(long)]
        base_url: Option<String>,
        /// Read the key from this environment variable [default:
        /// OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY].
        #[arg(long)]
        key_env: Option<String>,
        /// Where to keep the key: keychain (the OS keychain), db (Hearth's
        /// encrypted database, as safe as the history: for machines without a
        /// keychain) or env (nowhere: read from the variable each session)
        /// [default: as `hearth keys` says, the keychain unless changed].
        #[arg(long, value_name = "keychain|db|env", conflicts_with = "no_key")]
        store: Option<StoreChoice>,
        /// Store no key (servers that need none).
        #[arg(long)]
        no_key: bool,
        /// Send the key even over plain http:// to another machine (it crosses
        /// the network unencrypted: only on a network you trust end to end).
        #[arg(long)]
        allow_http: bool,
        /// The context window of its models, in tokens, in place of Hearth's
        /// table of known models (e.g. for a compat server's model).
        #[arg(long, value_name = "TOKENS")]
        context_window: Option<usize>,
    },
    /// The configured providers, keys masked, with their circuit breakers and
    /// context windows.
    #[command(alias = "ls")]
    List {
        /// As JSON (the keys still masked).
        #[arg(long)]
        json: bool,
    },
    /// Show or set the context window of a provider's models: a number of
    /// tokens, or `none` for Hearth's table of known models. Conversations are
    /// fitted into it, oldest turns left out first.
    Window {
        name: String,
        #[arg(value_name = "TOKENS|none")]
        tokens: Option<String>,
    },
    /// Check a provider's URL and key with one call (its model list).
    Test { name: String },
    /// The models a provider offers.
    Models { name: String },
    /// Remove a provider and its key.
    Rm { name: String },
    /// Set what a model costs, in US dollars per million tokens.
    Price {
        /// PROVIDER:MODEL
        model: String,
        input: f64,
        output: f64,
    },
}

/// A provider's context window as `provider list` and `window` show it.
fn window_text(tokens: Option<usize>) -> String {
    match tokens {
        Some(tokens) => format!("window {tokens} tokens"),
        None => "window per model".to_owned(),
    }
}

pub(crate) fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn app() -> Result<App> {
    open::app(hearth_engine::EngineOptions::default())
}

/// Where `provider add --store` keeps the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StoreChoice {
    Keychain,
    Db,
    Env,
}

pub(crate) fn provider(args: &ProviderArgs) -> Result<()> {
    match &args.command {
        ProviderCommand::Add {
            kind,
            name,
            base_url,
            key_env,
            store,
            no_key,
            allow_http,
            context_window,
        } => {
            let name = name.clone().unwrap_or_else(|| kind.as_str().to_owned());
            let key = if *no_key {
                ProviderKey::None
            } else if *store == Some(StoreChoice::Env) {
                let Some(var) = key_env.as_deref().or(provider_key_var(*kind)) else {
                    bail!("name the variable that holds the key with --key-env VAR");
                };
                ProviderKey::Environment(var.to_owned())
            } else {
                let storage = match store {
                    Some(StoreChoice::Db) => Some(SecretStorage::Database),
                    Some(StoreChoice::Keychain) => Some(SecretStorage::Keychain),
                    _ => None,
                };
                match read_key(*kind, key_env.as_deref())? {
                    Some(key) => ProviderKey::Store(key, storage),
                    None => ProviderKey::None,
                }
            };
            let app = app()?;
            let mut info =
                app.add_provider_with(&name, *kind, base_url.clone(), key, *allow_http)?;
            if context_window.is_some() {
                info = app.set_provider_context_window(&name, *context_window)?;
            }
            noteln!(
                "added {} ({}, {}){}; check it with `hearth provider test {}`",
                info.name,
                kind.label(),
                info.base_url,
                info.key
                    .map(|k| format!(", key {k} {}", info.key_source.describe()))
                    .unwrap_or_default(),
                info.name
            );
        }
        ProviderCommand::List { json: true } => {
            let providers = app()?.providers_view()?;
            outln!("{}", serde_json::to_string_pretty(&providers)?)?;
        }
        ProviderCommand::Window { name, tokens } => {
            let app = app()?;
            let info = match tokens.as_deref().map(str::trim) {
                None => app
                    .providers()?
                    .into_iter()
                    .find(|p| &p.name == name)
                    .with_context(|| format!("no provider named {name:?}"))?,
                Some(text) if text.eq_ignore_ascii_case("none") => {
                    app.set_provider_context_window(name, None)?
                }
                Some(text) => {
                    let tokens: usize = text.parse().with_context(|| {
                        format!("{text:?} is not a number of tokens (or `none`)")
                    })?;
                    app.set_provider_context_window(name, Some(tokens))?
                }
            };
            outln!("{name}: {}", window_text(info.context_window))?;
        }
        ProviderCommand::List { json: false } => {
            let providers = app()?.providers()?;
            if providers.is_empty() {
                noteln!("no providers; add one with `hearth provider add openai`");
            }
            for p in providers {
                let key = match (&p.key, &p.key_source) {
                    (_, KeySource::None) => "no key".to_owned(),
                    (Some(mask), source) => format!("key {mask} {}", source.describe()),
                    (None, source) => format!("key {}", source.describe()),
                };
                outln!(
                    "{:<14} {:<10} {:<40} {:<8} {:<48} {:<24} {}",
                    p.name,
                    p.kind.as_str(),
                    p.base_url,
                    if p.configured { "" } else { "session" },
                    key,
                    window_text(p.context_window),
                    breaker_text(&p.breaker)
                )?;
            }
        }
        ProviderCommand::Test { name } => {
            let app = app()?;
            let models = runtime()?.block_on(app.test_provider(name))?;
            outln!("{name}: connected, {models} models available")?;
        }
        ProviderCommand::Models { name } => {
            let app = app()?;
            for model in runtime()?.block_on(app.provider_models(name))? {
                match model.name {
                    Some(label) if label != model.id => outln!("{name}:{}\t{label}", model.id)?,
                    _ => outln!("{name}:{}", model.id)?,
                }
            }
        }
        ProviderCommand::Rm { name } => {
            if app()?.remove_provider(name)? {
                noteln!("removed {name} and its key");
            } else {
                bail!("no provider named {name:?}");
            }
        }
        ProviderCommand::Price {
            model,
            input,
            output,
        } => {
            let Some((provider, model)) = model.split_once(':') else {
                bail!("name the model as PROVIDER:MODEL, e.g. openai:gpt-4o-mini");
            };
            app()?.set_price(
                provider,
                model,
                Some(Price {
                    input: *input,
                    output: *output,
                }),
            )?;
            noteln!("{provider}:{model} costs ${input}/M input and ${output}/M output tokens");
        }
    }
    Ok(())
}

/// The key from the named (or the kind's usual) environment variable, else
/// from stdin.
fn read_key(kind: ProviderKind, key_env: Option<&str>) -> Result<Option<SecretString>> {
    if let Some(var) = key_env.or(provider_key_var(kind)) {
        if let Some(value) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
            noteln!("using the key in {var}");
            return Ok(Some(SecretString::from(value.trim().to_owned())));
        }
        if key_env.is_some() {
            bail!("{var} is not set");
        }
    }
    let key = if std::io::stdin().is_terminal() {
        let optional = if kind == ProviderKind::Compat {
            " (empty for none)"
        } else {
            ""
        };
        rpassword::prompt_password(format!(
            "{} API key{optional} (input hidden): ",
            kind.label()
        ))
        .context("cannot read the key")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the key from stdin")?;
        text
    };
    let key = key.trim();
    Ok((!key.is_empty()).then(|| SecretString::from(key.to_owned())))
}

fn breaker_text(state: &BreakerState) -> String {
    match state {
        BreakerState::Closed { failures: 0 } => "ok".into(),
        BreakerState::Closed { failures } => format!("ok ({failures} recent failures)"),
        BreakerState::Open { retry_in } => {
            format!("paused after failures, retry in {} s", retry_in.as_secs())
        }
        BreakerState::HalfOpen => "probing".into(),
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct StatsArgs {
    /// Only the last N days.
    #[arg(long)]
    days: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `hearth stats`: per backend TTFT and speed percentiles, errors, fallbacks.
pub(crate) fn stats(args: &StatsArgs) -> Result<()> {
    let since = args
        .days
        .map(|d| hearth_store::now() - i64::from(d) * 86_400_000);
    let stats = app()?.stats(since)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&stats)?)?;
        return Ok(());
    }
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    let tok = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    outln!(
        "{:<28} {:>5} {:>6} {:>9} {:>9} {:>7} {:>7} {:>5} {:>5} {:>9}  errors",
        "backend:model",
        "reqs",
        "err%",
        "ttft p50",
        "ttft p95",
        "tok/s50",
        "tok/s95",
        "fallb",
        "retry",
        "cost $"
    )?;
    for b in &stats.backends {
        let errors: Vec<String> = b
            .errors_by_kind
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        outln!(
            "{:<28} {:>5} {:>6.1} {:>9} {:>9} {:>7} {:>7} {:>5} {:>5} {:>9.4}  {}",
            format!("{}:{}", b.backend, b.model),
            b.requests,
            100.0 * b.errors as f64 / b.requests.max(1) as f64,
            ms(b.ttft_p50_ms),
            ms(b.ttft_p95_ms),
            tok(b.tok_s_p50),
            tok(b.tok_s_p95),
            b.fallbacks,
            b.retries,
            b.cost_usd,
            errors.join(", ")
        )?;
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub(crate) struct BudgetArgs {
    /// Daily cap in US dollars (0 blocks all paid requests).
    #[arg(long)]
    daily: Option<f64>,
    /// Monthly cap in US dollars.
    #[arg(long)]
    monthly: Option<f64>,
    /// Remove both caps.
    #[arg(long, conflicts_with_all = ["daily", "monthly"])]
    clear: bool,
}

/// `hearth budget`: show or set the spending caps.
pub(crate) fn budget(args: &BudgetArgs) -> Result<()> {
    let app = app()?;
    let mut budget = app.budget()?;
    if args.clear {
        budget = Budget::default();
    }
    if args.daily.is_some() {
        budget.daily_usd = args.daily;
    }
    if args.monthly.is_some() {
        budget.monthly_usd = args.monthly;
    }
    if args.clear || args.daily.is_some() || args.monthly.is_some() {
        app.set_budget(budget)?;
    }
    let cap = |c: Option<f64>| c.map_or("none".into(), |c| format!("${c:.2}"));
    outln!(
        "daily {} · monthly {}",
        cap(budget.daily_usd),
        cap(budget.monthly_usd)
    )?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub(crate) struct RouterArgs {
    /// Fall back (where a conversation allows cloud) when the local model's
    /// measured decode speed is below this many tokens per second.
    #[arg(long, value_name = "TOK_S")]
    min_speed: Option<f64>,
    /// No minimum speed.
    #[arg(long, conflicts_with = "min_speed")]
    no_min_speed: bool,
}

/// `hearth router`: show or set the router's minimum local speed.
pub(crate) fn router(args: &RouterArgs) -> Result<()> {
    let app = app()?;
    if args.no_min_speed {
        app.set_min_local_speed(None)?;
    } else if let Some(speed) = args.min_speed {
        app.set_min_local_speed(Some(speed))?;
    }
    match app.min_local_speed()? {
        Some(speed) => outln!(
            "local models measured below {speed:.1} tokens/s fall back where a conversation allows cloud"
        )?,
        None => outln!("no minimum local speed")?,
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub(crate) struct RedactionArgs {
    /// on or off.
    #[arg(value_parser = ["on", "off"])]
    state: Option<String>,
    /// A word or name always replaced (repeatable; adds to the list).
    #[arg(long = "word")]
    words: Vec<String>,
    /// Empty the word list.
    #[arg(long)]
    clear_words: bool,
}

/// `hearth redaction`: what is replaced before text goes to a cloud provider.
pub(crate) fn redaction(args: &RedactionArgs) -> Result<()> {
    let app = app()?;
    let mut settings: RedactionSettings = app.redaction()?;
    if let Some(state) = &args.state {
        settings.enabled = state == "on";
    }
    if args.clear_words {
        settings.words.clear();
    }
    settings.words.extend(args.words.iter().cloned());
    app.set_redaction(&settings)?;
    outln!(
        "redaction {}: e-mail addresses, phone, card and IBAN numbers{}",
        if settings.enabled { "on" } else { "off" },
        if settings.words.is_empty() {
            String::new()
        } else {
            format!(", and {} word(s) of yours", settings.words.len())
        }
    )?;
    Ok(())
}
