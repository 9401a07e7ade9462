//! Issue 22, item 6: reasoning models. An earlier answer's `<think>` section
//! stays in the history but is not sent with the next turn.

use std::sync::{Arc, Mutex};

use hearth_backend::Role;
use hearth_core::TurnOptions;
use hearth_core::hearth_providers::ProviderKind;
use hearth_core::router::Consent;
use hearth_core::view::{ChatEventView, ConsentView, TurnRequest};
use hearth_store::{MessageStatus, NewConversation, NewMessage, PrivacyPolicy};
use hearth_testkit::providers::{StandIn, Wire};
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin};

const KEY: &str = "sk-planted-reasoning-key-0022";
const THOUGHT: &str = "The user wants a city; France's capital is Paris.";

#[test]
fn issue_22_earlier_reasoning_is_kept_but_not_sent_with_the_next_turn() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    standin.set_answer("Rome.");
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, "cloud", ProviderKind::OpenAi, &standin, KEY);
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            backend: Some("cloud:deepseek-reasoner".into()),
            privacy: PrivacyPolicy::AskBeforeCloud { chain: vec![] },
            ..NewConversation::default()
        })
        .unwrap()
        .id;
    let mut parent = None;
    let answer = format!("<think>\n{THOUGHT}\n</think>\n\nParis.");
    for (role, text) in [
        (Role::User, "Capital of France?"),
        (Role::Assistant, &answer),
    ] {
        let message = app
            .store()
            .append_message(&NewMessage {
                conversation_id: conv.clone(),
                parent_id: parent.take(),
                role,
                content: text.to_owned(),
                status: MessageStatus::Complete,
                backend: None,
                model: None,
            })
            .unwrap();
        parent = Some(message.id);
    }

    let options = TurnOptions {
        consent: Consent::Granted,
        ..TurnOptions::default()
    };
    let turn = runtime
        .block_on(app.send(
            &conv,
            "And Italy?",
            &options,
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    assert_eq!(turn.answer.content, "Rome.");

    let requests = standin.requests();
    let body = &requests[0].body;
    let sent: Vec<(String, String)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("user".to_owned(), "Capital of France?".to_owned()),
            ("assistant".to_owned(), "Paris.".to_owned()),
            ("user".to_owned(), "And Italy?".to_owned()),
        ]
    );
    assert!(!body.to_string().contains(THOUGHT), "{body}");

    // Nothing lost: the stored answer still has its reasoning.
    let path = app.store().active_path(&conv).unwrap();
    assert_eq!(path[1].content, answer);

    // The app's view of a new answer: its thinking streamed apart from its
    // text, and the stored answer shown split (the same splitter).
    standin.set_answer("<think>Italy: Rome again.</think>\n\nStill Rome.");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    runtime
        .block_on(app.turn_view(
            TurnRequest::Send {
                conversation_id: conv.to_string(),
                text: "Sure?".into(),
            },
            ConsentView::Granted,
            CancellationToken::new(),
            move |e| sink.lock().unwrap().push(e),
        ))
        .unwrap();
    let (mut thought, mut text) = (String::new(), String::new());
    for e in events.lock().unwrap().iter() {
        match e {
            ChatEventView::Reasoning { text: t } => thought.push_str(t),
            ChatEventView::Token { text: t } => text.push_str(t),
            _ => {}
        }
    }
    assert_eq!(
        (thought.trim(), text.as_str()),
        ("Italy: Rome again.", "Still Rome.")
    );
    let view = app.conversation_view(conv.as_str()).unwrap();
    let last = view.messages.last().unwrap();
    assert_eq!(last.content, "Still Rome.");
    assert_eq!(last.reasoning.as_deref(), Some("Italy: Rome again."));
    assert!(
        !view.conversation.supports_thinking,
        "a cloud model has no switch"
    );
    let first = &view.messages[1];
    assert_eq!(
        (first.content.as_str(), first.reasoning.as_deref()),
        ("Paris.", Some(THOUGHT))
    );
}
