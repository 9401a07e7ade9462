//! Issue 21 (JSON output in the app): a chat's JSON output switch, kept per
//! conversation, makes a local turn one valid JSON object and asks the cloud
//! providers that have a JSON mode for it.

use hearth_core::hearth_providers::ProviderKind;
use hearth_core::router::Consent;
use hearth_core::view::ConversationPatchView;
use hearth_core::{JsonEnforcement, TurnOptions};
use hearth_store::{NewConversation, PrivacyPolicy};
use hearth_testkit::providers::{StandIn, Wire};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin, greedy_conversation, runtime};

fn switch(on: bool) -> ConversationPatchView {
    ConversationPatchView {
        json_output: Some(on),
        ..ConversationPatchView::default()
    }
}

#[test]
fn a_local_turn_with_json_output_on_answers_one_json_object() {
    let home = Home::new();
    let app = home.open();
    let conv = greedy_conversation(&app, None);
    let id = conv.to_string();
    let info = app.update_conversation_view(&id, &switch(true)).unwrap();
    assert!(info.json_output);
    assert_eq!(info.json_enforcement, JsonEnforcement::Constrained);

    let rt = runtime();
    let options = TurnOptions {
        max_tokens: Some(64),
        ..TurnOptions::default()
    };
    let turn = rt
        .block_on(app.send(
            &conv,
            "Describe a cat: its name and its age.",
            &options,
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    let answer: Value = serde_json::from_str(turn.answer.content.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", turn.answer.content));
    assert!(answer.is_object(), "{answer}");

    // Kept across a restart; off again, and gone with the conversation.
    drop(app);
    let app = home.open();
    assert!(app.conversation_view(&id).unwrap().conversation.json_output);
    let info = app.update_conversation_view(&id, &switch(false)).unwrap();
    assert!(!info.json_output);
    assert!(!app.json_output(&conv).unwrap());
}

#[test]
fn the_switch_on_an_unknown_conversation_is_refused() {
    let home = Home::new();
    let app = home.open();
    let missing = hearth_store::ConversationId::random();
    assert!(app.set_json_output(&missing, true).is_err());
    assert!(!app.json_output(&missing).unwrap());
}

/// A cloud turn with the switch on: the request body as the stand-in got it.
fn cloud_body(wire: Wire, kind: ProviderKind, model: &str) -> (Value, JsonEnforcement) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let standin = rt.block_on(StandIn::start(wire));
    standin.expect_key("sk-json-key");
    standin.set_answer("{\"ok\": true}");
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, "cloud", kind, &standin, "sk-json-key");
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            backend: Some(format!("cloud:{model}")),
            privacy: PrivacyPolicy::AskBeforeCloud { chain: vec![] },
            ..NewConversation::default()
        })
        .unwrap()
        .id;
    let info = app
        .update_conversation_view(&conv.to_string(), &switch(true))
        .unwrap();
    let options = TurnOptions {
        max_tokens: Some(16),
        consent: Consent::Granted,
        ..TurnOptions::default()
    };
    rt.block_on(app.send(
        &conv,
        "A JSON object, please.",
        &options,
        CancellationToken::new(),
        |_| {},
    ))
    .unwrap();
    let bodies = standin.chat_bodies();
    assert_eq!(bodies.len(), 1);
    (bodies[0].clone(), info.json_enforcement)
}

#[test]
fn cloud_turns_ask_openai_and_gemini_for_json_and_say_anthropic_does_not_enforce_it() {
    let (body, enforced) = cloud_body(Wire::OpenAi, ProviderKind::OpenAi, "gpt-4o-mini");
    assert_eq!(body["response_format"]["type"], "json_object", "{body}");
    assert_eq!(enforced, JsonEnforcement::Provider);

    let (body, enforced) = cloud_body(Wire::Gemini, ProviderKind::Gemini, "gemini-2.0-flash");
    assert_eq!(
        body["generationConfig"]["responseMimeType"], "application/json",
        "{body}"
    );
    assert_eq!(enforced, JsonEnforcement::Provider);

    let (_, enforced) = cloud_body(Wire::Anthropic, ProviderKind::Anthropic, "claude-3-5-haiku");
    assert_eq!(enforced, JsonEnforcement::NotEnforced);
}
