//! The model library from the command line: `search`, `files`, `pull`, `list`,
//! `rm`, `import`, `catalog`, `login`, `logout`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hearth_core::hearth_hub::{
    DownloadControl, DownloadEvent, DownloadOptions, FitEstimate, HubError, RECOMMEND_CONTEXT,
    SearchSort, Source,
};
use hearth_core::{CoreError, LoadSettings, Login, PullSpec};
use hearth_engine::{DevicePreference, EngineOptions, KvType};
use hearth_secrets::SecretString;
use serde_json::json;

use crate::args::models;
use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct SearchArgs {
    /// Words to look for in repository names.
    query: String,
    /// Order: downloads, recent or likes.
    #[arg(long, default_value = "downloads", value_parser = parse_sort)]
    sort: SearchSort,
    /// How many repositories to show.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct FilesArgs {
    /// Repository, `owner/name`.
    repo: String,
    /// Context length the fit estimate assumes.
    #[arg(long, default_value_t = RECOMMEND_CONTEXT)]
    ctx: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PullArgs {
    /// `owner/name`, `owner/name:QUANT`, `owner/name:FILE`, or a catalog name.
    spec: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ListArgs {
    /// Context length the fit estimate assumes.
    #[arg(long, default_value_t = RECOMMEND_CONTEXT)]
    ctx: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RmArgs {
    /// Library id (see `hearth list`).
    id: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SettingsArgs {
    /// Library id (see `hearth list`).
    id: String,
    /// Context window in tokens.
    #[arg(long)]
    ctx: Option<usize>,
    /// KV cache type: f16, q8_0 (about half the memory) or f32.
    #[arg(long)]
    kv_type: Option<KvType>,
    /// Device: auto, cpu, cuda or metal.
    #[arg(long)]
    device: Option<DevicePreference>,
    /// CPU threads, 1 to twice the logical cores. Taken when a process loads
    /// its first model: by `hearth run`/`chat` for this model, by the app
    /// when it starts and this is the model it last used.
    #[arg(long)]
    threads: Option<usize>,
    /// Forget the settings first (back to the defaults), then apply the
    /// flags given.
    #[arg(long)]
    reset: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ImportArgs {
    /// A .gguf file.
    path: PathBuf,
    /// Copy the file into Hearth's models folder (default: use it where it is).
    #[arg(long)]
    copy: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CatalogArgs {
    /// Context length the fit estimate assumes.
    #[arg(long, default_value_t = RECOMMEND_CONTEXT)]
    ctx: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_sort(s: &str) -> Result<SearchSort, String> {
    match s {
        "downloads" => Ok(SearchSort::Downloads),
        "recent" => Ok(SearchSort::Recent),
        "likes" => Ok(SearchSort::Likes),
        other => Err(format!(
            "unknown order {other:?}: use downloads, recent or likes"
        )),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn search(args: &SearchArgs) -> Result<()> {
    let models = models(true)?;
    let hits = runtime()?.block_on(models.search(&args.query, args.sort, args.limit))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&hits)?)?;
        return Ok(());
    }
    if hits.is_empty() {
        outln!("no GGUF repositories match {:?}", args.query)?;
        return Ok(());
    }
    outln!(
        "{:<50} {:>10} {:>6}  {:<10}  {:<14} GATED",
        "REPOSITORY",
        "DOWNLOADS",
        "LIKES",
        "UPDATED",
        "LICENCE"
    )?;
    for hit in hits {
        outln!(
            "{:<50} {:>10} {:>6}  {:<10}  {:<14} {}",
            hit.id,
            hit.downloads,
            hit.likes,
            hit.updated
                .as_deref()
                .map_or("", |u| u.get(..10).unwrap_or(u)),
            hit.license.as_deref().unwrap_or("-"),
            if hit.gated { "yes" } else { "" },
        )?;
    }
    Ok(())
}

pub(crate) fn files(args: &FilesArgs) -> Result<()> {
    let models = models(true)?;
    let (info, choices) = runtime()?.block_on(models.files(&args.repo, args.ctx))?;
    if args.json {
        let files: Vec<_> = choices
            .iter()
            .map(|c| {
                json!({
                    "name": c.model.name,
                    "quant": c.model.quant,
                    "size": c.model.size,
                    "parts": c.model.files,
                    "fit": c.fit,
                })
            })
            .collect();
        let out = json!({
            "repo": info.id,
            "commit": info.commit,
            "gated": info.gated,
            "license": info.license,
            "context": args.ctx,
            "files": files,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    outln!(
        "{} · licence {} {}",
        info.id,
        info.license.as_deref().unwrap_or("unknown"),
        if info.gated {
            "· gated (needs `hearth login`)"
        } else {
            ""
        }
    )?;
    outln!(
        "{:<52} {:<8} {:>9} {:>5}  {:<10} {:>9} {:>8}",
        "FILE",
        "QUANT",
        "SIZE",
        "PARTS",
        "FIT",
        "NEEDS",
        "≈TOK/S"
    )?;
    for c in &choices {
        outln!(
            "{:<52} {:<8} {:>9} {:>5}  {:<10} {:>9} {:>8}",
            c.model.name,
            c.model.quant.as_deref().unwrap_or("?"),
            human_bytes(c.model.size),
            c.model.files.len(),
            fit_label(&c.fit),
            human_bytes(c.fit.total),
            speed(&c.fit),
        )?;
    }
    outln!(
        "(fit at a {}-token context against available RAM; pull with `hearth pull {}:QUANT`)",
        args.ctx,
        info.id
    )?;
    Ok(())
}

pub(crate) fn pull(args: &PullArgs) -> Result<()> {
    let models = models(true)?;
    let spec = PullSpec::parse(&args.spec)?;
    let control = DownloadControl::new();
    let on_ctrl_c = control.clone();
    ctrlc::set_handler(move || on_ctrl_c.pause()).context("cannot install the Ctrl-C handler")?;

    let progress = Arc::new(Mutex::new(Progress::new()));
    let sink = progress.clone();
    let options = DownloadOptions {
        control,
        on_event: Arc::new(move |event| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .show(event);
        }),
        ..DownloadOptions::default()
    };
    let result = runtime()?.block_on(models.pull(&spec, &options));
    progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .finish();
    match result {
        Ok(entry) => {
            noteln!(
                "{} is in the library ({}, {}, {}); chat with `hearth chat -m {}`",
                entry.id,
                entry.info.architecture,
                entry.info.quant.as_deref().unwrap_or("?"),
                human_bytes(entry.size),
                entry.id
            );
            Ok(())
        }
        Err(CoreError::Hub(HubError::Paused)) => {
            noteln!(
                "paused; the partial download is kept. Run `hearth pull {}` again to resume.",
                args.spec
            );
            std::process::exit(130);
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn list(args: &ListArgs) -> Result<()> {
    let models = models(false)?;
    let list = models.list(args.ctx)?;
    let pending = models.pending()?;
    if args.json {
        let entries: Vec<_> = list
            .iter()
            .map(|m| {
                json!({
                    "id": m.entry.id,
                    "name": m.entry.display_name(),
                    "architecture": m.entry.info.architecture,
                    "parameters": m.entry.info.parameters,
                    "quant": m.entry.info.quant,
                    "context_length": m.entry.info.context_length,
                    "size": m.entry.size,
                    "has_chat_template": m.entry.info.has_chat_template,
                    "source": m.entry.source,
                    "unverified": m.entry.unverified,
                    "files": m.entry.files,
                    "added_at": m.entry.added_at,
                    "last_used": m.entry.last_used,
                    "measured": m.entry.measured,
                    "fit": m.fit,
                })
            })
            .collect();
        let partial: Vec<_> = pending
            .iter()
            .map(|p| json!({"repo": p.repo, "file": p.file, "done": p.done, "size": p.size}))
            .collect();
        let out = json!({ "models": entries, "partial_downloads": partial });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    if list.is_empty() {
        outln!("The library is empty. Find a model with `hearth catalog` or `hearth search`.")?;
    } else {
        outln!(
            "{:<28} {:<36} {:<9} {:>7} {:<8} {:>7} {:>9} {:<4} {:<10} {:>8} {:<12} SOURCE",
            "ID",
            "NAME",
            "ARCH",
            "PARAMS",
            "QUANT",
            "CTX",
            "SIZE",
            "TMPL",
            "FIT",
            "≈TOK/S",
            "LAST USED"
        )?;
        for m in &list {
            let e = &m.entry;
            outln!(
                "{:<28} {:<36} {:<9} {:>7} {:<8} {:>7} {:>9} {:<4} {:<10} {:>8} {:<12} {}",
                e.id,
                cut(&e.display_name(), 36),
                e.info.architecture,
                human_count(e.info.parameters),
                e.info.quant.as_deref().unwrap_or("?"),
                e.info
                    .context_length
                    .map_or_else(|| "?".to_owned(), |c| c.to_string()),
                human_bytes(e.size),
                if e.info.has_chat_template {
                    "yes"
                } else {
                    "no"
                },
                fit_label(&m.fit),
                speed(&m.fit),
                e.last_used.map_or_else(|| "never".to_owned(), ago),
                if e.unverified {
                    format!("{} (unverified)", source_label(&e.source))
                } else {
                    source_label(&e.source)
                },
            )?;
        }
    }
    for p in pending {
        outln!(
            "partial: {}:{} {} of {} (resume with `hearth pull {}:{}`)",
            p.repo,
            p.file,
            human_bytes(p.done),
            human_bytes(p.size),
            p.repo,
            p.file
        )?;
    }
    Ok(())
}

pub(crate) fn rm(args: &RmArgs) -> Result<()> {
    let freed = models(false)?.remove(&args.id)?;
    if freed > 0 {
        outln!("removed {}; freed {}", args.id, human_bytes(freed))?;
    } else {
        outln!(
            "removed {} from the library; its file was left in place",
            args.id
        )?;
    }
    Ok(())
}

/// Shows a library model's load settings, changing them first when flags
/// are given; the fit estimate is for the settings as they now are.
pub(crate) fn settings(args: &SettingsArgs) -> Result<()> {
    let models = models(false)?;
    let mut settings = models.load_settings(&args.id)?;
    let changes = args.reset
        || args.ctx.is_some()
        || args.kv_type.is_some()
        || args.device.is_some()
        || args.threads.is_some();
    if args.reset {
        settings = LoadSettings::default();
    }
    settings.context_length = args.ctx.or(settings.context_length);
    settings.kv_type = args.kv_type.or(settings.kv_type);
    settings.device = args.device.or(settings.device);
    settings.threads = args.threads.or(settings.threads);
    if changes {
        models.set_load_settings(&args.id, &settings)?;
    }
    let options = settings.apply(&EngineOptions::default());
    let context = options
        .context_length
        .map_or(RECOMMEND_CONTEXT, |n| n as u64);
    let path = models.resolve(&args.id)?;
    let fit = models
        .fit_of(&path, context, options.kv_type)
        .map(|m| m.fit)
        .context("the model is not in the library")?;
    let default = |set: bool| if set { "" } else { " (default)" };
    if args.json {
        outln!(
            "{}",
            json!({
                "id": args.id,
                "context_length": settings.context_length,
                "kv_type": settings.kv_type.map(KvType::name),
                "device": settings.device.map(|d| d.to_string()),
                "threads": settings.threads,
                "fit": fit,
            })
        )?;
        return Ok(());
    }
    outln!(
        "context  {}{}",
        settings
            .context_length
            .map_or("the model's own, at most 4096".to_owned(), |n| n
                .to_string()),
        default(settings.context_length.is_some())
    )?;
    outln!(
        "kv cache {}{}",
        options.kv_type,
        default(settings.kv_type.is_some())
    )?;
    outln!(
        "device   {}{}",
        options.device,
        default(settings.device.is_some())
    )?;
    outln!(
        "threads  {} (taken when a process loads its first model)",
        settings.threads.map_or_else(
            || format!("{} (default: all cores)", hearth_core::threads_in_use()),
            |n| n.to_string()
        )
    )?;
    outln!(
        "needs    {} at {context} tokens ({})",
        human_bytes(fit.total),
        fit.fit.label()
    )?;
    Ok(())
}

pub(crate) fn import(args: &ImportArgs) -> Result<()> {
    let entry = models(false)?.import(&args.path, args.copy)?;
    outln!(
        "imported {} as {} ({}, {}, {}){}",
        args.path.display(),
        entry.id,
        entry.info.architecture,
        entry.info.quant.as_deref().unwrap_or("?"),
        human_bytes(entry.size),
        if args.copy {
            ", copied"
        } else {
            ", used in place"
        }
    )?;
    Ok(())
}

pub(crate) fn catalog(args: &CatalogArgs) -> Result<()> {
    let choices = models(false)?.catalog(args.ctx)?;
    if args.json {
        let out: Vec<_> = choices
            .iter()
            .map(|c| {
                let e = &c.entry;
                json!({
                    "name": e.name, "repo": e.repo, "file": e.file, "quant": e.quant,
                    "size": e.size, "parameters": e.parameters, "context": e.context,
                    "license": e.license, "min_ram": e.min_ram, "fit": c.fit,
                    "recommended": c.recommended,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    outln!(
        "  {:<28} {:>7} {:<8} {:>9} {:>7} {:<10} {:>8}  {:<16} PULL",
        "MODEL",
        "PARAMS",
        "QUANT",
        "SIZE",
        "CTX",
        "FIT",
        "≈TOK/S",
        "LICENCE"
    )?;
    for c in &choices {
        let e = &c.entry;
        outln!(
            "{} {:<28} {:>7} {:<8} {:>9} {:>7} {:<10} {:>8}  {:<16} {}",
            if c.recommended { "*" } else { " " },
            e.name,
            human_count(e.parameters),
            e.quant,
            human_bytes(e.size),
            e.context,
            fit_label(&c.fit),
            speed(&c.fit),
            e.license,
            e.pull_spec(),
        )?;
    }
    match choices.iter().find(|c| c.recommended) {
        Some(b) => outln!(
            "* recommended for this machine: hearth pull {}",
            b.entry.pull_spec()
        )?,
        None => outln!("none of these fits the memory available now")?,
    }
    Ok(())
}

pub(crate) fn login() -> Result<()> {
    let token = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Hugging Face token (input hidden): ")
            .context("cannot read the token")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the token from stdin")?;
        text
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("the token is empty; nothing was stored");
    }
    let models = models(true)?;
    let outcome =
        crate::cloud::runtime()?.block_on(models.login(&SecretString::from(token.to_owned())))?;
    match outcome {
        Login::Checked { user } => {
            noteln!("logged in to Hugging Face as {user}; the token is in the OS keychain");
        }
        Login::Unchecked { reason } => noteln!(
            "the token is in the OS keychain, but Hugging Face could not check it now ({reason})"
        ),
    }
    Ok(())
}

pub(crate) fn logout() -> Result<()> {
    if models(true)?.delete_hf_token()? {
        noteln!("the Hugging Face token was removed from the OS keychain");
    } else {
        noteln!("no Hugging Face token was stored");
    }
    Ok(())
}

/// Download progress on stderr: a bar on a terminal, a line per 10 % otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
    last_tenth: u64,
    last_line: Instant,
}

impl Progress {
    fn new() -> Self {
        Self {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            last_tenth: 0,
            last_line: Instant::now(),
        }
    }

    fn show(&mut self, event: &DownloadEvent) {
        match event {
            DownloadEvent::Started { model, total, done } => {
                if *done > 0 {
                    noteln!(
                        "resuming {model}: {} of {} already here",
                        human_bytes(*done),
                        human_bytes(*total)
                    );
                } else {
                    noteln!("downloading {model} ({})", human_bytes(*total));
                }
                if self.terminal {
                    let bar = indicatif::ProgressBar::new(*total);
                    let style = indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar.set_position(*done);
                    self.bar = Some(bar);
                }
            }
            DownloadEvent::Progress {
                done,
                total,
                bytes_per_sec,
                eta_secs,
            } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*done);
                } else if *total > 0 {
                    let tenth = done * 10 / total;
                    if tenth > self.last_tenth || self.last_line.elapsed() > Duration::from_secs(30)
                    {
                        self.last_tenth = tenth;
                        self.last_line = Instant::now();
                        noteln!(
                            "{} of {} ({}/s{})",
                            human_bytes(*done),
                            human_bytes(*total),
                            human_bytes(*bytes_per_sec as u64),
                            eta_secs.map_or_else(String::new, |s| format!(", {s:.0} s left"))
                        );
                    }
                }
            }
            DownloadEvent::Retrying {
                attempt,
                reason,
                wait_ms,
                ..
            } => self.line(&format!(
                "interrupted ({reason}); retry {attempt} in {:.1} s",
                *wait_ms as f64 / 1000.0
            )),
            DownloadEvent::Rehashing { bytes, .. } => {
                self.line(&format!(
                    "checking the {} already downloaded",
                    human_bytes(*bytes)
                ));
            }
            DownloadEvent::Unverified { files } => self.line(&format!(
                "warning: the Hub gives no sha256 for {}, so the download cannot be checked; \
                 it is kept marked unverified",
                files.join(", ")
            )),
            DownloadEvent::Verifying { .. } => {
                self.finish();
                self.line("verifying sha256 and the GGUF header");
            }
            DownloadEvent::Finished { .. } => {}
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => noteln!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}

fn fit_label(fit: &FitEstimate) -> String {
    let label = fit.fit.label();
    if fit.approximate {
        format!("{label}~")
    } else {
        label.to_owned()
    }
}

/// `s`, at most `n` characters (the last one then `…`), for a table column.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The one decode speed to expect: measured here (`150`), else the
/// bandwidth's upper bound (`≤177`, "up to").
fn speed(fit: &FitEstimate) -> String {
    match fit.decode_tok_s {
        Some(s) if fit.measured => format!("{s:.0}"),
        Some(s) => format!("≤{s:.0}"),
        None => "?".to_owned(),
    }
}

fn source_label(source: &Source) -> String {
    match source {
        Source::Downloaded { repo, .. } => format!("hf:{repo}"),
        Source::Imported { copied: true } => "imported (copy)".to_owned(),
        Source::Imported { copied: false } => "imported (in place)".to_owned(),
        Source::External { app, label } => format!("{} {label} (read-only)", app_name(*app)),
    }
}

fn app_name(app: hearth_core::hearth_hub::ExternalApp) -> &'static str {
    use hearth_core::hearth_hub::ExternalApp;
    match app {
        ExternalApp::HuggingFaceCache => "hf-cache",
        ExternalApp::LmStudio => "lm-studio",
        ExternalApp::Ollama => "ollama",
    }
}

/// `1.2 GB`, `98 MB`, `512 B` (decimal units, as the Hub shows sizes).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// `135M`, `1.7B`.
fn human_count(n: u64) -> String {
    match n {
        0 => "?".to_owned(),
        n if n >= 1_000_000_000 => format!("{:.1}B", n as f64 / 1e9),
        n => format!("{}M", (n as f64 / 1e6).round()),
    }
}

/// `5 min ago`, `3 d ago`.
fn ago(unix_secs: u64) -> String {
    let now = u64::try_from(hearth_store::now() / 1000).unwrap_or(0);
    let secs = now.saturating_sub(unix_secs);
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_hub() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(98_362_432), "98 MB");
        assert_eq!(human_bytes(1_700_000_000), "1.7 GB");
        assert_eq!(human_count(134_515_008), "135M");
        assert_eq!(human_count(1_711_000_000), "1.7B");
    }
}
