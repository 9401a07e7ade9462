use std::sync::{Arc, Mutex};

use hearth_backend::Role;
use hearth_core::{ChatEvent, CoreError, TurnOptions};
use hearth_engine::EngineOptions;
use hearth_secrets::{SecretStore, SecretString};
use hearth_store::{MessageStatus, NewMessage};
use tokio_util::sync::CancellationToken;

use crate::{Home, contains, greedy_conversation, runtime};

fn options(max_tokens: usize) -> TurnOptions {
    TurnOptions {
        max_tokens: Some(max_tokens),
        ..TurnOptions::default()
    }
}

/// Collects the events of a turn.
fn recorder() -> (Arc<Mutex<Vec<ChatEvent>>>, impl FnMut(ChatEvent) + Send) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (events, move |e| sink.lock().unwrap().push(e))
}

#[test]
fn a_turn_is_stored_streamed_and_finished_with_its_metrics() {
    let home = Home::new();
    home.secrets
        .set(
            "provider.openai",
            &SecretString::from("sk-planted-secret-0042"),
        )
        .unwrap();
    let app = home.open();
    let conv = greedy_conversation(&app, Some("You are a helpful assistant."));
    let (events, sink) = recorder();
    let turn = runtime()
        .block_on(app.send(
            &conv,
            "What is the capital of France?",
            &options(32),
            CancellationToken::new(),
            sink,
        ))
        .unwrap();

    let events = events.lock().unwrap();
    assert!(matches!(
        events.first(),
        Some(ChatEvent::Started {
            dropped_turns: 0,
            ..
        })
    ));
    assert!(matches!(events.last(), Some(ChatEvent::Finished { .. })));
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, turn.answer.content);
    assert!(
        turn.answer.content.contains("Paris"),
        "{}",
        turn.answer.content
    );
    assert_eq!(turn.answer.status, MessageStatus::Complete);
    let m = &turn.answer.metrics;
    assert!(m.tokens_in.unwrap() > 10 && m.tokens_out.unwrap() > 0);
    assert!(m.decode_tok_s.unwrap() > 0.0 && m.ttft_ms.is_some());
    assert_eq!(turn.answer.backend.as_deref(), Some("local"));

    let store = app.store();
    let path = store.active_path(&conv).unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(path[0].role, Role::User);
    assert_eq!(path[1].id, turn.answer.id);
    assert_eq!(
        store.conversation(&conv).unwrap().title,
        "What is the capital of France?"
    );
    let usage = store.usage_summary(None).unwrap();
    assert_eq!(usage.requests, 1);
    drop(store);
    drop(app);
    assert!(!contains(&home.db_bytes(), "sk-planted-secret-0042"));
}

#[test]
fn cancel_keeps_the_partial_answer_and_continue_carries_on() {
    let home = Home::new();
    let app = home.open();
    let conv = greedy_conversation(&app, None);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let mut tokens = 0;
    let rt = runtime();
    let turn = rt
        .block_on(app.send(
            &conv,
            "Count from 1 to 100, separated by commas.",
            &options(200),
            cancel,
            move |e| {
                if matches!(e, ChatEvent::Token { .. }) {
                    tokens += 1;
                    if tokens == 5 {
                        stop.cancel();
                    }
                }
            },
        ))
        .unwrap();
    assert_eq!(turn.answer.status, MessageStatus::Cancelled);
    let partial = turn.answer.content.clone();
    assert!(!partial.is_empty());

    let continued = rt
        .block_on(app.continue_answer(
            &turn.answer.id,
            &options(16),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    assert_eq!(continued.answer.id, turn.answer.id, "continues in place");
    assert!(continued.answer.content.starts_with(&partial));
    assert!(continued.answer.content.len() > partial.len());
    assert_ne!(continued.answer.status, MessageStatus::Streaming);
    assert_eq!(app.store().active_path(&conv).unwrap().len(), 2);
}

#[test]
fn regenerate_and_edit_make_branches_that_can_be_switched() {
    let home = Home::new();
    let app = home.open();
    let conv = greedy_conversation(&app, None);
    let rt = runtime();
    let first = rt
        .block_on(app.send(
            &conv,
            "Name a colour.",
            &options(8),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    let again = rt
        .block_on(app.regenerate(
            &first.answer.id,
            &options(8),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    let store = app.store();
    assert_eq!(
        store.siblings(&first.answer.id).unwrap(),
        [first.answer.id.clone(), again.answer.id.clone()]
    );
    assert_eq!(
        store.active_path(&conv).unwrap().last().unwrap().id,
        again.answer.id
    );
    let back = store.switch_branch(&first.answer.id).unwrap();
    assert_eq!(back.last().unwrap().id, first.answer.id);
    drop(store);

    let user = first.user_message.unwrap();
    let edited = rt
        .block_on(app.edit_and_resend(
            &user.id,
            "Name a fruit.",
            &options(8),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap();
    let store = app.store();
    let path = store.active_path(&conv).unwrap();
    assert_eq!(path.len(), 2);
    assert_eq!(path[0].content, "Name a fruit.");
    assert_eq!(path[1].id, edited.answer.id);
    assert_eq!(store.siblings(&user.id).unwrap().len(), 2);
    // The first branch is still there, whole.
    let old = store.switch_branch(&user.id).unwrap();
    assert_eq!(old[0].content, "Name a colour.");
}

#[test]
fn old_turns_are_dropped_to_fit_and_an_oversized_message_is_refused() {
    let home = Home::new();
    let app = home.open_with_engine(EngineOptions {
        context_length: Some(256),
        ..EngineOptions::default()
    });
    let conv = greedy_conversation(&app, Some("Be brief."));
    {
        // Ten long turns of history, far more than 256 tokens.
        let store = app.store();
        let mut parent = None;
        for i in 0..10 {
            for role in [Role::User, Role::Assistant] {
                let m = store
                    .append_message(&NewMessage {
                        conversation_id: conv.clone(),
                        parent_id: parent.clone(),
                        role,
                        content: format!("Turn {i}: the quick brown fox jumps over the lazy dog again and again and again."),
                        status: MessageStatus::Complete,
                        backend: None,
                        model: None,
                    })
                    .unwrap();
                parent = Some(m.id);
            }
        }
    }
    let rt = runtime();
    let (events, sink) = recorder();
    let turn = rt
        .block_on(app.send(
            &conv,
            "Say hi.",
            &options(16),
            CancellationToken::new(),
            sink,
        ))
        .unwrap();
    assert!(turn.dropped_turns > 0);
    let dropped = events.lock().unwrap().iter().find_map(|e| match e {
        ChatEvent::Started {
            dropped_turns,
            prompt_tokens,
            ..
        } => Some((*dropped_turns, *prompt_tokens)),
        _ => None,
    });
    let (dropped, prompt_tokens) = dropped.unwrap();
    assert_eq!(dropped, turn.dropped_turns);
    assert!(prompt_tokens + 16 <= 256, "{prompt_tokens}");
    assert_eq!(turn.answer.status, MessageStatus::Complete);

    let huge = "word ".repeat(400);
    let err = rt
        .block_on(app.send(&conv, &huge, &options(16), CancellationToken::new(), |_| {}))
        .unwrap_err();
    assert!(matches!(err, CoreError::TooLong(_)), "{err}");
    // The user's message is kept; no answer was started for it.
    let path = app.store().active_path(&conv).unwrap();
    assert_eq!(path.last().unwrap().role, Role::User);
    assert_eq!(path.last().unwrap().content, huge);
}

/// Issue 17, item 6 (context shift): a conversation that outgrows the
/// context keeps answering. The chat service leaves out the oldest turns and
/// says so in `Started` (the CLI prints it; the app shows it); the engine
/// reuses the cached prefix it still can (the system prompt at least) and
/// never writes past its window, so every answer is a real one.
#[test]
fn a_conversation_longer_than_the_window_keeps_answering_issue_17() {
    const CONTEXT: usize = 256;
    const ANSWER: usize = 40;
    let home = Home::new();
    let app = home.open_with_engine(EngineOptions {
        context_length: Some(CONTEXT),
        ..EngineOptions::default()
    });
    let conv = greedy_conversation(&app, Some("You are a helpful assistant."));
    let rt = runtime();
    let questions = [
        "Tell me about the sea.",
        "Tell me about mountains.",
        "Tell me about forests.",
        "Tell me about rivers.",
        "Tell me about deserts.",
        "What is the capital of France?",
    ];
    let mut told_dropped = Vec::new();
    for question in questions {
        let (events, sink) = recorder();
        let turn = rt
            .block_on(app.send(
                &conv,
                question,
                &options(ANSWER),
                CancellationToken::new(),
                sink,
            ))
            .unwrap_or_else(|e| panic!("{question}: {e}"));
        assert_eq!(turn.answer.status, MessageStatus::Complete, "{question}");
        assert!(!turn.answer.content.trim().is_empty(), "{question}");
        let started = events.lock().unwrap().iter().find_map(|e| match e {
            ChatEvent::Started {
                dropped_turns,
                prompt_tokens,
                ..
            } => Some((*dropped_turns, *prompt_tokens)),
            _ => None,
        });
        let (dropped, prompt_tokens) = started.unwrap();
        assert_eq!(dropped, turn.dropped_turns, "the notice is the truth");
        assert!(prompt_tokens + ANSWER <= CONTEXT, "{prompt_tokens}");
        told_dropped.push(dropped);
        if dropped > 0 {
            // The system prompt is the part of the cache that is still valid.
            let reused = turn.answer.metrics.prompt_tokens_reused.unwrap();
            assert!(reused > 0, "nothing reused after a drop");
        }
        if question.contains("France") {
            // Not garbage: the same answer as in a fresh conversation.
            assert!(
                turn.answer.content.contains("Paris"),
                "{}",
                turn.answer.content
            );
        }
    }
    // The history outgrew the window, and kept outgrowing it.
    assert_eq!(told_dropped[0], 0);
    assert!(*told_dropped.last().unwrap() > 0, "{told_dropped:?}");
    // Every turn is stored, the dropped ones too.
    let path = app.store().active_path(&conv).unwrap();
    assert_eq!(path.len(), 2 * questions.len());
}
