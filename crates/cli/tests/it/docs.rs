//! `hearth embed` and `hearth docs` from the outside, on all-MiniLM-L6-v2.

use crate::Home;

fn run(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn embed_prints_unit_vectors_as_json() {
    let home = Home::new();
    let model = hearth_testkit::models::minilm();
    let (ok, out, err) = run(home
        .hearth()
        .args(["embed", "-m"])
        .arg(&model)
        .args(["a cat", "a dog"]));
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["model"], "all-MiniLM-L6-v2");
    let vectors = json["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    let v: Vec<f64> = vectors[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(v.len(), 384);
    assert!((v.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-3);

    let (ok, _, err) = run(home
        .hearth()
        .args(["embed", "text"])
        .env_remove("HEARTH_EMBED_MODEL"));
    assert!(!ok);
    assert!(err.contains("no embedding model"), "{err}");
}

#[test]
fn docs_add_list_search_rm() {
    let home = Home::new();
    let files = home.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("otters.md"),
        "# Otters\n\nSea otters hold hands while they sleep.\n",
    )
    .unwrap();
    std::fs::write(
        files.join("bread.txt"),
        "Sourdough needs a starter of wild yeast.\n",
    )
    .unwrap();
    std::fs::write(files.join("fake.txt"), [0x7f, b'E', b'L', b'F', 0, 0]).unwrap();
    let hearth = || {
        let mut cmd = home.hearth();
        cmd.env("HEARTH_EMBED_MODEL", hearth_testkit::models::minilm());
        cmd
    };

    let (ok, _, err) = run(hearth().args(["docs", "add", "notes"]).arg(&files));
    assert!(ok, "{err}");
    assert!(err.contains("otters.md (markdown, 1 chunks)"), "{err}");
    assert!(err.contains("fake.txt: looks like a binary file"), "{err}");
    assert!(err.contains("2 files added"), "{err}");

    let (ok, out, err) = run(hearth().args(["docs", "list"]));
    assert!(ok, "{err}");
    assert!(out.starts_with("notes\t2 documents\t2 chunks"), "{out}");

    let (ok, out, err) =
        run(hearth().args(["docs", "search", "notes", "how do otters sleep", "--json"]));
    assert!(ok, "{err}");
    let hits: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        hits[0]["source"].as_str().unwrap().ends_with("otters.md"),
        "{out}"
    );
    assert_eq!(hits[0]["heading"], "Otters");

    let (ok, _, err) = run(hearth().args(["docs", "rm", "notes"]));
    assert!(ok, "{err}");
    let (ok, out, _) = run(hearth().args(["docs", "list", "--json"]));
    assert!(ok);
    assert_eq!(out.trim(), "[]");
    let (ok, _, err) = run(hearth().args(["docs", "search", "notes", "otters"]));
    assert!(!ok);
    assert!(err.contains("no collection named \"notes\""), "{err}");
}

#[test]
fn chat_with_docs_prints_the_mode_and_the_sources() {
    use std::process::Stdio;

    let home = Home::new();
    let files = home.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("contract.md"),
        "# Termination\n\nEither party may end this contract with 30 days notice.\n",
    )
    .unwrap();
    let hearth = || {
        let mut cmd = home.hearth();
        cmd.env("HEARTH_EMBED_MODEL", hearth_testkit::models::minilm());
        cmd
    };
    let (ok, _, err) = run(hearth().args(["docs", "add", "notes"]).arg(&files));
    assert!(ok, "{err}");

    let (stdout, stderr) = crate::run_ok_with_input(
        hearth()
            .args([
                "chat",
                "--temperature",
                "0",
                "--max-tokens",
                "8",
                "--docs",
                "notes",
            ])
            .arg("-m")
            .arg(hearth_testkit::models::smollm2()),
        "What is the notice period?\n",
    );
    assert!(stderr.contains("documents \"notes\""), "{stderr}");
    assert!(
        stderr.contains("using whole documents (1 file) from \"notes\"\n"),
        "{stderr}"
    );
    assert!(
        stdout.contains("sources:\n  [1] notes/contract.md — \"Either party may end this contract"),
        "{stdout}"
    );

    // The sources are in the history: shown, and in both exports.
    let id = stderr
        .split_whitespace()
        .skip_while(|w| *w != "conversation")
        .nth(1)
        .unwrap()
        .to_owned();
    let (ok, shown, err) = run(hearth().args(["history", "show", &id]));
    assert!(ok, "{err}");
    assert!(
        shown.contains("sources:\n  [1] notes/contract.md"),
        "{shown}"
    );
    let (ok, md, err) = run(hearth().args(["history", "export", &id]));
    assert!(ok, "{err}");
    assert!(
        md.contains("- [1] notes/contract.md — \"Either party"),
        "{md}"
    );
    let (ok, json, err) = run(hearth().args(["history", "export", &id, "--format", "json"]));
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cited = json["conversations"][0]["citations"].as_object().unwrap();
    let first = &cited.values().next().unwrap()[0];
    assert_eq!(first["mode"], "whole");
    assert_eq!(first["collection"], "notes");

    // An unknown collection is refused before anything runs.
    let (ok, _, err) = run(hearth()
        .args(["chat", "--docs", "nope", "-m"])
        .arg(hearth_testkit::models::smollm2())
        .stdin(Stdio::null()));
    assert!(!ok);
    assert!(err.contains("no collection named \"nope\""), "{err}");
}

/// `docs list --json` as (documents, chunks) of one collection.
fn counts(home: &Home, name: &str) -> (u64, u64) {
    let (ok, out, err) = run(home.hearth().args(["docs", "list", "--json"]));
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no collection {name} in {out}"));
    (
        c["documents"].as_u64().unwrap(),
        c["chunks"].as_u64().unwrap(),
    )
}

#[test]
fn ctrl_c_stops_docs_add_after_the_batch_and_the_same_command_resumes() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    // A small file first, then one of many batches (a paragraph a chunk at
    // --chunk-chars 50; 32 chunks a batch), then two small ones: Ctrl-C after
    // the first file's line lands while the second is being embedded.
    let home = Home::new();
    let files = home.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let para = |w: &str, i: usize| format!("{w} paragraph number {i} says something.\n\n");
    let write = |name: &str, word: &str, n: usize| {
        let text: String = (0..n).map(|i| para(word, i)).collect();
        std::fs::write(files.join(name), text).unwrap();
    };
    write("a.txt", "alpha", 2);
    write("b.txt", "bravo", 32 * 30);
    write("c.txt", "charlie", 3);
    write("d.txt", "delta", 3);
    let add = |home: &Home| {
        let mut cmd = home.hearth();
        cmd.env("HEARTH_EMBED_MODEL", hearth_testkit::models::minilm())
            .args(["docs", "add", "notes", "--chunk-chars", "50"])
            .arg(&files);
        cmd
    };

    // What a run that is never stopped stores.
    let clean = Home::new();
    let (ok, _, err) = run(&mut add(&clean));
    assert!(ok, "{err}");
    let want = counts(&clean, "notes");
    assert_eq!(want.0, 4, "{err}");
    assert!(want.1 > 32 * 30, "{want:?}");

    let mut child = add(&home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // The first progress line (anything the program said before it is kept).
    let mut first = String::new();
    while !first.lines().last().is_some_and(|l| l.starts_with('[')) {
        assert!(stderr.read_line(&mut first).unwrap() > 0, "{first}");
    }
    assert!(first.contains("[1/4] added"), "{first}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    // Stopped in b.txt, after the batch it was embedding: a.txt kept, nothing
    // of b.txt stored, c.txt and d.txt not reached.
    assert!(!status.success(), "{rest}");
    assert!(rest.contains("stopping after the current batch"), "{rest}");
    assert!(rest.contains("[2/4] stopped"), "{rest}");
    assert!(
        rest.contains("stopped: 1 of 4 files done and kept"),
        "{rest}"
    );
    assert!(!rest.contains("[3/4]"), "{rest}");
    assert_eq!(counts(&home, "notes").0, 1);

    // The same command resumes: a.txt unchanged, the rest added, and the
    // collection is what the run that was never stopped made.
    let (ok, _, err) = run(&mut add(&home));
    assert!(ok, "{err}");
    assert!(err.contains("[1/4] unchanged"), "{err}");
    assert!(err.contains("3 files added"), "{err}");
    assert_eq!(counts(&home, "notes"), want);
}
