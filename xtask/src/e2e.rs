//! `cargo xtask e2e`: the desktop app driven from outside, as a user would.
//!
//! Builds the UI, the app, the CLI and the Hugging Face stand-in; makes sure
//! tauri-driver (cargo install, pinned to 2.x) and Selenium (a venv) are in
//! `~/.cache/hearth`; then runs `tests/e2e/desktop.py` under Xvfb. Screenshots
//! land in `target/e2e-artifacts` (or `$HEARTH_E2E_ARTIFACTS`).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, fetch, target_dir, workspace_root};

fn cache() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/hearth"))
}

pub(crate) fn run() -> Result<()> {
    for tool in ["xvfb-run", "WebKitWebDriver"] {
        if Command::new("which")
            .arg(tool)
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("`{tool}` is missing: apt install xvfb xauth webkit2gtk-driver");
        }
    }
    let model = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    let embed_model = fetch::fetch_minilm()?;
    if !workspace_root().join("ui/dist/index.html").is_file() {
        crate::ui()?;
    }
    exec(cargo().args([
        "build",
        "--locked",
        "-p",
        "hearth-desktop",
        "-p",
        "hearth-cli",
        "-p",
        "hearth-testkit",
        "--bins",
    ]))?;
    let tools = cache()?.join("tools");
    let driver = tools.join("bin/tauri-driver");
    if !driver.is_file() {
        exec(
            cargo()
                .args([
                    "install",
                    "tauri-driver",
                    "--version",
                    "^2",
                    "--locked",
                    "--root",
                ])
                .arg(&tools),
        )?;
    }
    let venv = cache()?.join("e2e-venv");
    let python = venv.join("bin/python3");
    let has_selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_selenium {
        exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        exec(Command::new(&python).args(["-m", "pip", "install", "--quiet", "selenium>=4.20,<5"]))?;
    }
    let bin = target_dir().join("debug");
    let artifacts = std::env::var_os("HEARTH_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("e2e-artifacts"));
    exec(
        Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x800x24"])
            .arg(&python)
            .arg(workspace_root().join("tests/e2e/desktop.py"))
            .env("HEARTH_E2E_APP", bin.join("hearth-desktop"))
            .env("HEARTH_E2E_CLI", bin.join("hearth"))
            .env("HEARTH_E2E_STANDIN", bin.join("hf-standin"))
            .env("HEARTH_E2E_PROVIDER", bin.join("provider-standin"))
            .env("HEARTH_E2E_MODEL", &model)
            .env("HEARTH_E2E_EMBED_MODEL", &embed_model)
            .env("HEARTH_E2E_DRIVER", &driver)
            .env("HEARTH_E2E_ARTIFACTS", &artifacts),
    )
}

/// `cargo xtask e2e-server`: `hearth serve` through the official `openai`
/// Python package (`tests/e2e/openai_client.py`); the package goes into a venv
/// in `~/.cache/hearth/api-venv` on first use.
pub(crate) fn server() -> Result<()> {
    let model = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    exec(cargo().args(["build", "--locked", "-p", "hearth-cli", "--bins"]))?;
    let venv = cache()?.join("api-venv");
    let python = venv.join("bin/python3");
    let has_openai = Command::new(&python)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openai {
        exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        exec(Command::new(&python).args(["-m", "pip", "install", "--quiet", "openai>=1.40,<3"]))?;
    }
    exec(
        Command::new(&python)
            .arg(workspace_root().join("tests/e2e/openai_client.py"))
            .env("HEARTH_E2E_CLI", target_dir().join("debug/hearth"))
            .env("HEARTH_E2E_MODEL", &model),
    )
}

/// `cargo xtask e2e-browser`: `hearth serve` attacked from web pages in
/// headless Chromium (`tests/e2e/browser/origin.mjs`). Chromium is Debian's
/// (`apt install chromium`; `HEARTH_E2E_CHROMIUM` names another binary);
/// playwright-core comes from npm as `tests/e2e/browser/package-lock.json`
/// pins it, and is only a driver: it downloads no browser.
pub(crate) fn browser() -> Result<()> {
    let chromium = std::env::var_os("HEARTH_E2E_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        bail!(
            "{} is missing: apt install chromium (or set HEARTH_E2E_CHROMIUM)",
            chromium.display()
        );
    }
    let model = fetch::fetch(&hearth_testkit::models::SMOLLM2)?;
    exec(cargo().args(["build", "--locked", "-p", "hearth-cli", "--bins"]))?;
    let dir = workspace_root().join("tests/e2e/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        exec(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )?;
    }
    exec(
        Command::new("node")
            .arg(dir.join("origin.mjs"))
            .env("HEARTH_E2E_CLI", target_dir().join("debug/hearth"))
            .env("HEARTH_E2E_MODEL", &model)
            .env("HEARTH_E2E_CHROMIUM", &chromium),
    )
}
