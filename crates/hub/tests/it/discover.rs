//! Other apps' folders found in place, imports, removal, and GGUF inspection.

use std::fs;
use std::path::Path;

use hearth_hub::{ExternalApp, ExternalSources, HubError, Library, Source, inspect};
use hearth_testkit::gguf::TinyGguf;
use hearth_testkit::models::{self, SMOLLM2};

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

#[test]
fn finds_hf_cache_lm_studio_and_ollama_models_and_never_deletes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Hugging Face cache: snapshot symlink -> blob.
    let hf = root.join("hf-hub");
    let repo = hf.join("models--org--Tiny-GGUF");
    write(&repo.join("blobs/abc123"), &TinyGguf::default().to_bytes());
    fs::create_dir_all(repo.join("snapshots/rev1")).unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/abc123",
        repo.join("snapshots/rev1/tiny-Q4_K_M.gguf"),
    )
    .unwrap();
    write(&repo.join("refs/main"), b"rev1");
    // LM Studio: publisher/repo/file, with a projector and a broken file to skip.
    let lms = root.join("lmstudio");
    let q8 = TinyGguf {
        file_type: 7,
        name: "Other".into(),
        chat_template: None,
        ..TinyGguf::default()
    };
    write(
        &lms.join("someone/Other-GGUF/other-Q8_0.gguf"),
        &q8.to_bytes(),
    );
    write(
        &lms.join("someone/Other-GGUF/mmproj-other-f16.gguf"),
        &q8.to_bytes(),
    );
    let full = q8.to_bytes();
    write(
        &lms.join("someone/Broken-GGUF/broken.gguf"),
        &full[..full.len() - 10],
    );
    // Ollama: a manifest naming a blob.
    let ollama = root.join("ollama");
    let hex = "ab".repeat(32);
    write(
        &ollama.join(format!("blobs/sha256-{hex}")),
        &TinyGguf::default().to_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "layers": [
            {"mediaType": "application/vnd.ollama.image.license", "digest": format!("sha256:{}", "cd".repeat(32)), "size": 10},
            {"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{hex}"), "size": 100},
        ]
    });
    write(
        &ollama.join("manifests/registry.ollama.ai/library/tinyllama/latest"),
        manifest.to_string().as_bytes(),
    );

    let sources = ExternalSources {
        hf_cache: Some(hf),
        lmstudio: vec![lms.clone(), root.join("missing-dir")],
        ollama: Some(ollama),
    };
    let mut lib = Library::open(root.join("models"))
        .unwrap()
        .with_sources(sources.clone());
    lib.refresh().unwrap();
    let found: Vec<(String, ExternalApp, String)> = lib
        .list()
        .iter()
        .map(|m| match &m.source {
            Source::External { app, label } => (m.id.clone(), *app, label.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "tiny-q4_k_m".into(),
                ExternalApp::HuggingFaceCache,
                "org/Tiny-GGUF".into()
            ),
            (
                "other-q8_0".into(),
                ExternalApp::LmStudio,
                "someone/Other-GGUF".into()
            ),
            (
                "tinyllama-latest".into(),
                ExternalApp::Ollama,
                "tinyllama:latest".into()
            ),
        ]
    );
    let other = &lib.list()[1];
    assert_eq!(other.info.quant.as_deref(), Some("Q8_0"));
    assert!(!other.info.has_chat_template);
    assert!(lib.list()[0].info.has_chat_template);

    // Read-only: rm refuses and the file stays.
    let err = lib.remove("other-q8_0").unwrap_err();
    assert!(matches!(err, HubError::NotOwned { .. }), "{err}");
    assert!(err.to_string().contains("Hearth did not download"), "{err}");
    assert!(err.to_string().contains("LM Studio"), "{err}");
    assert!(
        lms.join("someone/Other-GGUF/other-q8_0.gguf").exists()
            || lms.join("someone/Other-GGUF/other-Q8_0.gguf").exists()
    );

    // Ids are stable across refreshes; vanished files are forgotten.
    let resolved = lib.resolve("tinyllama").unwrap();
    assert!(resolved.path.ends_with(format!("sha256-{hex}")));
    fs::remove_file(lms.join("someone/Other-GGUF/other-Q8_0.gguf")).unwrap();
    let mut again = Library::open(root.join("models"))
        .unwrap()
        .with_sources(sources);
    again.refresh().unwrap();
    let ids: Vec<&str> = again.list().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["tiny-q4_k_m", "tinyllama-latest"]);
}

#[test]
fn truncated_gguf_files_are_rejected_at_inspection() {
    let tmp = tempfile::tempdir().unwrap();
    let real = fs::read(models::smollm2()).unwrap();
    // Cut in the tensor data: the header is whole but the tensors are not.
    let half = tmp.path().join("half.gguf");
    fs::write(&half, &real[..real.len() / 2]).unwrap();
    let err = inspect(&half).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // Cut in the header (inside the vocabulary).
    let head = tmp.path().join("head.gguf");
    fs::write(&head, &real[..100_000]).unwrap();
    let err = inspect(&head).unwrap_err();
    assert!(err.to_string().contains("truncated GGUF header"), "{err}");
    // Not a GGUF at all.
    let text = tmp.path().join("notes.gguf");
    fs::write(&text, "hello").unwrap();
    assert!(
        inspect(&text)
            .unwrap_err()
            .to_string()
            .contains("truncated")
            || inspect(&text)
                .unwrap_err()
                .to_string()
                .contains("not a GGUF")
    );
    // A hostile count does not allocate or hang.
    let mut hostile = b"GGUF".to_vec();
    hostile.extend_from_slice(&3u32.to_le_bytes());
    hostile.extend_from_slice(&u64::MAX.to_le_bytes());
    hostile.extend_from_slice(&u64::MAX.to_le_bytes());
    let bad = tmp.path().join("hostile.gguf");
    fs::write(&bad, hostile).unwrap();
    assert!(inspect(&bad).is_err());
    // The whole real file inspects fine.
    let info = inspect(&models::smollm2()).unwrap();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.context_length, Some(8192));
    assert_eq!(info.shape.layers, Some(30));
    assert_eq!(info.shape.kv_elements_per_token(), Some(2 * 30 * 3 * 64));
    assert_eq!(fs::metadata(models::smollm2()).unwrap().len(), SMOLLM2.size);
}

#[test]
fn import_by_copy_or_reference_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lib = Library::open(tmp.path().join("models")).unwrap();
    let own = tmp.path().join("mine/My-Model-Q4_K_M.gguf");
    write(&own, &TinyGguf::default().to_bytes());

    let by_ref = lib.import(&own, false).unwrap();
    assert_eq!(by_ref.id, "my-model-q4_k_m");
    assert_eq!(by_ref.source, Source::Imported { copied: false });
    let copied_src = tmp.path().join("mine/copy-me.gguf");
    write(&copied_src, &TinyGguf::default().to_bytes());
    let copy = lib.import(&copied_src, true).unwrap();
    let copied_path = lib.absolute(&copy.files[0]);
    assert!(copied_path.starts_with(lib.models_dir()) && copied_path.is_file());

    // A broken file is refused.
    write(&tmp.path().join("mine/bad.gguf"), b"GGUFnope");
    assert!(lib.import(&tmp.path().join("mine/bad.gguf"), true).is_err());

    lib.touch_last_used(&by_ref.id).unwrap();
    lib.record_measurement(&by_ref.id, 0.5, 42.0, 1 << 20, true)
        .unwrap();
    let reopened = Library::open(lib.models_dir()).unwrap();
    let entry = &reopened.list()[0];
    assert!(entry.last_used.is_some());
    assert_eq!(entry.measured.as_ref().unwrap().decode_tok_s, 42.0);

    // Removing the reference keeps the user's file; removing the copy frees it.
    assert_eq!(lib.remove(&by_ref.id).unwrap().freed, 0);
    assert!(own.is_file());
    assert!(lib.remove(&copy.id).unwrap().freed > 0);
    assert!(!copied_path.exists());
    assert!(copied_src.is_file());
    assert!(lib.list().is_empty());
    assert!(matches!(
        lib.resolve("nothing"),
        Err(HubError::UnknownModel(_))
    ));
}
