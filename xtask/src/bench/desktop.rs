//! `cargo xtask bench desktop`: the desktop app as users get it (`--profile
//! dist`): time from process start to an interactive window, memory at rest
//! with no model loaded (the app and its WebKit processes), and binary size,
//! each as a fraction of its budget (1 s, 150 MB, 30 MB). The app's own
//! process is also shown alone (its budget 60 MB), split as the kernel counts
//! it: private memory (`RssAnon`) and pages of mapped files, the binary and
//! the shared libraries (`RssFile`).
//!
//! The app runs on a private Xvfb display with an empty data directory; the UI
//! tells the shell when its first screen is up (`HEARTH_REPORT_READY`).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, target_dir, workspace_root};

const RUNS: usize = 3;
const READY_BUDGET_MS: f64 = 1000.0;
const RSS_BUDGET: f64 = 150e6;
const APP_RSS_BUDGET: f64 = 60e6;
const SIZE_BUDGET: f64 = 30e6;
const DISPLAY: &str = ":77";

#[allow(clippy::print_stdout)]
pub(crate) fn bench() -> Result<()> {
    if !workspace_root().join("ui/dist/index.html").is_file() {
        crate::ui()?;
    }
    exec(cargo().args([
        "build",
        "--profile",
        "dist",
        "--locked",
        "-p",
        "hearth-desktop",
        "--bin",
        "hearth-desktop",
    ]))?;
    let app = target_dir().join("dist/hearth-desktop");
    let size = std::fs::metadata(&app).context("the built app")?.len() as f64;

    let mut xvfb = Command::new("Xvfb")
        .args([DISPLAY, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start Xvfb (apt install xvfb)")?;
    std::thread::sleep(Duration::from_millis(500));
    let mut ready = Vec::new();
    let mut rss = Vec::new();
    let mut own = Vec::new();
    let result = (|| -> Result<()> {
        for _ in 0..RUNS {
            let (ms, bytes, app_memory) = one_start(&app)?;
            ready.push(ms);
            rss.push(bytes);
            own.push(app_memory);
        }
        Ok(())
    })();
    let _ = xvfb.kill();
    let _ = xvfb.wait();
    result?;
    let first = ready[0];
    ready.sort_by(f64::total_cmp);
    rss.sort_by(f64::total_cmp);
    own.sort_by(|a, b| a.vm_rss.total_cmp(&b.vm_rss));
    let ready_ms = ready[RUNS / 2];
    let rss = rss[RUNS / 2];
    let own = own[RUNS / 2];
    println!(
        "desktop: the dist build on Xvfb, median of {RUNS} starts (first start {first:.0} ms)"
    );
    println!(
        "  start to interactive window  {ready_ms:>7.0} ms   {:.2} of the 1 s budget",
        ready_ms / READY_BUDGET_MS
    );
    println!(
        "  idle memory, app + WebKit    {:>7.0} MB   {:.2} of the 150 MB budget",
        rss / 1e6,
        rss / RSS_BUDGET
    );
    println!(
        "  idle memory, app alone       {:>7.0} MB   {:.2} of the 60 MB budget \
         (private {:.0} MB, mapped files {:.0} MB, shared memory {:.0} MB)",
        own.vm_rss / 1e6,
        own.vm_rss / APP_RSS_BUDGET,
        own.rss_anon / 1e6,
        own.rss_file / 1e6,
        own.rss_shmem / 1e6,
    );
    println!(
        "  binary size                  {:>7.1} MB   {:.2} of the 30 MB budget",
        size / 1e6,
        size / SIZE_BUDGET
    );
    Ok(())
}

/// Resident memory of one process, in bytes, as `/proc/PID/status` gives it.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    vm_rss: f64,
    rss_anon: f64,
    rss_file: f64,
    rss_shmem: f64,
}

impl Memory {
    fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kb| kb * 1024.0)
        };
        Some(Self {
            vm_rss: field("VmRSS"),
            rss_anon: field("RssAnon"),
            rss_file: field("RssFile"),
            rss_shmem: field("RssShmem"),
        })
    }
}

/// Starts the app once: milliseconds until the UI was up, and the resident
/// memory of the app and its child processes three seconds later, and of the
/// app alone.
fn one_start(app: &std::path::Path) -> Result<(f64, f64, Memory)> {
    let home = tempfile::tempdir()?;
    let mut child = Command::new(app)
        .env("DISPLAY", DISPLAY)
        .env("HEARTH_HOME", home.path())
        .env("HEARTH_DB_PASSPHRASE", "bench passphrase")
        .env("HEARTH_EXTERNAL_MODELS", "0")
        .env("HEARTH_REPORT_READY", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot start the app")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(ms) = line.strip_prefix("ready_ms=") {
                let _ = tx.send(ms.trim().parse::<f64>().ok());
                return;
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(60));
    let measured = match ready {
        Ok(Some(ms)) => {
            std::thread::sleep(Duration::from_secs(3));
            Ok((ms, tree_rss(pid), Memory::of(pid).unwrap_or_default()))
        }
        _ => Err(anyhow::anyhow!(
            "the app did not report a ready window within 60 s"
        )),
    };
    let _ = Command::new("kill")
        .args(["-TERM", &format!("-{pid}")])
        .status();
    let _ = child.wait();
    let (ms, rss, own) = measured?;
    if rss <= 0.0 || own.vm_rss <= 0.0 {
        bail!("could not read the app's memory");
    }
    Ok((ms, rss, own))
}

/// Resident bytes of `root` and every process below it.
fn tree_rss(root: u32) -> f64 {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command name may hold spaces; the fields after its ')' do not.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree.iter()
        .filter_map(|&pid| Memory::of(pid))
        .map(|m| m.vm_rss)
        .sum()
}
