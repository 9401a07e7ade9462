//! `hearth run` on model files Hearth cannot run (issue 17's "Bad input") and
//! on hostile ones (issue 19): every one ends with a clear error naming the
//! file and what is wrong, a non-zero exit, and no panic.

use hearth_testkit::gguf::TinyLlama;
use hearth_testkit::gguf::hostile::{Expect, corpus, lying_models};

use crate::texts;

fn run(path: &std::path::Path) -> std::process::Output {
    crate::hearth()
        .args(["run", "--temperature", "0", "--max-tokens", "4", "-m"])
        .arg(path)
        .arg("hi")
        .output()
        .unwrap()
}

#[test]
fn the_tiny_model_runs() {
    // The files below are this one with one thing changed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("honest.gguf");
    std::fs::write(&path, TinyLlama::default().to_bytes()).unwrap();
    let out = run(&path);
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn bad_and_hostile_files_fail_with_the_file_and_the_reason_named() {
    let dir = tempfile::tempdir().unwrap();
    for case in lying_models().into_iter().chain(corpus()) {
        let phrase = match case.expect {
            Expect::Refused(p) | Expect::LoadRefused(p) | Expect::RunRefused(p) => p,
        };
        let path = dir.path().join(format!("{}.gguf", case.name));
        std::fs::write(&path, &case.bytes).unwrap();
        let out = run(&path);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.name);
        assert!(stderr.contains(phrase), "{}: {stderr}", case.name);
        assert!(
            stderr.contains(&format!("{}.gguf", case.name)),
            "{}: {stderr}",
            case.name
        );
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.name);
    }
}

/// `--device cuda` in a build without the `cuda` feature: a clear error that
/// says how to get one, not a panic and not a silent CPU run.
#[test]
#[cfg(not(feature = "cuda"))]
fn cuda_in_a_build_without_it_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    std::fs::write(&path, TinyLlama::default().to_bytes()).unwrap();
    let out = crate::hearth()
        .args(["run", "--device", "cuda", "--max-tokens", "1", "-m"])
        .arg(&path)
        .arg("hi")
        .output()
        .unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cuda is not available"), "{stderr}");
    assert!(stderr.contains("--features cuda"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
