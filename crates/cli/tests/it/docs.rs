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
