//! An OpenAI-compatible provider stand-in as a process, for end-to-end tests
//! written outside Rust: prints its base URL (`http://127.0.0.1:PORT/v1`) on
//! the first line of stdout, serves until stdin closes.
//!
//! Lines on stdin script the next answers (each acknowledged with `ok` on
//! stdout once queued, so the test knows):
//!
//! - `tool-call NAME ARGUMENTS_JSON`: an answer calling the tool `NAME`;
//! - `answer TEXT`: an answer of this text.

#![allow(clippy::print_stderr)]

use std::io::{BufRead, Write};

use hearth_testkit::providers::{Scripted, ScriptedCall, StandIn, Wire};

fn main() {
    if let Some(arg) = std::env::args().nth(1) {
        eprintln!("unknown argument {arg:?}; usage: provider-standin");
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", standin.base_url());
    let _ = out.flush();
    // Serve until whoever started us closes our stdin.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let scripted = match line.split_once(' ') {
            Some(("tool-call", rest)) => {
                let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
                Scripted::ToolCalls {
                    text: String::new(),
                    calls: vec![ScriptedCall::new(name, args)],
                }
            }
            Some(("answer", text)) => Scripted::Text(text.to_owned()),
            _ => {
                eprintln!("unknown line {line:?}; expected `tool-call NAME JSON` or `answer TEXT`");
                continue;
            }
        };
        standin.push_answer(scripted);
        let _ = writeln!(out, "ok");
        let _ = out.flush();
    }
}
