//! The Hugging Face stand-in as a process, for end-to-end tests written outside
//! Rust: prints its endpoint on the first line of stdout, serves until stdin
//! closes. `--throttle BYTES_PER_SEC` slows file bodies (to watch progress).

#![allow(clippy::print_stderr)]

use std::io::{BufRead, Write};

use hearth_testkit::hf::{Faults, HfStandIn};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut throttle = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--throttle" => throttle = args.next().and_then(|v| v.parse().ok()),
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: hf-standin [--throttle BYTES_PER_SEC]"
                );
                std::process::exit(2);
            }
        }
    }
    let hub = HfStandIn::start_default();
    hub.set_faults(Faults {
        throttle,
        ..Faults::default()
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", hub.endpoint());
    let _ = out.flush();
    drop(out);
    // Serve until whoever started us closes our stdin.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}
