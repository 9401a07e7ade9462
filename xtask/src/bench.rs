//! `cargo xtask bench [SUITE]`: Hearth's benchmarks. Each suite prints ratios against
//! a reference measured by the same run, never a bare time to compare across machines.
//!
//! - `engine`: `hearth bench` on both test models next to llama.cpp
//!   (`--vs-llama-cpp DIR`: a llama.cpp build, round by round, with load time,
//!   resident memory and the share of the memory-bandwidth ceiling).
//! - `kernels`: the many-rows kernels (several conversations decoded at once)
//!   next to the row kernel run once per activation row, per quant type.
//! - `store`: the history database with 100,000 messages (search, list, append).
//! - `hub`: pulls from the Hugging Face stand-in next to a plain GET; resume after a cut.
//! - `providers`: a long streamed answer through hearth-providers next to a plain POST.
//! - `server`: a streamed answer through `hearth serve`'s API next to the engine directly.
//! - `desktop`: the app's start to an interactive window, idle memory, binary size.

mod desktop;
mod engine;
mod hub;
mod kernels;
mod providers;
mod server;
mod store;

use anyhow::Result;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Which suite to run (default: all of them).
    #[arg(value_enum)]
    suite: Option<Suite>,
    #[command(flatten)]
    engine: engine::EngineArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Suite {
    Engine,
    Kernels,
    Store,
    Hub,
    Providers,
    Server,
    Desktop,
}

pub(crate) fn bench(args: &Args) -> Result<()> {
    // `--vs-llama-cpp` is about the engine: it alone runs unless a suite is named.
    let default = if args.engine.vs_llama_cpp.is_some() {
        Some(Suite::Engine)
    } else {
        None
    };
    let run = |suite| args.suite.or(default).is_none_or(|s| s == suite);
    if run(Suite::Engine) {
        engine::bench(&args.engine)?;
    }
    if run(Suite::Kernels) {
        kernels::bench()?;
    }
    if run(Suite::Store) {
        store::bench()?;
    }
    if run(Suite::Hub) {
        hub::bench()?;
    }
    if run(Suite::Providers) {
        providers::bench()?;
    }
    if run(Suite::Server) {
        server::bench()?;
    }
    if run(Suite::Desktop) {
        desktop::bench()?;
    }
    Ok(())
}
