//! `hearth chat`: an interactive session. History lives for the session; each turn
//! reuses the model's cache for the conversation so far, so only the new message
//! is processed. Ctrl-C stops the answer being written, Ctrl-D ends the session.

use std::io::BufRead;

use anyhow::Result;
use hearth_backend::Message;
use hearth_engine::{Completion, Engine, Prompt};

use crate::args::{ModelArgs, SamplingArgs};
use crate::interrupt::Interrupt;
use crate::{stats, stream};

const HELP: &str = "\
commands:
  /system TEXT   set the system prompt (empty TEXT removes it)
  /reset         forget the conversation (keeps the system prompt)
  /stats         statistics of the last answer
  /help          this list
  Ctrl-C stops an answer; Ctrl-D (or /bye) quits.
  End a line with \\ to continue the message on the next line.";

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    sampling: SamplingArgs,

    /// System prompt.
    #[arg(long)]
    system: Option<String>,
}

/// The conversation of one session.
struct Session {
    system: Option<String>,
    turns: Vec<Message>,
    last: Option<Completion>,
}

impl Session {
    fn messages(&self) -> Vec<Message> {
        let system = self.system.iter().map(Message::system);
        system.chain(self.turns.iter().cloned()).collect()
    }
}

#[allow(clippy::print_stderr)]
pub(crate) fn chat(args: &Args) -> Result<()> {
    let engine = args.model.load()?;
    let interrupt = Interrupt::install()?;
    let info = engine.info();
    eprintln!(
        "{} ({}, {} layers, context {}) loaded in {:.2} s on {}. /help for commands, Ctrl-D to quit.",
        info.name.as_deref().unwrap_or("model"),
        info.architecture,
        info.n_layers,
        info.context_length,
        engine.load_time().as_secs_f64(),
        engine.device_name(),
    );

    let mut session = Session {
        system: args.system.clone(),
        turns: Vec::new(),
        last: None,
    };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("> ");
        let Some(input) = read_message(&mut lines)? else {
            eprintln!();
            return Ok(());
        };
        let input = input.trim();
        if input.is_empty() {
            continue;
        }
        if let Some(command) = input.strip_prefix('/') {
            if !run_command(command, &mut session, engine.info()) {
                return Ok(());
            }
            continue;
        }
        session.turns.push(Message::user(input));
        match answer(&engine, &session, args, &interrupt) {
            Ok(completion) => {
                session
                    .turns
                    .push(Message::assistant(completion.text.clone()));
                session.last = Some(completion);
            }
            Err(e) => {
                // The turn failed before an answer existed: take the message back so
                // the session stays consistent; the user still has it on screen.
                session.turns.pop();
                eprintln!("error: {e:#}");
            }
        }
    }
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

/// Handles `/command`; returns false when the session should end.
#[allow(clippy::print_stderr)]
fn run_command(command: &str, session: &mut Session, info: &hearth_engine::ModelInfo) -> bool {
    let (name, rest) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    match name {
        "system" => {
            let text = rest.trim();
            session.system = (!text.is_empty()).then(|| text.to_owned());
            eprintln!(
                "system prompt {}",
                if text.is_empty() { "removed" } else { "set" }
            );
        }
        "reset" => {
            session.turns.clear();
            session.last = None;
            eprintln!("conversation cleared");
        }
        "stats" => match &session.last {
            Some(completion) => stats::print(completion, info),
            None => eprintln!("no answer yet"),
        },
        "help" | "?" => eprintln!("{HELP}"),
        "bye" | "quit" | "exit" => return false,
        other => eprintln!("unknown command /{other}; /help lists them"),
    }
    true
}

fn answer(
    engine: &Engine,
    session: &Session,
    args: &Args,
    interrupt: &Interrupt,
) -> Result<Completion> {
    let request = args.sampling.request(Prompt::Chat(session.messages()));
    stream::answer(engine, request, interrupt)
}
