//! Cloud models through the API (a provider stand-in on 127.0.0.1), and the
//! usage record every request leaves.

use hearth_core::ApiSettings;
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
            hearth_core::ProviderKey::Store(SecretString::from(KEY), None),
        )
        .unwrap();
    let mut body = server.chat_body("What is the capital of France?", 16);
    body["model"] = json!("openai:gpt-4o-mini");

    let refused = server.post("/v1/chat/completions", &body).await;
    assert_eq!(error_of(refused, 404).await["code"], "model_not_found");
    assert!(!server.models().await.contains("gpt-4o-mini"));
    assert_eq!(standin.request_count(), 0);

    server
        .app
        .set_api_settings(ApiSettings {
            cloud_models: true,
            store_conversations: false,
        })
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
    // Listed when allowed, as `provider:model`, owned by the provider; the list
    // is asked for once and then reused.
    let models: Value = serde_json::from_str(&server.models().await).unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["owned_by"] == "openai")
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["openai:gpt-4o-mini", "openai:gpt-4.1"]);
    assert_eq!(standin.request_count(), 2);
    server.models().await;
    assert_eq!(standin.request_count(), 2);
    // Offline: not listed, nothing asked.
    server.app.set_offline(true).unwrap();
    assert!(!server.models().await.contains("gpt-4o-mini"));
    assert_eq!(standin.request_count(), 2);
    server.app.set_offline(false).unwrap();

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

#[tokio::test]
async fn api_conversations_are_stored_only_when_the_user_turned_that_on() {
    let server = TestServer::start().await;
    let mut body = server.chat_body("Name a colour.", 4);
    body["messages"] = json!([
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Name a colour."},
    ]);
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let listed = server
        .app
        .store()
        .list_conversations(&Default::default())
        .unwrap();
    assert!(
        listed.is_empty(),
        "stored without being asked to: {listed:?}"
    );

    server
        .app
        .set_api_settings(ApiSettings {
            cloud_models: false,
            store_conversations: true,
        })
        .unwrap();
    let answer: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let listed = server
        .app
        .store()
        .list_conversations(&Default::default())
        .unwrap();
    assert_eq!(listed.len(), 1);
    let conversation = server.app.store().conversation(&listed[0].id).unwrap();
    assert_eq!(conversation.title, "API: Name a colour.");
    assert_eq!(
        conversation.system_prompt.as_deref(),
        Some("Answer in one word.")
    );
    let messages = server.app.store().active_path(&conversation.id).unwrap();
    let shape: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(shape, [("user", "Name a colour."), ("assistant", text)]);
    assert_eq!(
        messages[1].metrics.tokens_out,
        answer["usage"]["completion_tokens"].as_u64()
    );
}
