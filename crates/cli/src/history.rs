//! `hearth history`: list, read, search, export, import and delete conversations.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hearth_store::{ConversationId, ListQuery, Store};

use crate::open;

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
    /// Export one conversation (or all) as Markdown or JSON.
    Export {
        /// Conversation id or prefix; all conversations when left out.
        id: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import conversations from a JSON export.
    Import { file: PathBuf },
    /// Delete a conversation and all its messages, for good.
    Rm { id: String },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Md,
    Json,
}

#[allow(clippy::print_stderr)]
pub(crate) fn history(args: &Args) -> Result<()> {
    let app = open::app(hearth_engine::EngineOptions::default())?;
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
                eprintln!("no conversations yet; `hearth chat` starts one");
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
                let value = serde_json::json!({ "conversation": conv, "messages": messages });
                serde_json::to_writer_pretty(&mut out, &value)?;
                writeln!(out)?;
            } else {
                writeln!(out, "# {}\n", conv.title)?;
                if let Some(system) = &conv.system_prompt {
                    writeln!(out, "system: {system}\n")?;
                }
                for m in &messages {
                    writeln!(out, "{} ({}):\n{}\n", m.role, m.status, m.content)?;
                }
            }
        }
        Command::Search { query, limit, json } => {
            let hits = store.search(query, *limit)?;
            if *json {
                serde_json::to_writer_pretty(&mut out, &hits)?;
                writeln!(out)?;
            } else if hits.is_empty() {
                eprintln!("nothing found for {query:?}");
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
        Command::Export { id, format, output } => {
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
                    eprintln!("exported to {}", path.display());
                }
                None => out.write_all(text.as_bytes())?,
            }
        }
        Command::Import { file } => {
            let json = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = store.import_json(&json)?;
            eprintln!("{report}");
        }
        Command::Rm { id } => {
            let id = resolve(&store, id)?;
            let title = store.conversation(&id)?.title;
            store.delete_conversation(&id)?;
            eprintln!("deleted {id} ({title})");
        }
    }
    Ok(())
}

fn resolve(store: &Store, prefix: &str) -> Result<ConversationId> {
    Ok(store.resolve_conversation_prefix(prefix)?)
}
