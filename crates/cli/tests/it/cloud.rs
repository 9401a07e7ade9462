//! `hearth provider`, a cloud `run`, the policy, the ledger and the offline
//! switch, against an OpenAI stand-in on 127.0.0.1. The key goes in through
//! the environment and must come out nowhere.

use hearth_testkit::providers::{StandIn, Wire};

use crate::{Home, run_ok, texts};

const KEY: &str = "sk-planted-cli-key-0042-abcdefgh";

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_provider_from_add_to_answer_with_its_key_kept_secret() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    standin.set_answer("Paris is the capital of France.");
    let home = Home::new();
    // The keychain is shared by every test: a name of its own.
    let name = format!("standin{}", std::process::id());
    let cloud = format!("{name}:gpt-4o-mini");
    let mut all_output = String::new();

    let (_, err) = run_ok(
        home.hearth()
            .args(["provider", "add", "openai", "--name", &name, "--base-url"])
            .arg(standin.base_url())
            .env("OPENAI_API_KEY", KEY),
    );
    all_output += &err;
    let (out, _) = run_ok(home.hearth().args(["provider", "list"]));
    assert!(out.contains(&name) && out.contains("sk-…efgh"), "{out}");
    all_output += &out;
    let (out, _) = run_ok(home.hearth().args(["provider", "test", &name]));
    assert!(out.contains("connected"), "{out}");

    let (out, err) = run_ok(home.hearth().env("HEARTH_LOG", "debug").args([
        "run",
        "-m",
        &cloud,
        "What is the capital of France?",
    ]));
    assert_eq!(out.trim(), "Paris is the capital of France.");
    assert!(err.contains(&format!("answered by {cloud}")), "{err}");
    all_output += &out;
    all_output += &err;
    let body = standin.requests().last().unwrap().body.clone();
    assert_eq!(
        body["messages"][0]["content"],
        "What is the capital of France?"
    );

    // A local-only conversation sends nothing, whatever model it names.
    let before = standin.request_count();
    let refused = home
        .hearth()
        .args(["run", "-m", &cloud, "--policy", "local-only", "hi"])
        .output()
        .unwrap();
    let (_, err) = texts(&refused);
    assert!(!refused.status.success());
    assert!(err.contains("local only"), "{err}");
    assert_eq!(standin.request_count(), before);

    let (out, _) = run_ok(home.hearth().args(["network", "log"]));
    assert!(
        out.contains("127.0.0.1") && out.contains("provider call"),
        "{out}"
    );
    all_output += &out;

    // Offline: no connection at all, and it says so.
    run_ok(home.hearth().args(["network", "offline"]));
    let offline = home
        .hearth()
        .args(["provider", "test", &name])
        .output()
        .unwrap();
    let (_, err) = texts(&offline);
    assert!(
        !offline.status.success() && err.contains("offline"),
        "{err}"
    );
    let offline = home
        .hearth()
        .args(["run", "-m", &cloud, "hi"])
        .output()
        .unwrap();
    let (_, err) = texts(&offline);
    assert!(
        !offline.status.success() && err.contains("offline"),
        "{err}"
    );
    let pull = home.hearth().args(["search", "smollm"]).output().unwrap();
    assert!(!pull.status.success() && texts(&pull).1.contains("offline"));
    assert_eq!(standin.request_count(), before);
    run_ok(home.hearth().args(["network", "online"]));

    let (out, _) = run_ok(home.hearth().args(["stats"]));
    assert!(out.contains(&cloud), "{out}");
    let (out, _) = run_ok(home.hearth().args(["router", "--min-speed", "5"]));
    assert!(out.contains("below 5.0 tokens/s"), "{out}");
    let (out, _) = run_ok(home.hearth().args(["router"]));
    assert!(out.contains("below 5.0 tokens/s"), "kept: {out}");

    run_ok(home.hearth().args(["provider", "rm", &name]));
    assert!(!all_output.contains(KEY), "the key was printed");
    for file in files_under(home.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
}

/// Issue 21: a provider's context window, set when it is added and changed
/// or cleared later, shown in `provider list` (and its JSON).
#[test]
fn a_providers_context_window_is_set_shown_and_cleared() {
    let home = Home::new();
    let list = |home: &Home| {
        let (out, _) = run_ok(home.hearth().args(["provider", "list", "--json"]));
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        list[0]["contextWindow"].clone()
    };
    run_ok(home.hearth().args([
        "provider",
        "add",
        "compat",
        "--name",
        "lan",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--no-key",
        "--context-window",
        "8192",
    ]));
    let (out, _) = run_ok(home.hearth().args(["provider", "window", "lan"]));
    assert_eq!(out.trim(), "lan: window 8192 tokens");
    assert_eq!(
        list(&home),
        serde_json::json!({"source": "override", "tokens": 8192})
    );

    let (out, _) = run_ok(home.hearth().args(["provider", "window", "lan", "4096"]));
    assert_eq!(out.trim(), "lan: window 4096 tokens");
    let (out, _) = run_ok(home.hearth().args(["provider", "list"]));
    assert!(out.contains("window 4096 tokens"), "{out}");

    let (out, _) = run_ok(home.hearth().args(["provider", "window", "lan", "none"]));
    assert_eq!(out.trim(), "lan: window per model");
    assert_eq!(list(&home), serde_json::json!({"source": "unknown"}));

    for bad in ["10", "lots"] {
        let output = home
            .hearth()
            .args(["provider", "window", "lan", bad])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad}");
        let (_, err) = texts(&output);
        assert!(
            err.contains("too small") || err.contains("not a number"),
            "{err}"
        );
    }
    let output = home
        .hearth()
        .args(["provider", "window", "nobody", "4096"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}
