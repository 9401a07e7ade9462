//! `hearth chat`: an interactive session, kept in the history database.
//!
//! Every message and answer is stored as it happens (see hearth-core), so a
//! closed terminal or a crash loses nothing; `--conversation ID` picks a chat up
//! again. Each turn reuses the model's cache for the conversation so far.
//! Ctrl-C stops the answer being written, Ctrl-D ends the session.
//! `--mcp NAME` offers an MCP server's tools to the model (`chat_tools.rs`).

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use hearth_core::router::Consent;
use hearth_core::{App, ChatEvent, ChatTurn, TurnOptions, TurnResult};
use hearth_store::{
    Conversation, ConversationId, ConversationPatch, Message, MessageStatus, NewConversation,
    PrivacyPolicy, Sampling,
};
use tokio::runtime::Runtime;

use crate::args::{ModelArgs, SamplingArgs};
use crate::chat_tools::{self, Screen, ToolArgs, Tools};
use crate::interrupt::Interrupt;
use crate::out::{note, noteln, out, outln};
use crate::route::{self, RouteArgs};
use crate::thinking::Printer;
use hearth_backend::reasoning;

const HELP: &str = "\
commands:
  /system TEXT   set the system prompt (empty TEXT removes it)
  /reset         start a new conversation (same model and settings)
  /regen         write the last answer again (the old one stays as a branch)
  /continue      carry on with the last answer where it stopped
  /title         let the model title this conversation
  /stats         statistics of the last answer
  /id            this conversation's id (for --conversation and `hearth history`)
  /docs NAME     chat with the document collection NAME (/docs off detaches)
  /tools         the tools offered to the model (--mcp NAME[:TOOL]); each call
                 is shown and asked about first: [y]es once, [a]lways in this
                 chat, [n]o
  /think on|off  a reasoning model thinks first, or not (/think default: the model's
                 own choice; only models whose template has the switch, e.g. Qwen3)
  /help          this list
  Ctrl-C stops an answer; Ctrl-D (or /bye) quits.
  End a line with \\ to continue the message on the next line.";

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,

    /// Sampling flags apply to new conversations; a continued one keeps its own.
    #[command(flatten)]
    sampling: SamplingArgs,

    /// System prompt.
    #[arg(long)]
    system: Option<String>,

    /// Continue this conversation (an id or a unique prefix; see `hearth history list`).
    #[arg(long, short = 'c')]
    conversation: Option<String>,

    /// Applies to new conversations; a continued one keeps its own.
    #[command(flatten)]
    route: RouteArgs,

    /// Chat with this document collection (see `hearth docs add`): each turn
    /// gets the whole documents when they fit, else the passages retrieval
    /// finds, and the answer lists its sources. Kept with the conversation;
    /// `/docs NAME` changes it, `/docs off` detaches it.
    #[arg(long, value_name = "COLLECTION")]
    docs: Option<String>,

    #[command(flatten)]
    tools: ToolArgs,

    /// Whether a reasoning model thinks before it answers, where its chat
    /// template has the switch (Qwen3's `enable_thinking`). Kept with the
    /// conversation; `/think` changes it. Default: the model's own.
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    think: Option<bool>,

    /// Do not print a reasoning model's thinking (it is still kept with the
    /// answer). Shown by default on stderr, dimmed, between `Thinking...` and
    /// `...done thinking.`, as Ollama shows it.
    #[arg(long)]
    hide_thinking: bool,
}

/// `on`/`off` (also `true`/`false`, `yes`/`no`).
fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        other => Err(format!("\"{other}\": say on or off")),
    }
}

struct Session<'r> {
    app: App,
    runtime: &'r Runtime,
    interrupt: Interrupt,
    conversation: Conversation,
    options: TurnOptions,
    last: Option<Message>,
    /// The MCP tools offered (`--mcp`).
    tools: Option<Tools>,
    /// How tool calls show.
    screen: Screen,
    show_thinking: bool,
}

/// The chat's stdin, one line at a time: the messages typed and the answers
/// to its questions (a tool call, consent for the cloud) all come from here,
/// in the order typed. It holds stdin's lock only while it reads one line:
/// the lock is not reentrant, so a question asked while the prompt held it
/// would wait forever. Std's one buffer for the process keeps anything typed
/// ahead for the next read.
#[derive(Clone, Copy)]
pub(crate) struct Input;

impl Input {
    /// The next line without its line ending; `None` at end of input.
    pub(crate) fn line(self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        Ok(Some(line))
    }
}

impl Iterator for Input {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        self.line().transpose()
    }
}

pub(crate) fn chat(args: &Args) -> Result<()> {
    let app = args.model.app()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Checked before a conversation is created for nothing.
    if let Some(name) = &args.docs
        && app.store().doc_collection(name)?.is_none()
    {
        bail!("no collection named \"{name}\" (see `hearth docs list`)");
    }
    let screen = Screen::default();
    let host = (!args.tools.mcp.is_empty()).then(|| {
        Arc::new(crate::mcp::host(
            hearth_tools::Registry::in_home(app.config().home()),
            crate::mcp::DEFAULT_TIMEOUT_SECS,
            app.config().is_offline(),
        ))
    });
    let outcome = match &host {
        Some(host) => runtime
            .block_on(Tools::connect(host.clone(), &args.tools, screen.clone()))
            .map(Some),
        None => Ok(None),
    }
    .and_then(|tools| start(app, &runtime, args, tools, screen));
    // The servers' processes end with the chat, however it ends.
    if let Some(host) = host {
        runtime.block_on(host.shutdown());
    }
    outcome
}

/// Opens (or creates) the conversation and runs the session until Ctrl-D.
fn start(
    app: App,
    runtime: &Runtime,
    args: &Args,
    tools: Option<Tools>,
    screen: Screen,
) -> Result<()> {
    let conversation = match &args.conversation {
        Some(prefix) => resume(&app, prefix, args)?,
        None => {
            let (backend, model) = route::backend_and_model(&app, &args.model)?;
            app.store().create_conversation(&NewConversation {
                privacy: args.route.policy(backend.is_some())?,
                backend,
                model,
                system_prompt: args.system.clone(),
                sampling: Sampling {
                    thinking: args.think,
                    ..sampling(&args.sampling)
                },
                ..NewConversation::default()
            })?
        }
    };
    if let Some(name) = &args.docs {
        app.attach_docs(&conversation.id, Some(name))?;
    }
    let docs = app
        .attached_docs(&conversation.id)?
        .map(|name| format!(" · documents \"{name}\""))
        .unwrap_or_default();
    let offered = tools
        .as_ref()
        .map(|t| format!(" · {} tool(s), /tools lists them", t.tools.specs().len()))
        .unwrap_or_default();
    noteln!(
        "conversation {} · {} · {}{docs}{offered} · /help for commands, Ctrl-D to quit.",
        conversation.id,
        conversation
            .backend
            .as_deref()
            .or(conversation.model.as_deref())
            .unwrap_or("no model"),
        match &conversation.privacy {
            PrivacyPolicy::LocalOnly => "local only",
            PrivacyPolicy::AskBeforeCloud { .. } => "asks before cloud",
            PrivacyPolicy::CloudFallback { .. } => "cloud allowed",
        },
    );
    let mut session = Session {
        app,
        runtime,
        interrupt: Interrupt::install()?,
        conversation,
        options: TurnOptions {
            max_tokens: args.sampling.max_tokens,
            stop: args.sampling.stop.clone(),
            ..TurnOptions::default()
        },
        last: None,
        tools,
        screen,
        show_thinking: !args.hide_thinking,
    };

    let mut input = Input;
    loop {
        note!("> ");
        let Some(text) = read_message(&mut input)? else {
            noteln!();
            return Ok(());
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let outcome = match text.strip_prefix('/') {
            Some(command) => match session.command(command) {
                Ok(true) => Ok(()),
                Ok(false) => return Ok(()),
                Err(e) => Err(e),
            },
            None => session.send(text),
        };
        if let Err(e) = outcome {
            noteln!("error: {e:#}");
        }
    }
}

/// Opens an existing conversation; `-m` and `--system` update it.
fn resume(app: &App, prefix: &str, args: &Args) -> Result<Conversation> {
    let store = app.store();
    let id = store.resolve_conversation_prefix(prefix)?;
    let model = match &args.model.model {
        Some(_) => Some(args.model.reference()?),
        None => None,
    };
    let sampling = match args.think {
        Some(on) => Some(Sampling {
            thinking: Some(on),
            ..store.conversation(&id)?.sampling
        }),
        None => None,
    };
    let patch = ConversationPatch {
        model: model.map(Some),
        system_prompt: args.system.clone().map(Some),
        sampling,
        ..ConversationPatch::default()
    };
    Ok(store.update_conversation(&id, &patch)?)
}

/// How a conversation names its model: the absolute path of the file.
pub(crate) fn sampling(args: &SamplingArgs) -> Sampling {
    Sampling {
        temperature: Some(args.temperature),
        top_k: Some(args.top_k as u32),
        top_p: Some(args.top_p),
        min_p: Some(args.min_p),
        repeat_penalty: Some(args.repeat_penalty),
        seed: args.seed,
        max_tokens: None,
        thinking: None,
    }
}

impl Session<'_> {
    fn id(&self) -> &ConversationId {
        &self.conversation.id
    }

    fn send(&mut self, text: &str) -> Result<()> {
        route::with_consent(|consent| {
            let id = self.id().clone();
            self.chat_turn(
                ChatTurn::Send {
                    conversation: &id,
                    text,
                },
                consent,
                "",
            )
        })
    }

    /// Runs `turn` through core's one turn entry, with the chat's tools
    /// (when it has some), printing it; an answer being continued has `so_far`.
    fn chat_turn(&mut self, turn: ChatTurn<'_>, consent: Consent, so_far: &str) -> Result<()> {
        let app = self.app.clone();
        let options = TurnOptions {
            consent,
            ..self.options.clone()
        };
        // Lent to this turn (the turn borrows the session too).
        let mut tools = self.tools.take();
        let outcome = self.turn(so_far, |cancel, on_event| async {
            app.chat_turn(
                turn,
                &options,
                tools.as_mut().map(|t| &mut t.tools),
                cancel,
                on_event,
            )
            .await
        });
        self.tools = tools;
        outcome
    }

    /// Runs one turn, printing the answer as it streams (an answer being
    /// continued has `so_far`).
    fn turn<F, Fut>(&mut self, so_far: &str, start: F) -> Result<()>
    where
        F: FnOnce(tokio_util::sync::CancellationToken, Box<dyn FnMut(ChatEvent) + Send>) -> Fut,
        Fut: std::future::Future<Output = Result<TurnResult, hearth_core::CoreError>>,
    {
        let cancel = self.interrupt.start();
        let printer = Arc::new(Mutex::new(Printer::new(self.show_thinking, so_far)));
        let print = printer.clone();
        let screen = self.screen.clone();
        let on_event = Box::new(move |event: ChatEvent| match event {
            ChatEvent::Started { dropped_turns, .. } if dropped_turns > 0 => noteln!(
                "(the {dropped_turns} oldest turn(s) no longer fit the context window and were left out)"
            ),
            ChatEvent::Trimmed { dropped_turns, .. } => noteln!(
                "(the provider said the conversation is too long for the model; sending it again without the {dropped_turns} oldest turn(s))"
            ),
            ChatEvent::Documents { used } => noteln!("{}", used.summary()),
            ChatEvent::ToolResult { message } => screen.result(&message),
            ChatEvent::ToolLimit { rounds } => chat_tools::limit(&screen, rounds),
            ChatEvent::Token { text } => {
                print
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(&text);
                screen.wrote(&text);
            }
            _ => {}
        });
        let result = self.runtime.block_on(start(cancel, on_event));
        printer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .finish();
        self.interrupt.finish();
        let _ = outln!();
        self.screen.line_ended();
        let turn = result?;
        // The sources belong to the answer: on stdout with it.
        if !turn.citations.is_empty() {
            let _ = outln!("sources:");
            for c in &turn.citations {
                let _ = outln!("  {}", c.line());
            }
        }
        let answer = &turn.answer;
        if let Some(reason) = &answer.fallback_reason {
            noteln!(
                "(answered by {}:{} because {reason})",
                answer.backend.as_deref().unwrap_or("?"),
                answer.model.as_deref().unwrap_or("?")
            );
        } else if answer
            .backend
            .as_deref()
            .is_some_and(|b| b != hearth_core::LOCAL_BACKEND)
        {
            noteln!(
                "(answered by the cloud model {}:{})",
                answer.backend.as_deref().unwrap_or("?"),
                answer.model.as_deref().unwrap_or("?")
            );
        }
        if turn.answer.status == MessageStatus::Cancelled {
            noteln!("(stopped; /continue carries on)");
        }
        self.last = Some(turn.answer);
        Ok(())
    }

    /// Handles `/command`; returns false when the session should end.
    fn command(&mut self, command: &str) -> Result<bool> {
        let (name, rest) = command
            .split_once(char::is_whitespace)
            .unwrap_or((command, ""));
        match name {
            "system" => {
                let text = rest.trim();
                let patch = ConversationPatch {
                    system_prompt: Some((!text.is_empty()).then(|| text.to_owned())),
                    ..ConversationPatch::default()
                };
                self.conversation = self.app.store().update_conversation(self.id(), &patch)?;
                noteln!(
                    "system prompt {}",
                    if text.is_empty() { "removed" } else { "set" }
                );
            }
            "reset" => {
                let old = &self.conversation;
                let fresh = self.app.store().create_conversation(&NewConversation {
                    model: old.model.clone(),
                    backend: old.backend.clone(),
                    system_prompt: old.system_prompt.clone(),
                    sampling: old.sampling.clone(),
                    ..NewConversation::default()
                })?;
                if let Some(docs) = self.app.attached_docs(&old.id)? {
                    self.app.attach_docs(&fresh.id, Some(&docs))?;
                }
                self.conversation = fresh;
                self.last = None;
                if let Some(tools) = &self.tools {
                    tools.forget_allowed();
                }
                noteln!("conversation cleared (new conversation {})", self.id());
            }
            "regen" | "continue" => {
                let Some(last) = self.last_answer()? else {
                    bail!("there is no answer yet");
                };
                let continuing = name == "continue";
                if continuing {
                    // Show what is being continued, so the output reads on
                    // (its answer; thoughts so far are not repeated).
                    let _ = out!("{}", reasoning::split(&last.content).1);
                }
                let (turn, so_far) = if continuing {
                    (
                        ChatTurn::Continue { answer: &last.id },
                        last.content.as_str(),
                    )
                } else {
                    (ChatTurn::Regenerate { answer: &last.id }, "")
                };
                // With the chat's tools, asked about as for a new message.
                self.chat_turn(turn, self.options.consent, so_far)?;
            }
            "title" => {
                let title = self.runtime.block_on(self.app.suggest_title(self.id()))?;
                noteln!("title: {title}");
            }
            "stats" => match &self.last {
                Some(message) => noteln!("{}", stats_line(message)),
                None => noteln!("no answer yet"),
            },
            "id" => noteln!("{}", self.id()),
            "docs" => {
                let name = rest.trim();
                match name {
                    "" => match self.app.attached_docs(self.id())? {
                        Some(name) => noteln!("documents: \"{name}\""),
                        None => noteln!("no documents attached (/docs NAME attaches a collection)"),
                    },
                    "off" | "none" => {
                        self.app.attach_docs(self.id(), None)?;
                        noteln!("documents detached");
                    }
                    name => {
                        self.app.attach_docs(self.id(), Some(name))?;
                        noteln!("documents: \"{name}\"");
                    }
                }
            }
            "tools" => match &self.tools {
                Some(tools) => tools.print(),
                None => chat_tools::print_none(),
            },
            "think" => {
                let thinking = match rest.trim() {
                    "" => {
                        noteln!(
                            "thinking: {}",
                            switch_name(self.conversation.sampling.thinking)
                        );
                        return Ok(true);
                    }
                    "default" => None,
                    word => match parse_switch(word) {
                        Ok(on) => Some(on),
                        Err(e) => bail!("/think {e}"),
                    },
                };
                let patch = ConversationPatch {
                    sampling: Some(Sampling {
                        thinking,
                        ..self.conversation.sampling.clone()
                    }),
                    ..ConversationPatch::default()
                };
                self.conversation = self.app.store().update_conversation(self.id(), &patch)?;
                noteln!("thinking: {}", switch_name(thinking));
                if !self.app.supports_thinking(&self.conversation) {
                    noteln!(
                        "(this model's chat template has no thinking switch: kept for a model that has one)"
                    );
                }
            }
            "help" | "?" => noteln!("{HELP}"),
            "bye" | "quit" | "exit" => return Ok(false),
            other => noteln!("unknown command /{other}; /help lists them"),
        }
        Ok(true)
    }

    /// The newest answer on the active branch.
    fn last_answer(&self) -> Result<Option<Message>> {
        let path = self.app.store().active_path(self.id())?;
        Ok(path
            .into_iter()
            .rev()
            .find(|m| m.role == hearth_backend::Role::Assistant))
    }
}

fn switch_name(thinking: Option<bool>) -> &'static str {
    match thinking {
        Some(true) => "on",
        Some(false) => "off",
        None => "the model's default",
    }
}

/// `[prompt 31 tok (0 reused) · 24 tok at 61.2 tok/s · TTFT 0.08 s · 0.52 s · complete · model]`
fn stats_line(message: &Message) -> String {
    let m = &message.metrics;
    format!(
        "[prompt {} tok ({} reused) · {} tok at {:.1} tok/s · TTFT {:.2} s · {:.2} s · {} · {}]",
        m.tokens_in.unwrap_or(0),
        m.prompt_tokens_reused.unwrap_or(0),
        m.tokens_out.unwrap_or(0),
        m.decode_tok_s.unwrap_or(0.0),
        m.ttft_ms.unwrap_or(0.0) / 1000.0,
        m.latency_ms.unwrap_or(0.0) / 1000.0,
        message.status,
        message.model.as_deref().unwrap_or("?"),
    )
}

/// Reads one message; a trailing `\` continues it on the next line. `None` at EOF.
fn read_message(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<Option<String>> {
    let mut message = String::new();
    for line in lines {
        let line = line?;
        match line.strip_suffix('\\') {
            Some(part) => {
                message.push_str(part);
                message.push('\n');
            }
            None => {
                message.push_str(&line);
                return Ok(Some(message));
            }
        }
    }
    Ok((!message.is_empty()).then_some(message))
}
