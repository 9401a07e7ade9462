//! Gated, private and refused: each of the Hub's refusals as a message that
//! says what to do, with the Hub's real status codes and error headers.

use hearth_hub::{HubClient, HubError, SearchSort, SecretString};
use hearth_testkit::hf::{HfStandIn, NO_ACCESS_TOKEN, TOKEN, USER, repos};

use crate::{library, options};

fn with_token(hub: &HfStandIn, token: &str) -> HubClient {
    HubClient::new(hub.endpoint(), Some(SecretString::from(token.to_owned()))).unwrap()
}

#[tokio::test]
async fn a_gated_repo_says_where_to_accept_its_licence_and_to_log_in() {
    let hub = HfStandIn::start_default();
    let (_tmp, mut lib) = library();
    let (opts, _) = options();
    let anonymous = crate::client(&hub);
    // The listing is public, as on the Hub.
    let repo = anonymous.repo(repos::GATED).await.unwrap();
    let model = repo.select(None).unwrap();

    let err = anonymous
        .download(&repo, model, &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::Gated { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}/{}", hub.endpoint(), repos::GATED)),
        "{text}"
    );
    assert!(
        text.contains("accept its licence") && text.contains("hearth login"),
        "{text}"
    );
    // The stand-in's address is left out: its random port may hold "401".
    let words = text.replace(hub.endpoint(), "");
    assert!(!words.contains("401"), "no bare HTTP code: {text}");

    // Signed in, but the licence was not accepted: 403, a different message.
    let member = with_token(&hub, NO_ACCESS_TOKEN);
    let err = member
        .download(&repo, model, &mut lib, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::GatedNoAccess { .. }), "{err}");
    assert!(err.to_string().contains("has not been granted"), "{err}");
    assert!(!err.is_retryable());

    let granted = with_token(&hub, TOKEN);
    granted
        .download(&repo, model, &mut lib, &opts)
        .await
        .unwrap();
    assert!(lib.list().len() == 1);
    assert!(hearth_hub::pending_downloads(&lib).is_empty());
}

#[tokio::test]
async fn a_private_repo_looks_missing_until_the_right_account_asks() {
    let hub = HfStandIn::start_default();
    let err = crate::client(&hub).repo(repos::PRIVATE).await.unwrap_err();
    assert!(
        matches!(
            err,
            HubError::RepoNotFound {
                signed_in: false,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("private") && text.contains("hearth login"),
        "{text}"
    );

    let err = with_token(&hub, NO_ACCESS_TOKEN)
        .repo(repos::PRIVATE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::RepoNotFound {
                signed_in: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("cannot see it"), "{err}");

    let info = with_token(&hub, TOKEN).repo(repos::PRIVATE).await.unwrap();
    assert_eq!(info.id, repos::PRIVATE);
    // And search only shows it to that account.
    let anonymous = crate::client(&hub)
        .search("private", SearchSort::Downloads, 10)
        .await
        .unwrap();
    assert!(anonymous.is_empty(), "{anonymous:?}");
}

#[tokio::test]
async fn an_expired_token_says_so_everywhere_even_for_public_repos() {
    let hub = HfStandIn::start_default();
    let expired = with_token(&hub, "hf_expired_or_revoked_0000");
    for err in [
        expired
            .search("smol", SearchSort::Downloads, 5)
            .await
            .unwrap_err(),
        expired.repo(repos::SMOLLM2).await.unwrap_err(),
        expired.whoami().await.unwrap_err(),
    ] {
        assert!(matches!(err, HubError::BadToken { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("expired or was revoked"), "{text}");
        assert!(
            text.contains(&format!("{}/settings/tokens", hub.endpoint())),
            "{text}"
        );
        assert!(!text.contains("hf_expired"), "{text}");
    }
    assert_eq!(with_token(&hub, TOKEN).whoami().await.unwrap(), USER);
    let err = crate::client(&hub).whoami().await.unwrap_err();
    assert!(matches!(err, HubError::BadToken { .. }), "{err}");
}
