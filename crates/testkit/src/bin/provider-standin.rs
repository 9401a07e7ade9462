//! An OpenAI-compatible provider stand-in as a process, for end-to-end tests
//! written outside Rust: prints its base URL (`http://127.0.0.1:PORT/v1`) on
//! the first line of stdout, serves until stdin closes.

#![allow(clippy::print_stderr)]

use std::io::{BufRead, Write};

use hearth_testkit::providers::{StandIn, Wire};

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
    drop(out);
    // Serve until whoever started us closes our stdin.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}
