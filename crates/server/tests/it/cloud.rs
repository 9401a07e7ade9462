//! Cloud models through the API (a provider stand-in on 127.0.0.1), and the
//! usage record every request leaves.

use hearth_core::CLOUD_MODELS_SETTING;
use hearth_core::hearth_providers::ProviderKind;
use hearth_secrets::SecretString;
use hearth_testkit::providers::{StandIn, Wire};
use serde_json::{Value, json};

use crate::{TestServer, error_of};

const KEY: &str = "sk-planted-api-key-0042";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_model_only_when_the_setting_allows_it() {
    let standin = StandIn::start(Wire::OpenAi).await;
    standin.expect_key(KEY);
    standin.set_answer("Paris is the capital of France.");
    let server = TestServer::start().await;
    server
        .app
        .add_provider(
            "openai",
            ProviderKind::OpenAi,
            Some(standin.base_url().to_owned()),
            Some(SecretString::from(KEY)),
        )
        .unwrap();
    let mut body = server.chat_body("What is the capital of France?", 16);
    body["model"] = json!("openai:gpt-4o-mini");

    let refused = server.post("/v1/chat/completions", &body).await;
    assert_eq!(error_of(refused, 404).await["code"], "model_not_found");
    assert_eq!(standin.request_count(), 0);

    server
        .app
        .store()
        .set_setting(CLOUD_MODELS_SETTING, "1")
        .unwrap();
    let answer: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Paris is the capital of France."
    );
    assert_eq!(standin.request_count(), 1);
    // Not listed, even when allowed.
    let models = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!models.contains("gpt-4o-mini"), "{models}");

    let usage = server.app.store().usage_records(None).unwrap();
    let backends: Vec<&str> = usage.iter().map(|u| u.backend.as_str()).collect();
    assert_eq!(backends, ["openai"]);
    assert!(usage.iter().all(|u| u.conversation_id.is_none()));
}

#[tokio::test]
async fn a_local_answer_leaves_a_usage_record_and_no_conversation() {
    let server = TestServer::start().await;
    let response = server
        .post("/v1/chat/completions", &server.chat_body("Hi", 4))
        .await;
    assert_eq!(response.status(), 200);
    let usage = server.app.store().usage_records(None).unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].backend, "local");
    assert!(usage[0].tokens_out >= 1 && usage[0].ttft_ms.is_some());
    let conversations = server
        .app
        .store()
        .list_conversations(&hearth_store::ListQuery {
            include_archived: true,
            ..hearth_store::ListQuery::default()
        })
        .unwrap();
    assert!(conversations.is_empty());
}

#[tokio::test]
async fn an_unknown_route_is_404_in_openai_shape() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    error_of(response, 404).await;
}
