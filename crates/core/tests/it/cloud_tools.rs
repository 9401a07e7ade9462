//! An agent loop through each cloud provider's stand-in, by the API path
//! (`App::api_chat`): a request with tools, a tool call back, the result
//! sent on, a text answer; redacted on the way out like any cloud turn.

use hearth_backend::{Message, ToolChoice, ToolSpec};
use hearth_core::hearth_providers::ProviderKind;
use hearth_core::redact::RedactionSettings;
use hearth_core::{ApiChat, ApiFinish, ApiInput, ApiSettings};
use hearth_engine::OutputFormat;
use hearth_testkit::providers::{Scripted, ScriptedCall, StandIn, Wire};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin};

const KEY: &str = "sk-planted-tools-key-0077";
const EMAIL: &str = "jane.doe@example.com";

fn chat(model: &str, messages: Vec<Message>) -> ApiChat {
    ApiChat {
        model: model.to_owned(),
        input: ApiInput::Chat(messages),
        max_tokens: Some(64),
        temperature: None,
        top_p: None,
        seed: None,
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        tools: vec![ToolSpec::new(
            "send_mail",
            "Sends an e-mail.",
            json!({"type": "object", "properties": {"to": {"type": "string"}},
                   "required": ["to"]}),
        )],
        tool_choice: ToolChoice::Auto,
        thinking: None,
    }
}

/// The tool result as the second request carried it, in the wire's shape.
fn sent_result(wire: Wire, body: &Value) -> Value {
    match wire {
        Wire::OpenAi => body["messages"][2].clone(),
        Wire::Anthropic => body["messages"][2]["content"][0].clone(),
        Wire::Gemini => body["contents"][2]["parts"][0].clone(),
    }
}

async fn agent_loop(wire: Wire, kind: ProviderKind, name: &str, model: &str) {
    let standin = StandIn::start(wire).await;
    standin.expect_key(KEY);
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, name, kind, &standin, KEY);
    app.set_api_settings(ApiSettings {
        cloud_models: true,
        store_conversations: false,
    })
    .unwrap();
    app.set_redaction(&RedactionSettings {
        enabled: true,
        words: Vec::new(),
    })
    .unwrap();
    // The model calls the tool with the placeholder it was shown.
    standin.push_answer(Scripted::ToolCalls {
        text: String::new(),
        calls: vec![ScriptedCall::new("send_mail", r#"{"to": "[EMAIL_1]"}"#)],
    });
    standin.push_answer(Scripted::Text("Sent.".into()));
    let id = format!("{name}:{model}");
    let question = Message::user(format!("Mail {EMAIL} the report."));

    let first = app
        .api_chat(
            chat(&id, vec![question.clone()]),
            CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(first.finish, ApiFinish::ToolCalls, "{wire:?}");
    assert_eq!(first.backend, name);
    assert_eq!(first.tool_calls.len(), 1);
    let call = first.tool_calls[0].clone();
    assert_eq!(call.name, "send_mail");
    let args: Value = serde_json::from_str(&call.arguments).unwrap();
    assert_eq!(args["to"], EMAIL, "the placeholder is put back in the call");

    // The tool's result names the address again: redacted on the way out.
    let result = Message::tool(&call.id, format!("queued for {EMAIL}"));
    let second = app
        .api_chat(
            chat(
                &id,
                vec![
                    question,
                    Message::assistant_calls(first.text.clone(), vec![call.clone()]),
                    result,
                ],
            ),
            CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(second.finish, ApiFinish::Stop);
    assert_eq!(second.text, "Sent.");
    assert!(second.tool_calls.is_empty());

    let bodies = standin.chat_bodies();
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        assert!(
            !body.to_string().contains(EMAIL),
            "{wire:?}: the address left the machine: {body}"
        );
    }
    let sent = sent_result(wire, &bodies[1]);
    let expected = match wire {
        Wire::OpenAi => json!({"role": "tool", "tool_call_id": call.id,
                               "content": "queued for [EMAIL_1]"}),
        Wire::Anthropic => json!({"type": "tool_result", "tool_use_id": call.id,
                                  "content": "queued for [EMAIL_1]"}),
        Wire::Gemini => json!({"functionResponse": {"name": "send_mail",
                               "response": {"output": "queued for [EMAIL_1]"}}}),
    };
    assert_eq!(sent, expected, "{wire:?}");
    // The call in the history went back redacted too.
    let history = bodies[1].to_string();
    assert!(history.contains("[EMAIL_1]"), "{history}");

    // Both answers are on the ledger of usage, as every cloud request.
    let usage = app.store().usage_records(None).unwrap();
    assert_eq!(usage.len(), 2);
    assert!(usage.iter().all(|u| u.backend == name));
}

#[tokio::test]
async fn an_agent_loop_through_openai() {
    agent_loop(Wire::OpenAi, ProviderKind::OpenAi, "openai", "gpt-4o-mini").await;
}

#[tokio::test]
async fn an_agent_loop_through_anthropic() {
    agent_loop(
        Wire::Anthropic,
        ProviderKind::Anthropic,
        "anthropic",
        "claude-sonnet-4-5",
    )
    .await;
}

#[tokio::test]
async fn an_agent_loop_through_gemini() {
    agent_loop(
        Wire::Gemini,
        ProviderKind::Gemini,
        "gemini",
        "gemini-2.5-flash",
    )
    .await;
}

#[tokio::test]
async fn an_agent_loop_through_a_compatible_server() {
    agent_loop(
        Wire::OpenAi,
        ProviderKind::Compat,
        "my-ollama",
        "llama3.2:1b",
    )
    .await;
}
