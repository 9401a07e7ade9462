//! Issue 21: cloud turns manage their context too. A conversation to a cloud
//! model is fitted into its window (the provider's known one, or the one the
//! user set), and a provider that still refuses the prompt as too long gets
//! it once more with the oldest turns left out, the user told either way.
//! Each test checks what the provider stand-in was sent.

use hearth_backend::{ErrorKind, Role};
use hearth_core::hearth_providers::ProviderKind;
use hearth_core::router::Consent;
use hearth_core::view::ContextWindow;
use hearth_core::{App, ChatEvent, CoreError, TurnOptions, TurnResult};
use hearth_store::{ConversationId, MessageStatus, NewConversation, NewMessage, PrivacyPolicy};
use hearth_testkit::providers::{Fault, StandIn, Wire};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin};

const KEY: &str = "sk-planted-context-key-0021";
const ANSWER: &str = "Here is the summary.";
const QUESTION: &str = "Summarise our conversation.";
const TURNS: usize = 10;

struct World {
    _home: Home,
    app: App,
    standin: StandIn,
    runtime: tokio::runtime::Runtime,
    conv: ConversationId,
}

/// A provider `name` of `kind` at a stand-in, and a conversation with it
/// holding `TURNS` long turns (turn `i` names itself `turn-i`).
fn world(wire: Wire, kind: ProviderKind, model: &str) -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(wire));
    standin.expect_key(KEY);
    standin.set_answer(ANSWER);
    let home = Home::new();
    let app = home.open_for_standins();
    add_standin(&app, "cloud", kind, &standin, KEY);
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            backend: Some(format!("cloud:{model}")),
            privacy: PrivacyPolicy::AskBeforeCloud { chain: vec![] },
            ..NewConversation::default()
        })
        .unwrap()
        .id;
    let mut parent = None;
    for i in 0..TURNS {
        for (role, text) in [
            (
                Role::User,
                format!("turn-{i} question: {}", "lorem ipsum ".repeat(50)),
            ),
            (
                Role::Assistant,
                format!("turn-{i} answer: {}", "dolor sit ".repeat(25)),
            ),
        ] {
            let message = app
                .store()
                .append_message(&NewMessage {
                    conversation_id: conv.clone(),
                    parent_id: parent.take(),
                    role,
                    content: text,
                    status: MessageStatus::Complete,
                    backend: None,
                    model: None,
                })
                .unwrap();
            parent = Some(message.id);
        }
    }
    World {
        _home: home,
        app,
        standin,
        runtime,
        conv,
    }
}

impl World {
    fn send(&self) -> (Result<TurnResult, CoreError>, Vec<ChatEvent>) {
        let options = TurnOptions {
            max_tokens: Some(32),
            consent: Consent::Granted,
            ..TurnOptions::default()
        };
        let mut events = Vec::new();
        let result = self.runtime.block_on(self.app.send(
            &self.conv,
            QUESTION,
            &options,
            CancellationToken::new(),
            |e| events.push(e),
        ));
        (result, events)
    }

    /// The text of every request the stand-in received.
    fn sent(&self) -> Vec<String> {
        self.standin
            .requests()
            .iter()
            .map(|r| r.body.to_string())
            .collect()
    }
}

/// Which of the history's turns a request body holds.
fn turns_in(body: &str) -> Vec<usize> {
    (0..TURNS)
        .filter(|i| body.contains(&format!("turn-{i} question")))
        .collect()
}

fn started_dropped(events: &[ChatEvent]) -> Option<usize> {
    events.iter().find_map(|e| match e {
        ChatEvent::Started { dropped_turns, .. } => Some(*dropped_turns),
        _ => None,
    })
}

fn trimmed(events: &[ChatEvent]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Trimmed { dropped_turns, .. } => Some(*dropped_turns),
            _ => None,
        })
        .collect()
}

#[test]
fn a_long_history_to_a_small_window_sends_only_what_fits_and_says_so() {
    // An unknown model: without a window it would go whole.
    let w = world(Wire::OpenAi, ProviderKind::OpenAi, "my-finetune");
    let info = w
        .app
        .set_provider_context_window("cloud", Some(1000))
        .unwrap();
    assert_eq!(info.context_window, Some(1000));
    let view = w.app.providers_view().unwrap();
    assert_eq!(
        view[0].context_window,
        ContextWindow::Override { tokens: 1000 }
    );

    let (result, events) = w.send();
    let turn = result.unwrap();
    assert_eq!(turn.answer.content, ANSWER);
    assert!(turn.dropped_turns > 0, "nothing was dropped");
    assert_eq!(started_dropped(&events), Some(turn.dropped_turns));
    assert!(trimmed(&events).is_empty(), "fitted, never refused");

    let sent = w.sent();
    assert_eq!(sent.len(), 1);
    let kept = turns_in(&sent[0]);
    // The newest turns, and the question; the oldest left out.
    assert!(!kept.is_empty() && !kept.contains(&0), "{kept:?}");
    assert_eq!(kept.len(), TURNS - turn.dropped_turns, "{kept:?}");
    assert_eq!(kept.last(), Some(&(TURNS - 1)));
    assert!(sent[0].contains(QUESTION));
    // What went fits the window by the (over-counting) estimate: at most
    // 1000 tokens less the 32 kept for the answer, at 3 bytes a token.
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    let text: usize = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap_or("").len())
        .sum();
    assert!(text <= (1000 - 32) * 3, "{text} bytes");

    // Back to the table (which does not know the model): sent whole again.
    w.app.set_provider_context_window("cloud", None).unwrap();
    let (result, _) = w.send();
    assert_eq!(result.unwrap().dropped_turns, 0);
    assert_eq!(turns_in(&w.sent()[1]).len(), TURNS);
}

/// The provider refuses once as too long: the same turn goes again with at
/// least a quarter of it left out, and the answer says so.
fn refused_once_then_trimmed(wire: Wire, kind: ProviderKind, model: &str) {
    let w = world(wire, kind, model);
    w.standin.push_fault(Fault::ContextLength);

    let (result, events) = w.send();
    let turn = result.unwrap();
    assert_eq!(turn.answer.content, ANSWER, "{wire:?}");
    assert_eq!(turn.answer.status, MessageStatus::Complete);
    // The model's known window holds the whole history: fitting dropped nothing.
    assert_eq!(started_dropped(&events), Some(0), "{wire:?}");
    let notices = trimmed(&events);
    assert_eq!(notices.len(), 1, "{wire:?}");
    assert!(notices[0] > 0);
    assert_eq!(turn.dropped_turns, notices[0]);

    let sent = w.sent();
    assert_eq!(sent.len(), 2, "sent once more, only once");
    assert_eq!(turns_in(&sent[0]).len(), TURNS);
    let kept = turns_in(&sent[1]);
    assert_eq!(kept.len(), TURNS - notices[0], "{kept:?}");
    assert!(!kept.contains(&0));
    assert!(sent[1].contains(QUESTION));
    assert!(
        sent[1].len() <= sent[0].len() * 3 / 4 + 200,
        "{} of {} bytes",
        sent[1].len(),
        sent[0].len()
    );
}

#[test]
fn openai_refuses_once_as_too_long_and_the_trimmed_turn_is_answered() {
    refused_once_then_trimmed(Wire::OpenAi, ProviderKind::OpenAi, "gpt-4o-mini");
}

#[test]
fn anthropic_refuses_once_as_too_long_and_the_trimmed_turn_is_answered() {
    refused_once_then_trimmed(
        Wire::Anthropic,
        ProviderKind::Anthropic,
        "claude-3-5-haiku-latest",
    );
}

#[test]
fn refused_twice_is_a_clear_error_and_the_question_is_kept() {
    let w = world(Wire::OpenAi, ProviderKind::OpenAi, "gpt-4o-mini");
    w.standin.push_fault(Fault::ContextLength);
    w.standin.push_fault(Fault::ContextLength);

    let (result, events) = w.send();
    let err = result.unwrap_err();
    let CoreError::Backend(backend) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(backend.kind, ErrorKind::ContextLength, "{err}");
    let shown = err.to_string();
    assert!(shown.contains("context window"), "{shown}");
    assert!(shown.contains("oldest turn"), "{shown}");
    assert!(!shown.contains(KEY) && !shown.contains("130512"), "{shown}");
    assert_eq!(trimmed(&events).len(), 1);
    // Tried twice, no more.
    assert_eq!(w.standin.request_count(), 2);

    // Nothing lost: the whole history and the question are stored; the
    // answer is an error saying why.
    let path = w.app.store().active_path(&w.conv).unwrap();
    assert_eq!(path.len(), 2 * TURNS + 2);
    let question = &path[2 * TURNS];
    assert_eq!(
        (question.role, question.content.as_str()),
        (Role::User, QUESTION)
    );
    let answer = &path[2 * TURNS + 1];
    assert_eq!(answer.status, MessageStatus::Error);
    assert!(
        answer
            .error
            .as_deref()
            .is_some_and(|e| e.contains("oldest turn")),
        "{:?}",
        answer.error
    );
    assert!(path[0].content.starts_with("turn-0 question"));
}

#[test]
fn a_window_is_set_only_on_a_configured_provider_and_never_below_the_minimum() {
    let w = world(Wire::OpenAi, ProviderKind::OpenAi, "gpt-4o-mini");
    assert!(matches!(
        w.app.set_provider_context_window("nobody", Some(4096)),
        Err(CoreError::UnknownProvider(_))
    ));
    assert!(matches!(
        w.app.set_provider_context_window("cloud", Some(10)),
        Err(CoreError::Invalid(_))
    ));
    // Kept when the provider is set up again.
    w.app
        .set_provider_context_window("cloud", Some(4096))
        .unwrap();
    let info = w
        .app
        .add_provider(
            "cloud",
            ProviderKind::OpenAi,
            Some(w.standin.base_url().to_owned()),
            hearth_core::ProviderKey::Keep,
        )
        .unwrap();
    assert_eq!(info.context_window, Some(4096));
}
