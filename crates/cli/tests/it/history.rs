//! `hearth chat` keeps every turn; `hearth history` reads, searches, exports,
//! imports and deletes; a crash mid-answer loses nothing that was checkpointed.

use std::io::Write;
use std::process::{Command, Stdio};

use hearth_store::{DbKey, MessageStatus, Store};
use hearth_testkit::models;

use crate::{Home, PASSPHRASE, run_ok, run_ok_with_input, texts};

/// Runs `hearth chat` with `script` on stdin; returns (conversation id, stdout, stderr).
fn chat(home: &Home, extra: &[&str], script: &str) -> (String, String, String) {
    let (stdout, stderr) = run_ok_with_input(
        home.hearth()
            .args(["chat", "--temperature", "0", "--max-tokens", "24", "-m"])
            .arg(models::smollm2())
            .args(extra),
        script,
    );
    (conversation_id(&stderr), stdout, stderr)
}

/// The id from the session banner `conversation <id> · ...`.
fn conversation_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation ")?.split_whitespace().next())
        .unwrap_or_else(|| panic!("no conversation banner in: {stderr}"))
        .to_owned()
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let (stdout, _) = run_ok(cmd);
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn chats_persist_and_can_be_searched_continued_exported_imported_and_deleted() {
    let home = Home::new();
    let (id, stdout, _) = chat(
        &home,
        &["--system", "You are a helpful assistant."],
        "What is the capital of France?\n",
    );
    assert!(stdout.contains("Paris"), "{stdout}");

    let list = json(home.hearth().args(["history", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["title"], "What is the capital of France?");

    // A unique prefix is enough to name a conversation.
    let (shown, _) = run_ok(home.hearth().args(["history", "show", &id[..8]]));
    assert!(
        shown.contains("capital of France") && shown.contains("Paris"),
        "{shown}"
    );

    let hits = json(home.hearth().args(["history", "search", "Paris", "--json"]));
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty());
    assert_eq!(hits[0]["conversation_id"], id.as_str());

    // Continue the same conversation in a new process.
    let (again, _, _) = chat(&home, &["--conversation", &id], "And of Germany?\n");
    assert_eq!(again, id);
    let shown = json(home.hearth().args(["history", "show", &id, "--json"]));
    assert_eq!(shown["messages"].as_array().unwrap().len(), 4);

    // The database is encrypted: the conversation is not readable in the file.
    let db = std::fs::read(home.path().join("hearth.db")).unwrap();
    assert!(!db.windows(7).any(|w| w == b"Germany"));

    // Export -> import elsewhere -> export: byte-identical.
    let first = home.path().join("first.json");
    run_ok(
        home.hearth()
            .args(["history", "export", "--format", "json", "-o"])
            .arg(&first),
    );
    let other = Home::new();
    run_ok(other.hearth().args(["history", "import"]).arg(&first));
    let second = other.path().join("second.json");
    run_ok(
        other
            .hearth()
            .args(["history", "export", "--format", "json", "-o"])
            .arg(&second),
    );
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );
    let (markdown, _) = run_ok(
        home.hearth()
            .args(["history", "export", &id, "--format", "md"]),
    );
    assert!(
        markdown.contains("What is the capital of France?"),
        "{markdown}"
    );
    assert!(markdown.contains("Germany"), "{markdown}");

    run_ok(home.hearth().args(["history", "rm", &id]));
    let list = json(home.hearth().args(["history", "list", "--json"]));
    assert!(list.as_array().unwrap().is_empty());
    let hits = json(home.hearth().args(["history", "search", "Paris", "--json"]));
    assert!(hits.as_array().unwrap().is_empty());
}

#[test]
fn an_answer_survives_sigkill_as_a_partial_that_can_be_continued() {
    let home = Home::new();
    let mut child = home
        .hearth()
        .args([
            "chat",
            "--temperature",
            "0",
            "--max-tokens",
            "3000",
            "--ctx",
            "4096",
            "-m",
        ])
        .arg(models::smollm2())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"Write a very long story about a dragon who learns to cook, in ten chapters.\n")
        .unwrap();
    stdin.flush().unwrap();

    // Wait (bounded) until a checkpoint of the answer is in the database.
    let db = home.path().join("hearth.db");
    let key = DbKey::Passphrase(PASSPHRASE.into());
    let mut checkpointed = None;
    for _ in 0..1200 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let Ok(store) = Store::open(&db, &key) else {
            continue;
        };
        let Ok(list) = store.list_conversations(&Default::default()) else {
            continue;
        };
        let Some(conv) = list.first() else { continue };
        let path = store.active_path(&conv.id).unwrap();
        if path.len() == 2 && path[1].content.len() > 40 {
            checkpointed = Some((conv.id.clone(), path[1].content.clone()));
            break;
        }
    }
    let (conv, seen) = checkpointed.expect("no checkpoint of the answer appeared");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);

    {
        let store = Store::open(&db, &key).unwrap();
        store.integrity_check().unwrap();
        let path = store.active_path(&conv).unwrap();
        assert_eq!(
            path[0].content,
            "Write a very long story about a dragon who learns to cook, in ten chapters."
        );
        assert!(path[1].content.starts_with(&seen));
        assert_eq!(
            path[1].status,
            MessageStatus::Streaming,
            "not yet recovered"
        );
    }

    // The next start marks it partial.
    let shown = json(
        home.hearth()
            .args(["history", "show", conv.as_str(), "--json"]),
    );
    let answer = &shown["messages"][1];
    assert_eq!(answer["status"], "partial");
    let kept = answer["content"].as_str().unwrap().to_owned();
    assert!(kept.starts_with(&seen));

    // /continue picks it up in the same message.
    chat(&home, &["--conversation", conv.as_str()], "/continue\n");
    let shown = json(
        home.hearth()
            .args(["history", "show", conv.as_str(), "--json"]),
    );
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    let content = messages[1]["content"].as_str().unwrap();
    assert!(content.starts_with(&kept) && content.len() > kept.len());
    assert_ne!(messages[1]["status"], "partial");
}

#[test]
fn a_wrong_passphrase_is_refused_and_leaves_the_file_alone() {
    let home = Home::new();
    run_ok(home.hearth().args(["history", "list"]));
    let db = home.path().join("hearth.db");
    let before = std::fs::read(&db).unwrap();
    let out = home
        .hearth()
        .env("HEARTH_DB_PASSPHRASE", "not the passphrase")
        .args(["history", "list"])
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot unlock"), "{stderr}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn logs_never_contain_what_the_user_wrote() {
    let home = Home::new();
    let mut child = home
        .hearth()
        .env("HEARTH_LOG", "trace")
        .args(["chat", "--temperature", "0", "--max-tokens", "8", "-m"])
        .arg(models::smollm2())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"My locker code is zebra-crossing-7741. Remember it.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "logging is on"
    );
    assert!(!stderr.contains("zebra-crossing-7741"), "{stderr}");
    assert!(!stderr.contains(PASSPHRASE), "{stderr}");
}

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../store/tests/fixtures/import")
        .join(path)
}

#[test]
fn other_apps_exports_come_in_and_everything_goes_out() {
    let home = Home::new();
    let (_, err) = run_ok(
        home.hearth()
            .args(["history", "import"])
            .arg(fixture("chatgpt/conversations.json")),
    );
    assert!(
        err.contains("imported 2 conversation(s) with 9 message(s) from ChatGPT"),
        "{err}"
    );
    assert!(
        err.contains("left out (Hearth keeps text): 1 images, 2 reasoning summaries"),
        "{err}"
    );
    // Again: nothing new, and each one says why.
    let (_, err) = run_ok(
        home.hearth()
            .args(["history", "import"])
            .arg(fixture("chatgpt/conversations.json")),
    );
    assert!(err.contains("imported 0 conversation(s)"), "{err}");
    assert!(
        err.contains("skipped \"Sourdough starter help\" (ChatGPT): already imported, unchanged"),
        "{err}"
    );
    let (_, err) = run_ok(
        home.hearth()
            .args(["history", "import", "--dry-run"])
            .arg(fixture("jan/threads")),
    );
    assert!(err.contains("would import 2 conversation(s)"), "{err}");
    run_ok(
        home.hearth()
            .args(["history", "import"])
            .arg(fixture("lmstudio")),
    );

    // Damaged input: a clear message, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("conversations.json");
    std::fs::write(&cut, r#"[{"title": "half"#).unwrap();
    let failed = home
        .hearth()
        .args(["history", "import"])
        .arg(&cut)
        .output()
        .unwrap();
    let (_, err) = texts(&failed);
    assert!(!failed.status.success());
    assert!(err.contains("nothing was imported from"), "{err}");
    assert!(err.contains("cannot be read"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Everything out into a zip, and into another Hearth.
    let zip = dir.path().join("all.zip");
    let (_, err) = run_ok(home.hearth().args(["history", "export", "--all"]).arg(&zip));
    assert!(err.contains("exported 3 conversation(s)"), "{err}");
    let other = Home::new();
    let (_, err) = run_ok(other.hearth().args(["history", "import"]).arg(&zip));
    assert!(
        err.contains("imported 3 conversation(s) with 14 message(s) from Hearth"),
        "{err}"
    );
    let list = json(other.hearth().args(["history", "list", "--all", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 3);
    // A folder that is not empty is refused: nothing is overwritten.
    let refused = home
        .hearth()
        .args(["history", "export", "--all"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(texts(&refused).1.contains("not empty"));
}
