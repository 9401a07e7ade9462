//! Keys without a keychain, end to end through `hearth`: a headless machine
//! with no D-Bus at all, and a desktop session whose keyring is locked
//! (gnome-keyring started without `--unlock` in a private D-Bus session). The
//! key goes in through the environment and must come out nowhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_testkit::providers::{StandIn, Wire};

use crate::{Home, run_ok, texts};

const KEY: &str = "sk-planted-headless-key-0042-abcdefgh";

fn standin() -> (tokio::runtime::Runtime, StandIn) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    standin.set_answer("Paris is the capital of France.");
    (runtime, standin)
}

fn holds(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(holds(&path, needle));
        } else if kind.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn headless_without_dbus_keys_live_in_the_encrypted_database() {
    let (_runtime, standin) = standin();
    let home = Home::new();
    let runtime_dir = tempfile::tempdir().unwrap();
    // No session bus anywhere: not in the environment, not in XDG_RUNTIME_DIR.
    let headless = || {
        let mut cmd = home.hearth();
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", runtime_dir.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    };
    let add = |store: Option<&str>| {
        let mut cmd = headless();
        cmd.args(["provider", "add", "openai", "--name", "lab", "--base-url"])
            .arg(standin.base_url())
            .env("OPENAI_API_KEY", KEY);
        if let Some(store) = store {
            cmd.args(["--store", store]);
        }
        cmd.output().unwrap()
    };
    // The keychain is the default and there is none: refused, saying what
    // to do, and nothing is kept anywhere.
    let refused = add(None);
    let (_, err) = texts(&refused);
    assert!(!refused.status.success());
    assert!(err.contains("no OS keychain is available"), "{err}");
    assert!(err.contains("--store db"), "{err}");
    let (out, err) = run_ok(headless().args(["provider", "list"]));
    assert!(!out.contains("lab"), "{out}{err}");

    // Chosen: the encrypted database.
    let added = add(Some("db"));
    let (_, err) = texts(&added);
    assert!(added.status.success(), "{err}");
    assert!(err.contains("sk-…efgh in the encrypted database"), "{err}");
    let (out, _) = run_ok(headless().args(["provider", "list"]));
    assert!(
        out.contains("lab") && out.contains("key sk-…efgh in the encrypted database"),
        "{out}"
    );

    // A chat against the OpenAI stand-in, the variable gone.
    let (out, err) = run_ok(headless().args([
        "run",
        "-m",
        "lab:gpt-4o-mini",
        "What is the capital of France?",
    ]));
    assert_eq!(out.trim(), "Paris is the capital of France.", "{err}");
    assert_eq!(standin.request_count(), 1);

    // The default can be the database too; `hearth keys` says where.
    run_ok(headless().args(["keys", "--default", "db"]));
    let (out, _) = run_ok(headless().arg("keys"));
    assert!(
        out.contains("new keys go to the encrypted database"),
        "{out}"
    );
    assert!(
        out.contains("lab") && out.contains("in the encrypted database"),
        "{out}"
    );

    // The key is nowhere in the data folder in the clear.
    assert_eq!(holds(home.path(), KEY), Vec::<String>::new());
    assert_eq!(holds(home.path(), "sk-planted"), Vec::<String>::new());
}

#[test]
fn a_key_from_the_environment_is_used_for_the_session_and_never_stored() {
    let (_runtime, standin) = standin();
    let home = Home::new();
    let (_, err) = run_ok(
        home.hearth()
            .args([
                "provider",
                "add",
                "openai",
                "--name",
                "lab",
                "--store",
                "env",
                "--base-url",
            ])
            .arg(standin.base_url())
            .env("OPENAI_API_KEY", KEY),
    );
    assert!(
        err.contains("from OPENAI_API_KEY (this session only)"),
        "{err}"
    );
    let (out, _) = run_ok(
        home.hearth()
            .args(["run", "-m", "lab:gpt-4o-mini", "hi"])
            .env("OPENAI_API_KEY", KEY),
    );
    assert_eq!(out.trim(), "Paris is the capital of France.");
    // Listed as such; and with the variable alone, OpenAI itself is there
    // for the session.
    let (out, _) = run_ok(
        home.hearth()
            .args(["provider", "list"])
            .env("OPENAI_API_KEY", KEY),
    );
    let openai = out.lines().find(|l| l.starts_with("openai ")).unwrap();
    assert!(
        openai.contains("session") && openai.contains("from OPENAI_API_KEY"),
        "{out}"
    );
    // Without the variable the provider says what it misses.
    let failed = home
        .hearth()
        .args(["run", "-m", "lab:gpt-4o-mini", "hi"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let (_, err) = texts(&failed);
    assert!(!failed.status.success());
    assert!(err.contains("OPENAI_API_KEY, which is not set"), "{err}");
    assert_eq!(holds(home.path(), "sk-planted"), Vec::<String>::new());
}

/// Runs `script` (sh) in a private D-Bus session; gives up (failing the
/// test) only if it hangs for minutes, so a hang fails instead of stalling CI.
fn in_dbus_session(script: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "sh", "-c", script])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("dbus-run-session (apt dbus) is needed: run the tests through `cargo xtask test`");
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the locked-keyring session hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    texts(&out)
}

/// The session: a login keyring with a password, unlocked as after logging
/// in; the first run puts the database key there. Then the keyring daemon is
/// replaced by one that was not unlocked (a locked keyring, as after a login
/// that did not unlock it), with no display for its unlock prompt.
const LOCKED_SESSION: &str = r#"set -u
unset DISPLAY WAYLAND_DISPLAY GNOME_KEYRING_CONTROL
export XDG_DATA_HOME="$T/data" XDG_RUNTIME_DIR="$T/run"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
eval "$(printf 'login-password\n' | gnome-keyring-daemon --unlock --components=secrets)"
HEARTH_HOME="$T/keychain-home" "$HEARTH" history list >/dev/null 2>"$T/first.err"
echo "first=$?"
gnome-keyring-daemon --replace --components=secrets >/dev/null 2>&1
HEARTH_HOME="$T/keychain-home" "$HEARTH" history list 2>"$T/locked.err"
echo "locked=$?"
HEARTH_HOME="$T/passphrase-home" HEARTH_DB_PASSPHRASE=pp OPENAI_API_KEY="$KEY" \
  "$HEARTH" provider add openai --name lab --store db --base-url "$URL" 2>"$T/add.err"
echo "add=$?"
HEARTH_HOME="$T/passphrase-home" HEARTH_DB_PASSPHRASE=pp \
  "$HEARTH" run -m lab:gpt-4o-mini "What is the capital of France?" >"$T/run.out" 2>"$T/run.err"
echo "run=$?"
HEARTH_HOME="$T/passphrase-home" HEARTH_DB_PASSPHRASE=pp OPENAI_API_KEY="$KEY" \
  "$HEARTH" provider add openai --name kc --base-url "$URL" 2>"$T/kc.err"
echo "kc=$?"
"#;

#[test]
fn a_locked_keyring_is_said_clearly_and_a_passphrase_never_touches_it() {
    let (_runtime, standin) = standin();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().to_str().unwrap();
    let (out, err) = in_dbus_session(
        LOCKED_SESSION,
        &[
            ("T", t),
            ("HEARTH", env!("CARGO_BIN_EXE_hearth")),
            ("KEY", KEY),
            ("URL", standin.base_url()),
            ("HEARTH_LOG", "warn"),
        ],
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        out.contains("first=0"),
        "{out}\n{err}\n{}",
        read("first.err")
    );

    // Locked, with the history's key in it: a clear error, at once.
    assert!(out.contains("locked=1"), "{out}");
    let locked = read("locked.err");
    assert!(
        locked
            .contains("the OS keychain is locked, and the key of your chat history is kept there"),
        "{locked}"
    );
    assert!(locked.contains("unlock it"), "{locked}");
    assert!(!locked.contains("panicked"), "{locked}");

    // With a passphrase and the key in the database, the locked keychain is
    // never needed: add and chat work.
    assert!(out.contains("add=0"), "{out}\n{}", read("add.err"));
    assert!(out.contains("run=0"), "{out}\n{}", read("run.err"));
    assert_eq!(read("run.out").trim(), "Paris is the capital of France.");
    // Asking for the keychain then says it is locked, and stores nothing.
    assert!(out.contains("kc=1"), "{out}");
    let kc = read("kc.err");
    assert!(kc.contains("the OS keychain is locked"), "{kc}");
    assert_eq!(holds(dir.path(), "sk-planted"), Vec::<String>::new());
}
