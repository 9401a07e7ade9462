//! MCP tools in `hearth chat`: the flags, the question asked before each call
//! runs, and how calls and results show in the terminal.
//!
//! Every call is printed (tool, server, arguments) before it runs, also when
//! the user allowed it up front (`--allow-tools`) or for the rest of the chat
//! (`[a]lways`): the CLI keeps that list itself and answers core's
//! [`Approver`] with "once", so core asks it about every call. A tool allowed
//! for the chat stays allowed only as it was shown: when its server changes
//! its description or input schema, the call is asked about again and the
//! terminal says the tool changed. The question
//! is answered on the chat's own stdin ([`Input`]); end of input or any other
//! answer denies the call.

use std::collections::HashMap;
use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Result, bail};
use hearth_backend::ToolChoice;
use hearth_core::{Approval, Approver, ChatTools, PendingCall, ToolPick};
use hearth_store::{Message, MessageStatus};

use crate::chat::Input;
use crate::mcp::printable;
use crate::out::{note, noteln, outln};

/// How much of a result a folded result shows, in characters.
const FOLDED_CHARS: usize = 80;

/// The tool flags of `hearth chat`.
#[derive(clap::Args, Debug)]
pub(crate) struct ToolArgs {
    /// Offer the model this MCP server's tools, or one tool as NAME:TOOL
    /// (repeatable; servers are added with `hearth mcp add`). Each call is
    /// shown and asked about before it runs.
    #[arg(long = "mcp", value_name = "NAME[:TOOL]")]
    pub(crate) mcp: Vec<ToolPick>,

    /// Run every tool call without asking (each call is still printed).
    #[arg(long, requires = "mcp")]
    pub(crate) allow_tools: bool,

    /// Rounds of tool calls one answer may take before it must answer in words.
    #[arg(long, requires = "mcp", default_value_t = hearth_core::DEFAULT_MAX_ROUNDS,
          value_parser = at_least_one)]
    pub(crate) max_tool_rounds: usize,

    /// Whether the model must call a tool first: auto, none, required, or
    /// the name of the tool it must call.
    #[arg(long, requires = "mcp", value_name = "auto|none|required|FUNCTION",
          value_parser = tool_choice)]
    pub(crate) tool_choice: Option<ToolChoice>,
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, got `{text}`"
        )),
    }
}

fn tool_choice(text: &str) -> Result<ToolChoice, String> {
    Ok(match text.trim() {
        "auto" => ToolChoice::Auto,
        "none" => ToolChoice::None,
        "required" => ToolChoice::Required,
        "" => return Err("name a tool, or auto, none, required".to_owned()),
        name => ToolChoice::Function(name.to_owned()),
    })
}

/// The terminal during a chat with tools: whether the answer's streamed
/// text left the line open (so a note about a call starts on a line of its
/// own), and the names of the calls asked about (a result names its tool).
#[derive(Clone, Default)]
pub(crate) struct Screen {
    open_line: Arc<AtomicBool>,
    /// Call id → tool name.
    names: Arc<Mutex<HashMap<String, String>>>,
}

impl Screen {
    /// Text went to stdout.
    pub(crate) fn wrote(&self, text: &str) {
        if !text.is_empty() {
            self.open_line
                .store(!text.ends_with('\n'), Ordering::Relaxed);
        }
    }

    /// Ends the open line, if there is one.
    pub(crate) fn end_line(&self) {
        if self.open_line.swap(false, Ordering::Relaxed) {
            let _ = outln!();
        }
    }

    /// The line was ended elsewhere.
    pub(crate) fn line_ended(&self) {
        self.open_line.store(false, Ordering::Relaxed);
    }

    fn named(&self, call: &PendingCall) {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(call.call_id.clone(), call.tool.clone());
    }

    /// A call's result, on one line (a call that never reached the
    /// question, such as one naming no offered tool, is just "tool").
    pub(crate) fn result(&self, message: &Message) {
        self.end_line();
        let name = message
            .tool_call_id
            .as_ref()
            .and_then(|id| {
                self.names
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(id)
                    .cloned()
            })
            .unwrap_or_else(|| "tool".to_owned());
        let what = match message.status {
            MessageStatus::Error => "failed",
            MessageStatus::Cancelled => "stopped",
            _ => "result",
        };
        noteln!(
            "  {} {what}: {}",
            printable(&name),
            printable(&fold(&message.content))
        );
    }
}

/// The tools a chat offers, with what the user allowed for it.
pub(crate) struct Tools {
    pub(crate) tools: ChatTools,
    /// Tools the user allowed for the rest of this conversation: the name
    /// → the fingerprint of the tool as it was allowed.
    always: Arc<Mutex<HashMap<String, String>>>,
}

impl Tools {
    /// Connects to the picked servers and readies the question asked before
    /// each call.
    pub(crate) async fn connect(
        host: Arc<hearth_tools::McpHost>,
        args: &ToolArgs,
        screen: Screen,
    ) -> Result<Self> {
        let always = Arc::new(Mutex::new(HashMap::new()));
        let mut tools = ChatTools::connect(host, &args.mcp)
            .await?
            .approver(Box::new(Ask {
                allow_all: args.allow_tools,
                always: always.clone(),
                screen,
            }));
        if let Some(ToolChoice::Function(name)) = &args.tool_choice
            && !tools.list().any(|(offered, _, _)| offered == name)
        {
            bail!("--tool-choice {name}: no tool of that name is offered (/tools lists them)");
        }
        if tools.specs().is_empty() {
            noteln!("(the picked MCP servers offer no tools)");
        }
        tools.max_rounds = args.max_tool_rounds;
        if let Some(choice) = &args.tool_choice {
            tools.first_choice = choice.clone();
        }
        Ok(Self { tools, always })
    }

    /// A new conversation: nothing is allowed for it yet.
    pub(crate) fn forget_allowed(&self) {
        self.always
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// `/tools`: every tool offered, its server, and its description as the
    /// server wrote it.
    pub(crate) fn print(&self) {
        let mut any = false;
        for (name, server, description) in self.tools.list() {
            any = true;
            noteln!("{} ({})", printable(name), printable(server));
            for line in description.lines().filter(|l| !l.trim().is_empty()) {
                noteln!("    {}", printable(line.trim_end()));
            }
        }
        if !any {
            noteln!("the picked MCP servers offer no tools");
        }
    }
}

/// `/tools` in a chat started without `--mcp`.
pub(crate) fn print_none() {
    noteln!("no tools in this chat (start it with --mcp NAME to offer an MCP server's tools)");
}

/// Asks on the terminal before each call.
struct Ask {
    allow_all: bool,
    always: Arc<Mutex<HashMap<String, String>>>,
    screen: Screen,
}

impl Approver for Ask {
    fn approve<'a>(
        &'a mut self,
        call: &'a PendingCall,
    ) -> Pin<Box<dyn Future<Output = Approval> + Send + 'a>> {
        Box::pin(async move {
            self.screen.end_line();
            self.screen.named(call);
            noteln!(
                "tool call: {} (MCP server {}) {}",
                printable(&call.tool),
                printable(&call.server),
                printable(&call.arguments)
            );
            let allowed = self
                .always
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&call.tool)
                .map(|fingerprint| *fingerprint == call.fingerprint);
            if self.allow_all {
                noteln!("  allowed (--allow-tools)");
                return Approval::Once;
            }
            match allowed {
                Some(true) => {
                    noteln!("  allowed for this chat");
                    return Approval::Once;
                }
                Some(false) => noteln!(
                    "  this tool CHANGED since you allowed it: its server now describes it \
                     differently (description or arguments); asking again"
                ),
                None if call.changed => noteln!(
                    "  this tool CHANGED since it was allowed (description or arguments); asking again"
                ),
                None => {}
            }
            note!("allow? [y]es once / [a]lways in this chat / [n]o ");
            // The read blocks; off the runtime's thread, so the MCP servers'
            // connections are still served meanwhile.
            let answer = tokio::task::spawn_blocking(|| Input.line()).await;
            let answer = match answer {
                Ok(Ok(Some(line))) => {
                    // A terminal echoed the answer and its newline; a pipe did not.
                    if !std::io::stdin().is_terminal() {
                        noteln!("{}", printable(line.trim()));
                    }
                    line
                }
                // End of input (or a failed read): no.
                _ => {
                    noteln!();
                    String::new()
                }
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "y" | "yes" => Approval::Once,
                "a" | "always" => {
                    self.always
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(call.tool.clone(), call.fingerprint.clone());
                    Approval::Once
                }
                _ => {
                    noteln!("  denied (the model is told so)");
                    Approval::Deny
                }
            }
        })
    }
}

/// A result on one line: its lines joined (runs of spaces and line breaks
/// made one space, so a pretty-printed JSON result reads on), cut at
/// [`FOLDED_CHARS`], with its size in bytes when anything was cut.
pub(crate) fn fold(content: &str) -> String {
    let words: Vec<&str> = content.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= FOLDED_CHARS {
        return joined;
    }
    let mut shown: String = joined.chars().take(FOLDED_CHARS).collect();
    shown.push_str(&format!("… ({} bytes)", content.len()));
    shown
}

/// The note when an answer used all its rounds of calls.
pub(crate) fn limit(screen: &Screen, rounds: usize) {
    screen.end_line();
    noteln!(
        "(the answer made {rounds} rounds of tool calls, the most allowed (--max-tool-rounds); \
         it must answer without tools now)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_folds_to_one_line_with_its_size_when_cut() {
        assert_eq!(fold("14:02 in Tokyo"), "14:02 in Tokyo");
        assert_eq!(
            fold("{\n  \"timezone\": \"Asia/Tokyo\",\n  \"is_dst\": false\n}\n"),
            r#"{ "timezone": "Asia/Tokyo", "is_dst": false }"#
        );
        let long = "é".repeat(100);
        let folded = fold(&long);
        assert!(folded.starts_with(&"é".repeat(FOLDED_CHARS)), "{folded}");
        assert!(folded.ends_with("é… (200 bytes)"), "{folded}");
        assert_eq!(fold(""), "");
    }

    #[test]
    fn tool_choice_names_a_mode_or_a_function() {
        assert_eq!(tool_choice("auto"), Ok(ToolChoice::Auto));
        assert_eq!(tool_choice("none"), Ok(ToolChoice::None));
        assert_eq!(tool_choice("required"), Ok(ToolChoice::Required));
        assert_eq!(
            tool_choice("get_current_time"),
            Ok(ToolChoice::Function("get_current_time".into()))
        );
        assert!(tool_choice(" ").is_err());
        assert!(at_least_one("0").is_err());
        assert_eq!(at_least_one("3"), Ok(3));
    }
}
