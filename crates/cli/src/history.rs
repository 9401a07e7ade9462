//! `hearth history`: list, read, search, export, import and delete conversations.
//!
//! `import` reads other apps' exports too (ChatGPT, Jan, Open WebUI, LM
//! Studio) and says what it imported, what it skipped and why; `export --all`
//! writes everything as Markdown and JSON into a folder or zip.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hearth_store::{ConversationId, ListQuery, Store};

use crate::open;
use crate::out::noteln;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Conversations, most recently used first.
    List {
        /// Include archived conversations.
        #[arg(long)]
        all: bool,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// A conversation's messages (the active branch).
    Show {
        /// Conversation id or a unique prefix.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Full-text search across all messages.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Export one conversation (or all) as Markdown or JSON; or, with --all,
    /// everything into a folder or zip (Markdown + JSON).
    Export {
        /// Conversation id or prefix; all conversations when left out.
        id: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Write every conversation into this folder (new or empty) or zip
        /// (`*.zip`): hearth-export.json with every branch (`import` reads it
        /// back) and one Markdown file per conversation. Overwrites nothing.
        #[arg(long, value_name = "DIR|FILE.zip", conflicts_with_all = ["id", "output", "format"])]
        all: Option<PathBuf>,
    },
    /// Import conversations: a ChatGPT data export (the zip or its
    /// conversations.json), Jan threads (a thread folder, the threads folder
    /// or a zip), an Open WebUI export, LM Studio conversation files, or a
    /// Hearth export. The format is recognised; importing again adds only
    /// what is new.
    Import {
        /// A file, a folder or a zip.
        path: PathBuf,
        /// Only say what would be imported.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a conversation and all its messages, for good.
    Rm { id: String },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Md,
    Json,
}

pub(crate) fn history(args: &Args) -> Result<()> {
    let app = open::app(hearth_engine::EngineOptions::default())?;
    // These two lock the store themselves.
    match &args.command {
        Command::Import { path, dry_run } => return import(&app, path, *dry_run),
        Command::Export {
            all: Some(dest), ..
        } => {
            let report = app.export_history(dest)?;
            noteln!(
                "exported {} conversation(s) to {} ({} files: {} and one Markdown file each)",
                report.conversations,
                report.path.display(),
                report.files,
                hearth_store::ARCHIVE_JSON
            );
            return Ok(());
        }
        _ => {}
    }
    let store = app.store();
    let mut out = std::io::stdout().lock();
    match &args.command {
        Command::List { all, limit, json } => {
            let list = store.list_conversations(&ListQuery {
                include_archived: *all,
                limit: *limit,
                ..ListQuery::default()
            })?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            } else if list.is_empty() {
                noteln!("no conversations yet; `hearth chat` starts one");
            } else {
                for c in &list {
                    writeln!(
                        out,
                        "{}  {}  {:>4} msgs  {}",
                        c.id,
                        hearth_store::format_time(c.updated_at),
                        c.message_count,
                        c.title
                    )?;
                }
            }
        }
        Command::Show { id, json } => {
            let id = resolve(&store, id)?;
            let conv = store.conversation(&id)?;
            let messages = store.active_path(&id)?;
            if *json {
                let mut citations = serde_json::Map::new();
                for m in &messages {
                    let cited = store.citations(&m.id)?;
                    if !cited.is_empty() {
                        citations.insert(m.id.to_string(), serde_json::to_value(cited)?);
                    }
                }
                let value = serde_json::json!({
                    "conversation": conv,
                    "messages": messages,
                    "citations": citations,
                });
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                writeln!(out, "# {}\n", conv.title)?;
                if let Some(system) = &conv.system_prompt {
                    writeln!(out, "system: {system}\n")?;
                }
                for m in &messages {
                    writeln!(out, "{} ({}):\n{}\n", m.role, m.status, m.content)?;
                    let cited = store.citations(&m.id)?;
                    if !cited.is_empty() {
                        writeln!(out, "sources:")?;
                        for c in &cited {
                            writeln!(out, "  {}", c.line())?;
                        }
                        writeln!(out)?;
                    }
                }
            }
        }
        Command::Search { query, limit, json } => {
            let hits = store.search(query, *limit)?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &hits)?;
                writeln!(out)?;
            } else if hits.is_empty() {
                noteln!("nothing found for {query:?}");
            } else {
                for hit in &hits {
                    writeln!(
                        out,
                        "{}  {}  {}: {}",
                        hit.conversation_id, hit.conversation_title, hit.role, hit.snippet
                    )?;
                }
            }
        }
        Command::Export {
            id, format, output, ..
        } => {
            let id = id.as_deref().map(|id| resolve(&store, id)).transpose()?;
            let text = match format {
                Format::Md => store.export_markdown(id.as_ref())?,
                Format::Json => store.export_json(id.as_ref())?,
            };
            match output {
                Some(path) => {
                    // Decrypted history: readable by the owner only.
                    hearth_core::files::write_private(path, text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    noteln!("exported to {}", path.display());
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
        Command::Import { .. } => {}
        Command::Rm { id } => {
            let id = resolve(&store, id)?;
            let title = store.conversation(&id)?.title;
            store.delete_conversation(&id)?;
            noteln!("deleted {id} ({title})");
        }
    }
    Ok(())
}

/// How many skipped conversations are listed one by one.
const SKIPPED_SHOWN: usize = 20;

fn import(app: &hearth_core::App, path: &std::path::Path, dry_run: bool) -> Result<()> {
    let report = app
        .import_history(path, dry_run)
        .with_context(|| format!("nothing was imported from {}", path.display()))?;
    noteln!("{report}");
    for s in report.skipped.iter().take(SKIPPED_SHOWN) {
        noteln!("  skipped {:?} ({}): {}", s.title, s.format, s.reason);
    }
    if report.skipped.len() > SKIPPED_SHOWN {
        noteln!("  … and {} more", report.skipped.len() - SKIPPED_SHOWN);
    }
    Ok(())
}

fn resolve(store: &Store, prefix: &str) -> Result<ConversationId> {
    Ok(store.resolve_conversation_prefix(prefix)?)
}
