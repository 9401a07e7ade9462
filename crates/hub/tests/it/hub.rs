//! Search, listing and the clear errors.

use hearth_hub::{HubError, SearchSort};
use hearth_testkit::hf::{FakeFile, FakeRepo, HfStandIn, repos};

use crate::client;

#[tokio::test]
async fn search_finds_gguf_repos_with_their_details() {
    let hub = HfStandIn::start_default();
    let hits = client(&hub)
        .search("smollm2", SearchSort::Downloads, 10)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].id, repos::SMOLLM2);
    assert_eq!(hits[0].license.as_deref(), Some("apache-2.0"));
    assert!(!hits[0].gated);
    assert!(hits[0].downloads > 0 && hits[0].updated.is_some());
    let gated = client(&hub)
        .search("gated", SearchSort::Recent, 10)
        .await
        .unwrap();
    assert!(gated[0].gated);
    let request = hub.requests().into_iter().find(|r| r.path == "/api/models");
    assert!(request.is_some());
}

#[tokio::test]
async fn listing_groups_split_files_and_reads_quant_and_sha() {
    let hub = HfStandIn::start_default();
    let info = client(&hub).repo(repos::SPLIT).await.unwrap();
    assert_eq!(info.commit, hearth_testkit::hf::COMMIT);
    assert_eq!(info.models.len(), 2, "{:?}", info.models);
    let split = info.select(Some("Q4_K_M")).unwrap();
    assert_eq!(split.files.len(), 2);
    assert_eq!(split.name, "tiny-Q4_K_M");
    assert_eq!(split.size, split.files.iter().map(|f| f.size).sum::<u64>());
    let smol = client(&hub).repo(repos::SMOLLM2).await.unwrap();
    let model = smol.select(None).unwrap();
    assert_eq!(model.quant.as_deref(), Some("Q4_1"));
    assert_eq!(
        model.files[0].sha256.as_deref(),
        Some(hearth_testkit::models::SMOLLM2.sha256)
    );
}

#[tokio::test]
async fn hostile_and_broken_answers_give_clear_errors() {
    let hub = HfStandIn::start_default();
    let c = client(&hub);
    // The Hub answers a missing repo as a private one: 401 to anonymous callers.
    let err = c.repo("test-org/does-not-exist").await.unwrap_err();
    assert!(matches!(err, HubError::RepoNotFound { .. }), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");

    let err = c.repo(repos::EVIL).await.unwrap_err();
    assert!(matches!(err, HubError::UnsafeName { .. }), "{err}");
    assert!(err.to_string().contains("../evil.gguf"), "{err}");

    let err = c.repo(repos::MALFORMED).await.unwrap_err();
    assert!(matches!(err, HubError::BadResponse { .. }), "{err}");
    assert!(err.to_string().contains("malformed JSON"), "{err}");

    let err = c.repo("../../etc").await.unwrap_err();
    assert!(matches!(err, HubError::BadRepoId(_)), "{err}");

    let dead = hearth_hub::HubClient::new("http://127.0.0.1:9", None).unwrap();
    let err = dead.repo(repos::SMOLLM2).await.unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err}");
    assert!(err.is_retryable());
}

/// Issue 19: the repo id the Hub answers with names folders and URLs, so it is
/// validated like the one asked for.
#[tokio::test]
async fn a_repo_id_from_the_hub_that_leads_elsewhere_is_refused() {
    let tiny = hearth_testkit::gguf::TinyGguf::default().to_bytes();
    let mut lying = FakeRepo::new(
        "test-org/liar-GGUF",
        vec![FakeFile::from_bytes("tiny-Q8_0.gguf", tiny.clone())],
    );
    lying.claimed_id = Some("../../../tmp/evil".into());
    let mut renamed = FakeRepo::new(
        "test-org/old-name-GGUF",
        vec![FakeFile::from_bytes("tiny-Q8_0.gguf", tiny)],
    );
    renamed.claimed_id = Some("test-org/new-name-GGUF".into());
    let hub = HfStandIn::start(vec![lying, renamed]);
    let c = client(&hub);
    let err = c.repo("test-org/liar-GGUF").await.unwrap_err();
    assert!(matches!(err, HubError::BadResponse { .. }), "{err}");
    assert!(err.to_string().contains("../../../tmp/evil"), "{err}");
    // A well-formed other id (a renamed repo) is used as the Hub says.
    let repo = c.repo("test-org/old-name-GGUF").await.unwrap();
    assert_eq!(repo.id, "test-org/new-name-GGUF");
}
