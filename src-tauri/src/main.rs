//! `hearth-desktop`: Hearth's desktop app.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let _ = hearth_desktop::STARTED.set(std::time::Instant::now());
    let filter = tracing_subscriber::EnvFilter::try_from_env(hearth_core::env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // While still single-threaded: the CPU threads of the model last used.
    hearth_core::set_startup_threads();
    if let Err(e) = hearth_desktop::run() {
        tracing::error!(error = %e, "the desktop app stopped");
        std::process::exit(1);
    }
}
