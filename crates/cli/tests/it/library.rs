//! The model library from the command line, against the Hugging Face stand-in:
//! search, files, pull (and a pull killed mid-download, resumed by a new
//! process), list, run by library id, rm, import, other apps' folders, tokens.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hearth_testkit::hf::{Faults, HfStandIn, TOKEN, repos};
use hearth_testkit::models::{self, SMOLLM2};
use serde_json::Value;

use crate::{Home, run_ok, texts};

fn hearth(home: &Home, hub: &HfStandIn) -> Command {
    let mut cmd = home.hearth();
    cmd.env("HF_ENDPOINT", hub.endpoint())
        .env_remove("HF_TOKEN")
        .env("HEARTH_EXTERNAL_MODELS", "0");
    cmd
}

fn list_json(home: &Home, hub: &HfStandIn) -> Value {
    let (stdout, _) = run_ok(hearth(home, hub).args(["list", "--json"]));
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn search_and_files_show_repos_and_fit() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let (stdout, _) = run_ok(hearth(&home, &hub).args(["search", "smollm2", "--json"]));
    let hits: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&repos::SMOLLM2), "{ids:?}");

    let (stdout, _) = run_ok(hearth(&home, &hub).args(["files", repos::SPLIT, "--json"]));
    let files: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "the split parts are one model: {names:?}");
    let split = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["quant"] == "Q4_K_M")
        .unwrap();
    assert_eq!(split["parts"].as_array().unwrap().len(), 2, "{split}");
    assert_eq!(split["quant"], "Q4_K_M");
    assert_eq!(split["fit"]["fit"], "fits");

    // The table form names the quantisation and the verdict.
    let (stdout, _) = run_ok(hearth(&home, &hub).args(["files", repos::SMOLLM2]));
    assert!(
        stdout.contains("Q4_1") && stdout.contains("fits"),
        "{stdout}"
    );
}

#[test]
fn pull_then_run_by_id_then_rm() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let (_, stderr) = run_ok(hearth(&home, &hub).args(["pull", repos::SMOLLM2]));
    assert!(stderr.contains("is in the library"), "{stderr}");

    let list = list_json(&home, &hub);
    let model = &list["models"][0];
    let id = model["id"].as_str().unwrap().to_owned();
    assert_eq!(model["architecture"], "llama");
    assert_eq!(model["quant"], "Q4_1");
    assert_eq!(model["size"], SMOLLM2.size);
    assert_eq!(model["has_chat_template"], true);
    assert_eq!(model["source"]["repo"], repos::SMOLLM2);
    assert!(model["last_used"].is_null());
    assert!(list["partial_downloads"].as_array().unwrap().is_empty());

    // `-m ID` works wherever a model is named, and the run is remembered.
    let (stdout, _) = run_ok(hearth(&home, &hub).args([
        "run",
        "-m",
        &id,
        "--temperature",
        "0",
        "--max-tokens",
        "48",
        "--system",
        "You are a helpful assistant.",
        "What is the capital of France?",
    ]));
    assert!(stdout.contains("Paris"), "{stdout}");
    let list = list_json(&home, &hub);
    let model = &list["models"][0];
    assert!(model["last_used"].is_u64(), "{model}");
    assert!(
        model["measured"]["decode_tok_s"].as_f64().unwrap() > 0.0,
        "{model}"
    );
    assert_eq!(model["fit"]["measured"], true);

    // With no -m, the most recently used model is the default.
    let (stdout, _) = run_ok(hearth(&home, &hub).args([
        "run",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "Say hi.",
    ]));
    assert!(!stdout.trim().is_empty());

    let (stdout, _) = run_ok(hearth(&home, &hub).args(["rm", &id]));
    assert!(stdout.contains("freed"), "{stdout}");
    assert!(
        list_json(&home, &hub)["models"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let left: Vec<_> = walk(&home.path().join("models"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    assert!(left.is_empty(), "rm must free the disk: {left:?}");

    // An unknown id is a clear error.
    let out = hearth(&home, &hub).args(["rm", &id]).output().unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("hearth list"), "{}", texts(&out).1);
}

#[test]
fn a_killed_pull_resumes_in_a_new_process() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    hub.set_faults(Faults {
        throttle: Some(8_000_000),
        ..Faults::default()
    });
    let mut child = hearth(&home, &hub)
        .args(["pull", repos::SMOLLM2])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial_dir = home.path().join("models/.partial");
    let deadline = Instant::now() + Duration::from_secs(120);
    let partial = loop {
        let part = walk(&partial_dir)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(".part"));
        if let Some(part) = part
            && std::fs::metadata(&part).map_or(0, |m| m.len()) > 10_000_000
        {
            break part;
        }
        assert!(child.try_wait().unwrap().is_none(), "pull ended early");
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept < SMOLLM2.size, "killed before the end");

    // The half-written model is never offered; the partial download is listed.
    let list = list_json(&home, &hub);
    assert!(list["models"].as_array().unwrap().is_empty(), "{list}");
    assert_eq!(list["partial_downloads"][0]["size"], SMOLLM2.size);

    hub.set_faults(Faults::default());
    let first = hub.bytes_served();
    let (_, stderr) = run_ok(hearth(&home, &hub).args(["pull", repos::SMOLLM2]));
    assert!(stderr.contains("resuming"), "{stderr}");
    let bodies = hub.file_bodies();
    let (range, sent) = bodies.last().unwrap().clone();
    let from: u64 = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("not a resume: {range:?}"));
    // The state file is saved every second, so the resume point may trail the
    // bytes on disk a little; it never passes them.
    assert!(
        from > 0 && from <= kept,
        "resumed at {from}, {kept} on disk"
    );
    assert_eq!(sent, SMOLLM2.size - from, "only the rest was sent");
    assert!(hub.bytes_served() - first < SMOLLM2.size);
    let list = list_json(&home, &hub);
    assert_eq!(list["models"][0]["size"], SMOLLM2.size);
    assert!(list["partial_downloads"].as_array().unwrap().is_empty());
}

#[test]
fn wrong_checksum_and_hostile_names_leave_nothing_in_the_library() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let out = hearth(&home, &hub)
        .args(["pull", repos::BAD_SHA])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("sha256"), "{stderr}");
    let out = hearth(&home, &hub)
        .args(["pull", repos::EVIL])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        texts(&out).1.contains("unsafe file name"),
        "{}",
        texts(&out).1
    );
    let out = hearth(&home, &hub)
        .args(["pull", "test-org/does-not-exist"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        texts(&out)
            .1
            .contains("test-org/does-not-exist was not found"),
        "{}",
        texts(&out).1
    );
    let list = list_json(&home, &hub);
    assert!(list["models"].as_array().unwrap().is_empty(), "{list}");
    assert!(list["partial_downloads"].as_array().unwrap().is_empty());
}

#[test]
fn gated_repos_need_a_token_from_the_keychain_or_the_environment() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    // The listing is public (as on the Hub); the files need a token.
    run_ok(hearth(&home, &hub).args(["files", repos::GATED]));
    let out = hearth(&home, &hub)
        .args(["pull", repos::GATED])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "accept its licence at {}/{}",
            hub.endpoint(),
            repos::GATED
        )) && stderr.contains("hearth login"),
        "{stderr}"
    );

    // From the environment.
    run_ok(
        hearth(&home, &hub)
            .env("HF_TOKEN", TOKEN)
            .args(["pull", repos::GATED]),
    );
    let list = list_json(&home, &hub);
    let id = list["models"][0]["id"].as_str().unwrap().to_owned();
    run_ok(hearth(&home, &hub).args(["rm", &id]));

    // From the keychain, stored by `hearth login` from stdin, which checks
    // the token with the Hub first: an expired one is refused, not stored.
    let login = |token: &str| {
        crate::run_with_input(hearth(&home, &hub).arg("login"), &format!("{token}\n"))
    };
    let expired = login("hf_expired_token_0000");
    let (_, err) = texts(&expired);
    assert!(!expired.status.success());
    assert!(err.contains("expired or was revoked"), "{err}");
    assert!(!err.contains("hf_expired"), "{err}");
    let refused = hearth(&home, &hub)
        .args(["pull", repos::GATED])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        texts(&refused).1.contains("accept its licence"),
        "the expired token was not kept: {}",
        texts(&refused).1
    );
    let out = login(TOKEN);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(
        texts(&out).1.contains(&format!(
            "logged in to Hugging Face as {}",
            hearth_testkit::hf::USER
        )),
        "{}",
        texts(&out).1
    );
    let pulled = hearth(&home, &hub)
        .args(["pull", repos::GATED])
        .output()
        .unwrap();
    run_ok(hearth(&home, &hub).arg("logout"));
    assert!(pulled.status.success(), "{}", texts(&pulled).1);
    assert!(hub.requests().iter().any(|r| r.authorized));
    // The token is never printed.
    for text in [texts(&pulled).0, texts(&pulled).1] {
        assert!(!text.contains(TOKEN));
    }
}

#[test]
fn import_and_models_of_other_apps_are_used_in_place() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("my-model.gguf");
    std::fs::copy(models::smollm2(), &file).unwrap();
    let (stdout, _) = run_ok(hearth(&home, &hub).arg("import").arg(&file));
    assert!(stdout.contains("used in place"), "{stdout}");
    let list = list_json(&home, &hub);
    let id = list["models"][0]["id"].as_str().unwrap().to_owned();
    run_ok(hearth(&home, &hub).args(["rm", &id]));
    assert!(
        file.is_file(),
        "rm of a by-reference import keeps the user's file"
    );

    // A truncated GGUF is refused at inspection.
    let bytes = std::fs::read(&file).unwrap();
    let broken = elsewhere.path().join("broken.gguf");
    std::fs::write(&broken, &bytes[..4096]).unwrap();
    let out = hearth(&home, &hub)
        .arg("import")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        texts(&out).1.contains("not a usable GGUF"),
        "{}",
        texts(&out).1
    );

    // An LM Studio folder under HOME is found, usable by id, and never deleted.
    let lms = elsewhere
        .path()
        .join(".lmstudio/models/someone/SmolLM2-GGUF");
    std::fs::create_dir_all(&lms).unwrap();
    std::fs::rename(&file, lms.join("smol-Q4_1.gguf")).unwrap();
    let found = |cmd: &mut Command| {
        cmd.env("HEARTH_EXTERNAL_MODELS", "1")
            .env("HOME", elsewhere.path())
            .env("HF_HUB_CACHE", elsewhere.path().join("no-hf-cache"))
            .env("OLLAMA_MODELS", elsewhere.path().join("no-ollama"));
    };
    let mut cmd = hearth(&home, &hub);
    found(cmd.args(["list", "--json"]));
    let (stdout, _) = run_ok(&mut cmd);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let model = &list["models"][0];
    assert_eq!(model["source"]["app"], "lm_studio", "{list}");
    let id = model["id"].as_str().unwrap().to_owned();
    let mut cmd = hearth(&home, &hub);
    found(cmd.args(["run", "-m", &id, "--max-tokens", "4", "Hi"]));
    run_ok(&mut cmd);
    let mut cmd = hearth(&home, &hub);
    found(cmd.args(["rm", &id]));
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("LM Studio"), "{}", texts(&out).1);
    assert!(lms.join("smol-Q4_1.gguf").is_file());
}

#[test]
fn catalog_recommends_a_model_that_fits() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let (stdout, _) = run_ok(hearth(&home, &hub).args(["catalog", "--json"]));
    let entries: Value = serde_json::from_str(&stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert!((8..=12).contains(&entries.len()), "{}", entries.len());
    let best: Vec<_> = entries
        .iter()
        .filter(|e| e["recommended"] == true)
        .collect();
    assert_eq!(best.len(), 1, "one recommendation on a 24 GiB machine");
    assert_ne!(best[0]["fit"]["fit"], "wont_fit");

    // With an empty library, `run` says how to get a model.
    let out = hearth(&home, &hub).args(["run", "Hello"]).output().unwrap();
    assert!(!out.status.success());
    assert!(texts(&out).1.contains("hearth pull"), "{}", texts(&out).1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Issues 17 and 21: a library model's load settings are kept with it, used
/// by every command that loads it, counted in its fit, and a flag wins.
#[test]
fn model_settings_are_kept_used_by_run_and_a_flag_wins() {
    let hub = HfStandIn::start_default();
    let home = Home::new();
    let (stdout, _) = run_ok(hearth(&home, &hub).arg("import").arg(models::smollm2()));
    assert!(stdout.contains("used in place"), "{stdout}");
    let id = list_json(&home, &hub)["models"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let settings = |args: &[&str]| {
        let (stdout, _) = run_ok(
            hearth(&home, &hub)
                .args(["model-settings", &id, "--json"])
                .args(args),
        );
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let default = settings(&[]);
    assert_eq!(default["context_length"], Value::Null, "{default}");
    let set = settings(&["--ctx", "256", "--kv-type", "q8_0"]);
    assert_eq!(set["context_length"], 256, "{set}");
    assert_eq!(set["kv_type"], "q8_0", "{set}");
    assert!(
        set["fit"]["kv_cache"].as_u64().unwrap() < default["fit"]["kv_cache"].as_u64().unwrap(),
        "{set} {default}"
    );
    // Kept: shown again without flags, and in the text form.
    assert_eq!(settings(&[])["kv_type"], "q8_0");
    let (text, _) = run_ok(hearth(&home, &hub).args(["model-settings", &id]));
    assert!(text.contains("kv cache q8_0\n"), "{text}");
    assert!(text.contains("device   auto (default)"), "{text}");
    assert!(text.contains("(default: all cores)"), "{text}");

    // Threads: kept, taken by a process's first load; `--threads` wins.
    assert_eq!(settings(&["--threads", "1"])["threads"], 1);
    let bench_threads = |flags: &[&str]| {
        let (stdout, _) = run_ok(
            hearth(&home, &hub)
                .args(["bench", "--json", "--runs", "1", "--prompt-tokens", "8"])
                .args(["--gen-tokens", "2", "-m", &id])
                .args(flags),
        );
        serde_json::from_str::<Value>(&stdout).unwrap()["threads"].clone()
    };
    assert_eq!(bench_threads(&[]), 1);
    assert_eq!(bench_threads(&["--threads", "2"]), 2);

    // `run` loads it with a 256-token window, which this prompt overflows;
    // `--ctx` wins over the setting.
    let long = "word ".repeat(400);
    let out = hearth(&home, &hub)
        .args(["run", "-m", &id, "--max-tokens", "4", &long])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", texts(&out).1);
    assert!(texts(&out).1.contains("256"), "{}", texts(&out).1);
    run_ok(hearth(&home, &hub).args([
        "run",
        "-m",
        &id,
        "--ctx",
        "2048",
        "--max-tokens",
        "4",
        &long,
    ]));

    // Bad values are refused and change nothing; --reset forgets them.
    for bad in [
        &["--ctx", "10"][..],
        &["--kv-type", "q4_1"],
        &["--device", "tpu"],
        &["--threads", "0"],
        &["--threads", "100000"],
        &["--threads", "four"],
    ] {
        let out = hearth(&home, &hub)
            .args(["model-settings", &id])
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
    }
    assert_eq!(settings(&[])["context_length"], 256);
    assert_eq!(settings(&[])["threads"], 1);
    let out = hearth(&home, &hub)
        .args(["model-settings", "no-such-model"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let reset = settings(&["--reset"]);
    assert_eq!(reset["kv_type"], Value::Null, "{reset}");
    assert_eq!(reset["threads"], Value::Null, "{reset}");
    run_ok(hearth(&home, &hub).args(["run", "-m", &id, "--max-tokens", "4", &long]));
}
