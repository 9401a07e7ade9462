//! The `hearth` binary driven as a user types it, on the real test models.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

use hearth_testkit::models;

mod bad_models;
mod chat_tools;
mod cloud;
mod docs;
mod history;
mod keys;
mod library;
mod mcp;
mod network;
mod serve;

/// The passphrase the tests' databases use (no keychain is involved).
pub(crate) const PASSPHRASE: &str = "test passphrase, not a secret";

/// `hearth` with a fresh, private data directory for this test.
pub(crate) struct Home(tempfile::TempDir);

impl Home {
    pub(crate) fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    pub(crate) fn hearth(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
        cmd.env_remove("HEARTH_MODEL")
            .env("HEARTH_LOG", "warn")
            .env("HEARTH_HOME", self.path())
            .env("HEARTH_DB_PASSPHRASE", PASSPHRASE);
        cmd
    }
}

/// `hearth` for commands that keep no data (run, tokenize, bench): a data
/// directory that cannot exist makes any accidental use fail loudly.
fn hearth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.env_remove("HEARTH_MODEL")
        .env("HEARTH_LOG", "warn")
        .env("HEARTH_HOME", "/nonexistent/hearth-test-home");
    cmd
}

pub(crate) fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "failed: {stderr}");
    (stdout, stderr)
}

/// Runs `cmd` with `input` on its stdin, then closes it (Ctrl-D), and waits.
pub(crate) fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// [`run_with_input`] for a command that must succeed: its stdout and stderr.
pub(crate) fn run_ok_with_input(cmd: &mut Command, input: &str) -> (String, String) {
    let out = run_with_input(cmd, input);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "failed: {stderr}");
    (stdout, stderr)
}

pub(crate) fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8(out.stdout.clone()).unwrap(),
        String::from_utf8(out.stderr.clone()).unwrap(),
    )
}

#[test]
fn run_answers_paris_and_prints_stats_to_stderr() {
    let (stdout, stderr) = run_ok(
        hearth()
            .args(["run", "--temperature", "0", "--max-tokens", "48"])
            .arg("-m")
            .arg(models::smollm2())
            .args([
                "--system",
                "You are a helpful assistant.",
                "What is the capital of France?",
            ]),
    );
    assert!(stdout.contains("Paris"), "stdout: {stdout}");
    assert!(
        !stdout.contains("tok/s"),
        "stats leaked into stdout: {stdout}"
    );
    assert!(
        stderr.contains("tok/s") && stderr.contains("prompt"),
        "stderr: {stderr}"
    );
}

#[test]
fn run_warns_when_the_context_window_is_past_the_training_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    let tiny = hearth_testkit::gguf::TinyLlama::default();
    std::fs::write(&path, tiny.to_bytes()).unwrap();
    let run = |ctx: u32| {
        run_ok(
            hearth()
                .args(["run", "--temperature", "0", "--max-tokens", "2", "-m"])
                .arg(&path)
                .args(["--ctx", &ctx.to_string(), "hi"]),
        )
        .1
    };
    let warning = format!("training context ({} tokens)", tiny.context);
    let past = run(2 * tiny.context);
    assert!(past.contains(&warning), "{past}");
    assert_eq!(past.matches(&warning).count(), 1, "one line: {past}");
    assert!(past.contains(&(2 * tiny.context).to_string()), "{past}");
    let within = run(tiny.context);
    assert!(!within.contains(&warning), "{within}");
}

#[test]
fn chat_keeps_history_reuses_cache_and_handles_commands() {
    let home = Home::new();
    let script = "/system You are a helpful assistant.\n\
                  What is the capital of France?\n\
                  /stats\n\
                  And what language do people speak there?\n\
                  /stats\n\
                  /nonsense\n\
                  /reset\n";
    // stdin is closed after the script: Ctrl-D. The session must end by itself.
    let (stdout, stderr) = run_ok_with_input(
        home.hearth()
            .args(["chat", "--temperature", "0", "--max-tokens", "40"])
            .arg("-m")
            .arg(models::smollm2()),
        script,
    );
    assert!(stdout.contains("Paris"), "stdout: {stdout}");
    assert!(stderr.contains("system prompt set"), "{stderr}");
    assert!(stderr.contains("unknown command /nonsense"), "{stderr}");
    assert!(stderr.contains("conversation cleared"), "{stderr}");
    // Two /stats lines; the second turn reused the first turn's cache.
    let reused: Vec<usize> = stderr
        .lines()
        .filter_map(|l| {
            l.split_once(" tok (")?
                .1
                .split_once(" reused")?
                .0
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(reused.len(), 2, "{stderr}");
    assert_eq!(reused[0], 0, "{stderr}");
    assert!(
        reused[1] > 20,
        "second turn should reuse the first: {stderr}"
    );
}

#[test]
fn ctrl_c_stops_the_answer_not_the_program() {
    let mut child = hearth()
        .args([
            "run",
            "--raw",
            "--temperature",
            "0",
            "--max-tokens",
            "3000",
            "--ctx",
            "4096",
        ])
        .arg("-m")
        .arg(models::smollm2())
        .arg("Here is a very long list of numbers: 1, 2, 3, 4,")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Wait until the answer is streaming, then press Ctrl-C.
    let mut first = Vec::new();
    stdout.read_until(b',', &mut first).unwrap();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("stop cancelled"), "{stderr}");
}

#[test]
fn tokenize_prints_json_ids() {
    let (stdout, _) = run_ok(
        hearth()
            .arg("tokenize")
            .arg("-m")
            .arg(models::smollm2())
            .arg("Hello world"),
    );
    let ids: Vec<u32> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(ids, vec![19556, 905]);
    let (stdout, _) = run_ok(
        hearth()
            .arg("tokenize")
            .arg("-m")
            .arg(models::gemma3())
            .arg("Hello world"),
    );
    let ids: Vec<u32> = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(ids.first(), Some(&2), "gemma adds BOS: {ids:?}");
}

#[test]
fn bench_reports_json() {
    let (stdout, _) = run_ok(
        hearth()
            .args([
                "bench",
                "--json",
                "--runs",
                "1",
                "--prompt-tokens",
                "16",
                "--gen-tokens",
                "4",
            ])
            .arg("-m")
            .arg(models::smollm2()),
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for key in ["prefill_tok_s", "decode_tok_s", "load_secs"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report}");
    }
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn bad_model_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let out = hearth()
        .args(["run", "-m"])
        .arg(&missing)
        .arg("hi")
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.gguf"),
        "{stderr}"
    );

    let text = dir.path().join("notes.gguf");
    std::fs::write(&text, "just some text, not a model").unwrap();
    let out = hearth()
        .args(["run", "-m"])
        .arg(&text)
        .arg("hi")
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("not a GGUF file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn perplexity_prints_json_and_refuses_a_missing_or_binary_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(
        &text,
        "The quick brown fox jumps over the lazy dog near the river bank. ".repeat(30),
    )
    .unwrap();
    let (stdout, stderr) = run_ok(
        hearth()
            .args(["perplexity", "--ctx", "64", "--chunks", "2", "--json", "-f"])
            .arg(&text)
            .arg("-m")
            .arg(models::smollm2()),
    );
    let score: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(score["chunks"], 2, "{stdout}");
    assert_eq!(score["context"], 64);
    assert_eq!(score["scored"], 2 * 31);
    let ppl = score["ppl"].as_f64().unwrap();
    assert!(ppl > 1.0 && ppl < 3.0, "{stdout}");
    assert!(stderr.contains("[2]"), "progress per window: {stderr}");

    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x81]).unwrap();
    for (file, says) in [
        (&binary, "is not UTF-8 text"),
        (&dir.path().join("none.txt"), "cannot read"),
    ] {
        let out = hearth()
            .args(["perplexity", "-f"])
            .arg(file)
            .arg("-m")
            .arg(models::smollm2())
            .output()
            .unwrap();
        let (_, stderr) = texts(&out);
        assert!(!out.status.success() && stderr.contains(says), "{stderr}");
    }
}

#[test]
fn run_prints_logprobs_on_stderr_when_asked() {
    let (stdout, stderr) = run_ok(
        hearth()
            .args([
                "run",
                "--temperature",
                "0",
                "--max-tokens",
                "4",
                "--logprobs",
                "2",
            ])
            .arg("-m")
            .arg(models::smollm2())
            .arg("What is the capital of France?"),
    );
    assert!(
        !stdout.contains("logprob"),
        "stdout is the answer: {stdout}"
    );
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "one line per token: {stderr}");
    let text: String = lines.iter().map(|l| l["token"].as_str().unwrap()).collect();
    assert_eq!(text, stdout.trim_end_matches('\n'));
    for line in &lines {
        assert!(line["logprob"].as_f64().unwrap() <= 0.0, "{line}");
        assert_eq!(line["top"].as_array().unwrap().len(), 2, "{line}");
        assert_eq!(line["top"][0][0], line["token"], "greedy: {line}");
    }
    let out = hearth()
        .args(["run", "--logprobs", "21", "-m"])
        .arg(models::smollm2())
        .arg("hi")
        .output()
        .unwrap();
    assert!(!out.status.success());
}
