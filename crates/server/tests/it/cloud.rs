//! Cloud models through the API (a provider stand-in on 127.0.0.1), and the
//! usage record every request leaves.

use hearth_core::ApiSettings;
use hearth_core::hearth_providers::ProviderKind;
use hearth_secrets::SecretString;
use hearth_testkit::providers::{Fault, StandIn, Wire};
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

/// Tool calls from a cloud model (here Anthropic's wire, translated both
/// ways) reach `/v1/chat/completions` as local ones do: whole and streamed,
/// and the client's tool result goes back as Anthropic's `tool_result`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_tool_calls_reach_the_api_as_local_ones_do_issue_22() {
    use hearth_testkit::providers::{Scripted, ScriptedCall};
    let standin = StandIn::start(Wire::Anthropic).await;
    standin.expect_key(KEY);
    let call = || Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new("get_weather", r#"{"city": "Paris"}"#)],
    };
    standin.push_answer(call());
    standin.push_answer(call());
    standin.push_answer(Scripted::Text("Sunny, 21 C.".into()));
    let server = TestServer::start().await;
    server
        .app
        .add_provider(
            "claude",
            ProviderKind::Anthropic,
            Some(standin.base_url().to_owned()),
            hearth_core::ProviderKey::Store(SecretString::from(KEY), None),
        )
        .unwrap();
    server
        .app
        .set_api_settings(ApiSettings {
            cloud_models: true,
            store_conversations: false,
        })
        .unwrap();
    let mut body = server.chat_body("What is the weather in Paris?", 64);
    body["model"] = json!("claude:claude-sonnet-4-5");
    body["tools"] = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]);

    // Whole.
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let first: Value = response.json().await.unwrap();
    let choice = &first["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{first}");
    let message = choice["message"].clone();
    let call = &message["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["id"], "toolu_standin_0");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    let sent = &standin.chat_bodies()[0];
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));

    // Streamed.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = server
        .post("/v1/chat/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let delta = chunks
        .iter()
        .find(|c| c["choices"][0]["delta"]["tool_calls"].is_array())
        .unwrap_or_else(|| panic!("no tool_calls delta: {text}"));
    assert_eq!(
        delta["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls",
        "{text}"
    );

    // The result goes back; the answer is text.
    let mut next = body.clone();
    next["messages"].as_array_mut().unwrap().extend([
        message,
        json!({"role": "tool", "tool_call_id": "toolu_standin_0", "content": "sunny, 21"}),
    ]);
    let last: Value = server
        .post("/v1/chat/completions", &next)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        last["choices"][0]["message"]["content"], "Sunny, 21 C.",
        "{last}"
    );
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let bodies = standin.chat_bodies();
    let messages = bodies[2]["messages"].as_array().unwrap();
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(
        messages.last().unwrap(),
        &json!({"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": "toolu_standin_0", "content": "sunny, 21"}]})
    );
}

/// Issue 21: a provider refusing the prompt as too long is the client's error
/// (400 `context_length_exceeded`, as OpenAI says it), not a bad gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_too_long_for_the_provider_is_a_400_context_length_exceeded() {
    let standin = StandIn::start(Wire::OpenAi).await;
    standin.expect_key(KEY);
    standin.set_fault_forever(Fault::ContextLength);
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
    server
        .app
        .set_api_settings(ApiSettings {
            cloud_models: true,
            store_conversations: false,
        })
        .unwrap();
    let mut body = server.chat_body("What is the capital of France?", 16);
    body["model"] = json!("openai:gpt-4o-mini");

    let refused = server.post("/v1/chat/completions", &body).await;
    let error = error_of(refused, 400).await;
    assert_eq!(error["code"], "context_length_exceeded", "{error}");
    assert_eq!(error["type"], "invalid_request_error", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("context window"), "{message}");
    assert!(
        !message.contains(KEY) && !message.contains("130512"),
        "{message}"
    );
    // One question: nothing to leave out, so it was sent once.
    assert_eq!(standin.request_count(), 1);
}
