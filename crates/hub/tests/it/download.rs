//! Downloads against the stand-in: clean, cut, resumed, corrupt, gated, refused.

use std::sync::Arc;

use hearth_hub::{
    DownloadControl, DownloadEvent, HubClient, HubError, SecretString, pending_downloads,
};
use hearth_testkit::hf::{FakeFile, FakeRepo, Faults, HfStandIn, TOKEN, repos};
use hearth_testkit::models::SMOLLM2;

use crate::{FakeDisk, client, library, options};

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn clean_pull_verifies_and_adds_to_the_library() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, events) = options();
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let model = repo.select(None).unwrap();
    let entry = c.download(&repo, model, &mut lib, &opts).await.unwrap();

    assert_eq!(entry.id, "smollm2-135m-instruct-q4_1");
    assert_eq!(entry.sha256, vec![SMOLLM2.sha256.to_owned()]);
    assert_eq!(entry.size, SMOLLM2.size);
    assert_eq!(entry.info.architecture, "llama");
    assert_eq!(entry.info.quant.as_deref(), Some("Q4_1"));
    assert!(entry.info.has_chat_template);
    assert!(entry.info.parameters > 100_000_000, "{:?}", entry.info);
    let path = lib
        .models_dir()
        .join(repos::SMOLLM2)
        .join(SMOLLM2.file_name);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), SMOLLM2.size);
    assert!(pending_downloads(&lib).is_empty());
    assert_eq!(hub.bytes_served(), SMOLLM2.size);

    let events = events.lock().unwrap();
    assert!(matches!(
        events.first(),
        Some(DownloadEvent::Started { done: 0, .. })
    ));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DownloadEvent::Progress { done, total, .. } if *done == *total))
    );
    assert!(matches!(events.last(), Some(DownloadEvent::Finished { id }) if id == &entry.id));

    // Reopened, the library has it, and the id resolves to the file.
    let lib = hearth_hub::Library::open(lib.models_dir()).unwrap();
    assert_eq!(lib.list().len(), 1);
    assert_eq!(lib.resolve("smollm2").unwrap().path, path);
}

#[tokio::test]
async fn a_cut_connection_resumes_without_resending_what_arrived() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (mut opts, _) = options();
    opts.max_attempts = 1;
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let model = repo.select(None).unwrap();

    hub.set_faults(Faults {
        cut_after: Some(SMOLLM2.size / 2),
        ..Faults::default()
    });
    let err = c.download(&repo, model, &mut lib, &opts).await.unwrap_err();
    assert!(matches!(err, HubError::Exhausted { .. }), "{err}");
    assert!(lib.list().is_empty(), "a partial model must not be listed");
    let pending = pending_downloads(&lib);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].size, SMOLLM2.size);
    let first = hub.bytes_served();
    assert_eq!(first, SMOLLM2.size / 2);

    let (opts, events) = options();
    let entry = c.download(&repo, model, &mut lib, &opts).await.unwrap();
    assert_eq!(entry.sha256, vec![SMOLLM2.sha256.to_owned()]);
    // The client resumes from what reached its disk: at most what the stand-in
    // wrote before the cut (bytes in flight when the socket closed are lost).
    let bodies = hub.file_bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let range = bodies[1].0.clone().expect("the second request is ranged");
    let kept: u64 = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .expect("an open range");
    assert!(
        kept > 0 && kept <= first,
        "resumed at {kept}, {first} were sent"
    );
    assert_eq!(bodies[1].1, SMOLLM2.size - kept, "only the rest was sent");
    assert!(bodies[1].1 < SMOLLM2.size / 2 + SMOLLM2.size / 100);
    assert_eq!(hub.bytes_served(), first + SMOLLM2.size - kept);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, DownloadEvent::Rehashing { bytes, .. } if *bytes == kept))
    );
}

#[tokio::test]
async fn cuts_stalls_and_server_errors_are_retried_in_one_call() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (mut opts, events) = options();
    opts.max_attempts = 4;
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let model = repo.select(None).unwrap();
    hub.set_faults(Faults {
        stall_after: Some(3_000_000),
        fail_next: vec![503],
        ..Faults::default()
    });
    let entry = c.download(&repo, model, &mut lib, &opts).await.unwrap();
    assert_eq!(entry.sha256, vec![SMOLLM2.sha256.to_owned()]);
    let retries: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::Retrying { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0].contains("503"), "{retries:?}");
    assert!(retries[1].contains("stalled"), "{retries:?}");
    assert_eq!(hub.bytes_served(), SMOLLM2.size);
}

#[tokio::test]
async fn wrong_sha256_deletes_everything_and_says_so() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let c = client(&hub);
    let repo = c.repo(repos::BAD_SHA).await.unwrap();
    let err = c
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("deleted"), "{err}");
    assert!(lib.list().is_empty());
    let left: Vec<_> = files_under(lib.models_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gguf" || e == "part"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Issue 19: a file the Hub gives no sha256 for (not in LFS) is downloaded,
/// said to be unchecked, and kept marked unverified, never as if verified.
#[tokio::test]
async fn a_file_without_a_hub_sha256_is_kept_unverified() {
    let tiny = hearth_testkit::gguf::TinyGguf::default().to_bytes();
    let hub = HfStandIn::start(vec![FakeRepo::new(
        "test-org/plain-git-GGUF",
        vec![FakeFile::from_bytes("tiny-Q8_0.gguf", tiny).without_lfs()],
    )]);
    let (_tmp, mut lib) = library();
    let (opts, events) = options();
    let c = client(&hub);
    let repo = c.repo("test-org/plain-git-GGUF").await.unwrap();
    let model = repo.select(None).unwrap();
    assert_eq!(model.files[0].sha256, None);
    let entry = c.download(&repo, model, &mut lib, &opts).await.unwrap();
    assert!(entry.unverified, "stored as if verified: {entry:?}");
    let said =
        events.lock().unwrap().iter().any(
            |e| matches!(e, DownloadEvent::Unverified { files } if files == &["tiny-Q8_0.gguf"]),
        );
    assert!(said, "the download did not say it was unchecked");
    // The mark is kept in the manifest.
    let reopened = hearth_hub::Library::open(lib.models_dir()).unwrap();
    assert!(reopened.list()[0].unverified);

    // A file with the Hub's sha256 is verified, and not marked.
    let hub = HfStandIn::start_default();
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let entry = c
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap();
    assert!(!entry.unverified);
}

#[tokio::test]
async fn missing_file_is_a_404_error() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    hub.set_faults(Faults {
        fail_next: vec![404],
        ..Faults::default()
    });
    let err = c
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn gated_repos_need_a_token() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let c = client(&hub);
    let repo = c.repo(repos::GATED).await.unwrap();
    assert!(repo.gated);
    let model = repo.select(None).unwrap();
    let err = c.download(&repo, model, &mut lib, &opts).await.unwrap_err();
    assert!(matches!(err, HubError::Gated { .. }), "{err}");
    assert!(err.to_string().contains("hearth login"), "{err}");

    let with_token =
        HubClient::new(hub.endpoint(), Some(SecretString::from(TOKEN.to_owned()))).unwrap();
    assert!(!format!("{with_token:?}").contains(TOKEN));
    let entry = with_token
        .download(&repo, model, &mut lib, &opts)
        .await
        .unwrap();
    assert_eq!(entry.sha256, vec![SMOLLM2.sha256.to_owned()]);
    assert!(hub.requests().iter().any(|r| r.authorized));
}

#[tokio::test]
async fn not_enough_disk_space_refuses_before_downloading() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (mut opts, _) = options();
    opts.disk = Arc::new(FakeDisk(SMOLLM2.size - 1));
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let err = c
        .download(&repo, repo.select(None).unwrap(), &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk space"), "{err}");
    assert_eq!(hub.bytes_served(), 0);
}

#[tokio::test]
async fn split_models_download_as_one() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let c = client(&hub);
    let repo = c.repo(repos::SPLIT).await.unwrap();
    let entry = c
        .download(&repo, repo.select(Some("q4_k_m")).unwrap(), &mut lib, &opts)
        .await
        .unwrap();
    assert_eq!(entry.id, "tiny-q4_k_m");
    assert_eq!(entry.files.len(), 2);
    assert_eq!(entry.info.architecture, "llama");
    for f in &entry.files {
        assert!(lib.absolute(f).is_file(), "{f:?}");
    }
}

#[tokio::test]
async fn pause_keeps_the_partial_and_cancel_deletes_it() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let c = client(&hub);
    let repo = c.repo(repos::SMOLLM2).await.unwrap();
    let model = repo.select(None).unwrap();
    hub.set_faults(Faults {
        throttle: Some(20_000_000),
        ..Faults::default()
    });

    for cancel in [false, true] {
        let control = DownloadControl::new();
        let (mut opts, _) = options();
        let trigger = control.clone();
        opts.on_event = Arc::new(move |e| {
            if matches!(e, DownloadEvent::Progress { done, .. } if *done > 1_000_000) {
                if cancel {
                    trigger.cancel()
                } else {
                    trigger.pause()
                }
            }
        });
        opts.control = control;
        let err = c.download(&repo, model, &mut lib, &opts).await.unwrap_err();
        let pending = pending_downloads(&lib);
        if cancel {
            assert!(matches!(err, HubError::Cancelled), "{err}");
            assert!(pending.is_empty(), "{pending:?}");
        } else {
            assert!(matches!(err, HubError::Paused), "{err}");
            assert_eq!(pending.len(), 1);
            assert!(pending[0].done > 1_000_000);
        }
    }
    assert!(lib.list().is_empty());
}
