//! `hearth embed` (texts to vectors as JSON) and `hearth docs` (document
//! collections: add, list, rm, search), on the engine's sentence encoder and
//! hearth-docs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use hearth_core::{Config, LocalEmbed, env};
use hearth_docs::{AddOptions, FileOutcome};
use hearth_engine::Embedder;

use crate::open;
use crate::out::{noteln, outln};

#[derive(clap::Args, Debug)]
pub(crate) struct EmbedArgs {
    /// Sentence-transformers model folder (default: HEARTH_EMBED_MODEL, else the
    /// first such folder in the models directory).
    #[arg(long, short)]
    model: Option<PathBuf>,
    /// Texts to embed (one vector each).
    #[arg(required = true)]
    texts: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DocsArgs {
    #[command(subcommand)]
    command: DocsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DocsCommand {
    /// Add files or folders to a collection (created if new); one line per file.
    Add {
        collection: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, short)]
        model: Option<PathBuf>,
        /// Characters per chunk.
        #[arg(long, default_value_t = hearth_docs::DEFAULT_CHUNK_CHARS)]
        chunk_chars: usize,
    },
    /// The collections, with their document and chunk counts.
    #[command(alias = "ls")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection with its chunks and vectors.
    Rm { collection: String },
    /// The chunks that best answer a query (vector + full-text, fused).
    Search {
        collection: String,
        query: String,
        /// How many chunks.
        #[arg(long, short = 'k', default_value_t = 5)]
        limit: usize,
        #[arg(long, short)]
        model: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Loads `-m PATH`, else the configured default embedding model.
pub(crate) fn load_embedder(model: Option<&PathBuf>) -> Result<Embedder> {
    let path = match model {
        Some(p) => p.clone(),
        None => {
            let config = Config::from_env()?;
            match config.default_embed_model() {
                Some(p) => p,
                None => bail!(
                    "no embedding model: name a sentence-transformers folder with -m PATH, or set {}",
                    env::EMBED_MODEL
                ),
            }
        }
    };
    Ok(Embedder::load(&path)?)
}

pub(crate) fn embed(args: &EmbedArgs) -> Result<()> {
    let embedder = load_embedder(args.model.as_ref())?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let out = embedder.embed(&texts)?;
    let json = serde_json::json!({
        "model": embedder.name(),
        "dim": embedder.dim(),
        "tokens": out.tokens,
        "vectors": out.vectors,
    });
    outln!("{json}")?;
    Ok(())
}

pub(crate) fn docs(args: &DocsArgs) -> Result<()> {
    match &args.command {
        DocsCommand::Add {
            collection,
            files,
            model,
            chunk_chars,
        } => add(collection, files, model.as_ref(), *chunk_chars),
        DocsCommand::List { json } => list(*json),
        DocsCommand::Rm { collection } => {
            let app = open::app(hearth_engine::EngineOptions::default())?;
            if app.store().delete_doc_collection(collection)? {
                noteln!("deleted collection \"{collection}\" with its chunks and vectors");
                Ok(())
            } else {
                bail!("no collection named \"{collection}\" (see `hearth docs list`)")
            }
        }
        DocsCommand::Search {
            collection,
            query,
            limit,
            model,
            json,
        } => search(collection, query, *limit, model.as_ref(), *json),
    }
}

fn add(
    collection: &str,
    files: &[PathBuf],
    model: Option<&PathBuf>,
    chunk_chars: usize,
) -> Result<()> {
    let embedder = LocalEmbed(std::sync::Arc::new(load_embedder(model)?));
    let app = open::app(hearth_engine::EngineOptions::default())?;
    let store = app.store();
    // Ctrl-C asks to stop after the batch being embedded (what is stored stays,
    // and the same command resumes); a second Ctrl-C quits at once.
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = Arc::clone(&cancel);
        ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            noteln!("\nstopping after the current batch (Ctrl-C again to quit now)…");
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let (mut indexed, mut unchanged, mut failed, mut chunks_total) = (0usize, 0, 0, 0usize);
    let started = std::time::Instant::now();
    let reports = hearth_docs::add_files_cancellable(
        &store,
        &embedder,
        collection,
        files,
        AddOptions { chunk_chars },
        &cancel,
        |report| {
            let at = format!("[{}/{}]", report.n, report.of);
            match &report.outcome {
                FileOutcome::Indexed { kind, chunks } => {
                    indexed += 1;
                    chunks_total += chunks;
                    noteln!("{at} added     {} ({kind}, {chunks} chunks)", report.path);
                }
                FileOutcome::Unchanged => {
                    unchanged += 1;
                    noteln!("{at} unchanged {}", report.path);
                }
                FileOutcome::Failed(e) => {
                    failed += 1;
                    noteln!("{at} skipped   {e}");
                }
                FileOutcome::Cancelled => noteln!("{at} stopped   {}", report.path),
            }
        },
    )
    .with_context(|| format!("cannot add to collection \"{collection}\""))?;
    let secs = started.elapsed().as_secs_f64();
    noteln!(
        "{indexed} files added ({chunks_total} chunks in {secs:.1} s), {unchanged} unchanged, {failed} skipped, into \"{collection}\""
    );
    if cancel.load(Ordering::SeqCst) {
        let of = reports.first().map_or(0, |r| r.of);
        let done = reports
            .iter()
            .filter(|r| !matches!(r.outcome, FileOutcome::Cancelled))
            .count();
        bail!("stopped: {done} of {of} files done and kept; run the same command again to resume");
    }
    if failed > 0 && indexed == 0 && unchanged == 0 {
        bail!("no file could be added");
    }
    Ok(())
}

fn list(json: bool) -> Result<()> {
    let app = open::app(hearth_engine::EngineOptions::default())?;
    let list = app.store().doc_collections()?;
    if json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.collection.name,
                    "embed_model": c.collection.embed_model,
                    "dim": c.collection.dim,
                    "documents": c.documents,
                    "chunks": c.chunks,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if list.is_empty() {
        noteln!("no collections yet (add files with `hearth docs add NAME FILES…`)");
    }
    for c in &list {
        outln!(
            "{}\t{} documents\t{} chunks\t{}",
            c.collection.name,
            c.documents,
            c.chunks,
            c.collection.embed_model
        )?;
    }
    Ok(())
}

fn search(
    collection: &str,
    query: &str,
    limit: usize,
    model: Option<&PathBuf>,
    json: bool,
) -> Result<()> {
    let embedder = LocalEmbed(std::sync::Arc::new(load_embedder(model)?));
    let app = open::app(hearth_engine::EngineOptions::default())?;
    let hits = hearth_docs::search(&app.store(), &embedder, collection, query, limit)?;
    if json {
        let rows: Vec<serde_json::Value> = hits
            .iter()
            .map(|h| {
                serde_json::json!({
                    "score": h.score,
                    "cosine": h.cosine,
                    "bm25": h.bm25,
                    "source": h.source,
                    "chunk": h.ord,
                    "heading": h.heading,
                    "page": h.page,
                    "text": h.text,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    for (i, h) in hits.iter().enumerate() {
        let page = h.page.map(|p| format!(" p. {p}")).unwrap_or_default();
        let heading = h
            .heading
            .as_deref()
            .map(|s| format!(" — {s}"))
            .unwrap_or_default();
        let cosine = h
            .cosine
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.3}"));
        let bm25 = h.bm25.map_or_else(|| "-".to_owned(), |b| format!("{b:.2}"));
        outln!(
            "{}. [{:.4}] {}#{}{page}{heading} (cosine {cosine}, bm25 {bm25})",
            i + 1,
            h.score,
            h.source,
            h.ord
        )?;
        let preview: String = h.text.chars().take(300).collect();
        outln!("   {}", preview.replace('\n', "\n   "))?;
    }
    if hits.is_empty() {
        noteln!("nothing found");
    }
    Ok(())
}
