//! Writes the UI's TypeScript bindings: `codegen PATH` (run by `cargo xtask codegen`).

#![allow(clippy::print_stderr)] // a build tool: its errors go to the terminal

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: codegen PATH");
        std::process::exit(2);
    };
    if let Err(e) = hearth_desktop::export_bindings(std::path::Path::new(&path)) {
        eprintln!("cannot write the bindings: {e}");
        std::process::exit(1);
    }
}
