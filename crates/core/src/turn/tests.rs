//! The turn path with a scripted backend: what each step does, and that the
//! app's chat turns, the API and `hearth run` all take it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hearth_backend::{
    BackendError, BackendId, CancellationToken, ChatBackend, ChatRequest, Completion, EngineStats,
    ErrorKind, FinishReason, Message, PromptMode, Role, TokenSink, Usage,
};
use hearth_secrets::MemoryStore;
use hearth_store::{MessageStatus, NewConversation, NewMessage};

use super::*;
use crate::api::{ApiChat, ApiFinish, ApiInput};
use crate::chat::{Pending, Target};
use crate::redact::RedactionSettings;
use crate::router::Consent;
use crate::{App, Budget, ChatEvent, Config, OpenOptions, Price, Secrets, TurnOptions};

/// What the scripted backend does once it has the request.
#[derive(Clone)]
enum Script {
    /// Streams these pieces and finishes.
    Answer(Vec<&'static str>),
    /// Streams these pieces, then fails with this error.
    FailAfter(Vec<&'static str>, BackendError),
    /// Streams these pieces, then waits to be cancelled.
    UntilCancelled(Vec<&'static str>),
}

/// A backend that follows a script and keeps every request it was sent.
/// With a context window it counts a token per word plus one per message.
struct Scripted {
    id: BackendId,
    script: Script,
    window: Option<usize>,
    sent: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn local(script: Script) -> Self {
        Self::new(BackendId::new("local", "scripted"), script)
    }

    fn cloud(script: Script) -> Self {
        Self::new(BackendId::new("fake", "fake-model"), script)
    }

    fn new(id: BackendId, script: Script) -> Self {
        Self {
            id,
            script,
            window: None,
            sent: Mutex::new(Vec::new()),
        }
    }

    fn with_window(mut self, window: usize) -> Self {
        self.window = Some(window);
        self
    }

    fn sent(&self) -> Vec<ChatRequest> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn words(req: &ChatRequest) -> usize {
        req.messages
            .iter()
            .map(|m| 1 + m.content.split_whitespace().count())
            .sum()
    }
}

#[async_trait::async_trait]
impl ChatBackend for Scripted {
    fn id(&self) -> BackendId {
        self.id.clone()
    }

    async fn stream(
        &self,
        req: ChatRequest,
        out: TokenSink,
        cancel: CancellationToken,
    ) -> Result<Completion, BackendError> {
        let input_tokens = Self::words(&req) as u64;
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(req);
        let (pieces, ending) = match &self.script {
            Script::Answer(pieces) => (pieces, None),
            Script::FailAfter(pieces, err) => (pieces, Some(err.clone())),
            Script::UntilCancelled(pieces) => (pieces, None),
        };
        for piece in pieces {
            out.send(*piece);
        }
        if let Some(err) = ending {
            return Err(err.with_partial(pieces.concat()));
        }
        let finish = match &self.script {
            Script::UntilCancelled(_) => {
                cancel.cancelled().await;
                FinishReason::Cancelled
            }
            _ => FinishReason::Stop,
        };
        Ok(Completion {
            text: pieces.concat(),
            finish,
            usage: Some(Usage {
                input_tokens,
                output_tokens: pieces.len() as u64,
            }),
            model: self.id.model.clone(),
            time_to_first_token: Some(Duration::ZERO),
            retries: 1,
            engine: self.id.is_local().then(|| EngineStats {
                decode_tok_s: 42.0,
                prompt_tokens_reused: 3,
                ..EngineStats::default()
            }),
            logprobs: None,
            tool_calls: Vec::new(),
        })
    }

    fn context_window(&self) -> Option<usize> {
        self.window
    }

    fn count_tokens(&self, req: &ChatRequest) -> Result<Option<usize>, BackendError> {
        Ok(self.window.map(|_| Self::words(req)))
    }
}

/// What a record was told, in order.
#[derive(Debug, Clone, PartialEq)]
enum Told {
    Open {
        dropped: usize,
        prompt_tokens: usize,
    },
    Text(String),
    Checkpoint(String),
    Finish {
        text: String,
        status: MessageStatus,
        error: Option<String>,
        error_kind: Option<ErrorKind>,
    },
}

#[derive(Default)]
struct Notes {
    told: Vec<Told>,
    /// What `open` says the answer already has.
    prefix: String,
    /// Checkpoints fail.
    broken: bool,
}

impl Record for Notes {
    fn open(&mut self, opening: &Opening<'_>) -> Result<String, CoreError> {
        self.told.push(Told::Open {
            dropped: opening.dropped_turns,
            prompt_tokens: opening.prompt_tokens,
        });
        Ok(self.prefix.clone())
    }

    fn text(&mut self, piece: &str) {
        self.told.push(Told::Text(piece.to_owned()));
    }

    fn checkpoint(&mut self, text: &str) -> Result<(), CoreError> {
        if self.broken {
            return Err(CoreError::Invalid("the disk is full".into()));
        }
        self.told.push(Told::Checkpoint(text.to_owned()));
        Ok(())
    }

    fn finish(&mut self, finished: &Finished<'_>) -> Result<(), CoreError> {
        self.told.push(Told::Finish {
            text: finished.text.to_owned(),
            status: finished.status,
            error: finished.error.clone(),
            error_kind: finished.error_kind,
        });
        Ok(())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn chat(messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        messages,
        ..ChatRequest::default()
    }
}

fn conversation() -> Vec<Message> {
    vec![
        Message::system("be brief"),               // 3
        Message::user("one two three"),            // 4
        Message::assistant("four five six seven"), // 5
        Message::user("eight nine"),               // 3
    ]
}

fn run_with(turn: Turn<'_>, notes: &mut Notes) -> Result<Answer, CoreError> {
    runtime().block_on(run(turn, notes, CancellationToken::new()))
}

#[test]
fn a_turn_opens_streams_and_finishes_its_record_with_metrics() {
    let backend = Scripted::local(Script::Answer(vec!["Par", "is."]));
    let mut notes = Notes::default();
    let turn = Turn {
        checkpoint_every: Duration::ZERO,
        ..Turn::new(&backend, chat(conversation()))
    };
    let answer = run_with(turn, &mut notes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.text, "Paris.");
    assert_eq!(
        notes.told,
        [
            // Nothing counts tokens without a window: 50 characters / 4.
            Told::Open {
                dropped: 0,
                prompt_tokens: 12,
            },
            Told::Text("Par".into()),
            Told::Checkpoint("Par".into()),
            Told::Text("is.".into()),
            Told::Checkpoint("Paris.".into()),
            Told::Finish {
                text: "Paris.".into(),
                status: MessageStatus::Complete,
                error: None,
                error_kind: None,
            },
        ]
    );
    let m = &answer.metrics;
    assert_eq!((m.tokens_in, m.tokens_out), (Some(15), Some(2)));
    assert_eq!(m.decode_tok_s, Some(42.0), "the engine's own speed");
    assert_eq!(m.prompt_tokens_reused, Some(3));
    assert_eq!(m.cost_usd, Some(0.0), "nothing left the machine");
    assert!(m.latency_ms.is_some());
    assert_eq!(backend.sent()[0].messages, conversation());
}

#[test]
fn conversations_are_fitted_to_the_window_oldest_turn_first() {
    // 15 tokens; a window of 16 keeps 4 for the answer, so the first turn
    // (user + answer, 9 tokens) goes and 6 remain.
    let backend = Scripted::local(Script::Answer(vec!["ok"])).with_window(16);
    let mut notes = Notes::default();
    let answer = run_with(Turn::new(&backend, chat(conversation())), &mut notes)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.dropped_turns, 1);
    assert_eq!(answer.prompt_tokens, 6);
    assert_eq!(
        notes.told[0],
        Told::Open {
            dropped: 1,
            prompt_tokens: 6
        }
    );
    assert_eq!(
        backend.sent()[0].messages,
        [Message::system("be brief"), Message::user("eight nine")]
    );
}

#[test]
fn a_prompt_that_cannot_fit_is_refused_before_anything_opens() {
    // The system prompt and the last turn are 6 tokens; 5 fit beside the
    // room kept for the answer.
    let backend = Scripted::local(Script::Answer(vec!["ok"])).with_window(6);
    let mut notes = Notes::default();
    let err = run_with(Turn::new(&backend, chat(conversation())), &mut notes)
        .err()
        .unwrap_or_else(|| panic!("fitted"));
    assert!(matches!(err, CoreError::TooLong(_)), "{err:?}");
    assert!(notes.told.is_empty());
    assert!(backend.sent().is_empty(), "nothing was sent");
}

#[test]
fn a_turn_that_is_not_fitted_is_sent_whole() {
    let backend = Scripted::local(Script::Answer(vec!["ok"])).with_window(6);
    let text = runtime()
        .block_on(answer(
            &backend,
            chat(conversation()),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap_or_else(|e| panic!("{e}"))
        .text;
    assert_eq!(text, "ok");
    assert_eq!(backend.sent()[0].messages.len(), 4);
}

#[test]
fn a_continued_answer_carries_on_from_what_it_had() {
    let backend = Scripted::local(Script::Answer(vec![" and on"]));
    let mut notes = Notes {
        prefix: "on".into(),
        ..Notes::default()
    };
    let mut messages = conversation();
    messages.push(Message::assistant("on"));
    let request = ChatRequest {
        mode: PromptMode::Continue,
        ..chat(messages)
    };
    let answer =
        run_with(Turn::new(&backend, request), &mut notes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.text, "on and on");
    assert_eq!(backend.sent()[0].mode, PromptMode::Continue);
}

/// Issue 22, item 6: earlier answers go back to the model without their
/// `<think>` reasoning, local and cloud alike; the answer being continued and
/// text completion keep theirs.
#[test]
fn earlier_reasoning_is_left_out_of_the_next_turn() {
    let history = vec![
        Message::user("capital of France?"),
        Message::assistant("<think>\nThe user wants a city.\n</think>\n\nParis."),
        Message::user("and Italy?"),
    ];
    for backend in [
        Scripted::local(Script::Answer(vec!["Rome."])),
        Scripted::cloud(Script::Answer(vec!["Rome."])),
    ] {
        let mut notes = Notes::default();
        run_with(Turn::new(&backend, chat(history.clone())), &mut notes)
            .unwrap_or_else(|e| panic!("{e}"));
        let sent = &backend.sent()[0].messages;
        assert_eq!(sent[1], Message::assistant("Paris."), "{}", backend.id);
        assert_eq!((&sent[0], &sent[2]), (&history[0], &history[2]));
    }

    // Continuing an answer that is still thinking: its own thoughts stay.
    let backend = Scripted::local(Script::Answer(vec![" so"]));
    let mut continued = history.clone();
    continued.push(Message::assistant("<think>Rome, I think"));
    let request = ChatRequest {
        mode: PromptMode::Continue,
        ..chat(continued)
    };
    run_with(Turn::new(&backend, request), &mut Notes::default()).unwrap_or_else(|e| panic!("{e}"));
    let sent = &backend.sent()[0].messages;
    assert_eq!(sent[1].content, "Paris.");
    assert_eq!(sent[3].content, "<think>Rome, I think");

    // Text completion is the user's text, as it is.
    let backend = Scripted::local(Script::Answer(vec!["ok"]));
    let text = ChatRequest {
        mode: PromptMode::Text,
        ..chat(vec![Message::assistant("<think>a</think>b")])
    };
    run_with(Turn::new(&backend, text), &mut Notes::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(backend.sent()[0].messages[0].content, "<think>a</think>b");
}

#[test]
fn a_failing_backend_is_recorded_and_returned_as_its_kind() {
    let broke = BackendError::new(ErrorKind::Local, "inference failed: out of bounds");
    let backend = Scripted::local(Script::FailAfter(vec!["Par"], broke.clone()));
    let mut notes = Notes::default();
    let err = run_with(Turn::new(&backend, chat(conversation())), &mut notes)
        .err()
        .unwrap_or_else(|| panic!("failed"));
    // The local engine's failure is the model's, and keeps its text.
    assert!(matches!(&err, CoreError::LocalModel(e) if e.kind == ErrorKind::Local));
    assert_eq!(err.to_string(), "inference failed: out of bounds");
    assert_eq!(
        notes.told.last(),
        Some(&Told::Finish {
            text: "Par".into(),
            status: MessageStatus::Error,
            error: Some("inference failed: out of bounds".into()),
            error_kind: Some(ErrorKind::Local),
        })
    );

    let limited = BackendError::new(ErrorKind::RateLimit, "OpenAI is rate limiting");
    let backend = Scripted::cloud(Script::FailAfter(vec![], limited));
    let err = run_with(
        Turn::new(&backend, chat(conversation())),
        &mut Notes::default(),
    )
    .err()
    .unwrap_or_else(|| panic!("failed"));
    assert!(matches!(&err, CoreError::Backend(e) if e.kind == ErrorKind::RateLimit));
}

#[test]
fn cancelling_keeps_the_text_as_a_cancelled_answer() {
    let backend = Scripted::local(Script::UntilCancelled(vec!["Once upon"]));
    let mut notes = Notes::default();
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    // Cancel as soon as the first piece is shown.
    struct CancelOnText<'a>(&'a mut Notes, CancellationToken);
    impl Record for CancelOnText<'_> {
        fn text(&mut self, piece: &str) {
            self.0.text(piece);
            self.1.cancel();
        }
        fn finish(&mut self, finished: &Finished<'_>) -> Result<(), CoreError> {
            self.0.finish(finished)
        }
    }
    let answer = runtime()
        .block_on(run(
            Turn::new(&backend, chat(conversation())),
            &mut CancelOnText(&mut notes, stop),
            cancel,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.text, "Once upon");
    assert_eq!(answer.completion.finish, FinishReason::Cancelled);
    assert!(matches!(
        notes.told.last(),
        Some(Told::Finish {
            status: MessageStatus::Cancelled,
            ..
        })
    ));
}

#[test]
fn a_checkpoint_that_fails_stops_the_backend_and_ends_the_turn() {
    let backend = Scripted::local(Script::UntilCancelled(vec!["a", "b"]));
    let mut notes = Notes {
        broken: true,
        ..Notes::default()
    };
    let turn = Turn {
        checkpoint_every: Duration::ZERO,
        ..Turn::new(&backend, chat(conversation()))
    };
    // The backend would wait for ever; the failed checkpoint cancels it.
    let err = run_with(turn, &mut notes)
        .err()
        .unwrap_or_else(|| panic!("failed"));
    assert_eq!(err.to_string(), "the disk is full");
    assert_eq!(
        notes.told.last(),
        Some(&Told::Finish {
            text: "ab".into(),
            status: MessageStatus::Error,
            error: Some("the disk is full".into()),
            error_kind: Some(ErrorKind::Local),
        })
    );
}

/// An app on a fresh data directory with an in-memory keychain.
fn app(home: &std::path::Path) -> App {
    App::open_with(
        Config::with_home(home),
        OpenOptions {
            secrets: Secrets::Store(Arc::new(MemoryStore::default())),
            ..OpenOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cloud_turns_are_redacted_and_the_answer_restored() {
    let home = home();
    let app = app(home.path());
    app.set_redaction(&RedactionSettings {
        enabled: true,
        words: vec!["Ada".into()],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let backend = Scripted::cloud(Script::Answer(vec!["Hello [WO", "RD_1], [EMA", "IL_1]"]));
    let turn = Turn {
        outbound: app
            .outbound(&backend.id())
            .unwrap_or_else(|e| panic!("{e}")),
        ..Turn::new(
            &backend,
            chat(vec![Message::user("I am Ada, write to ada@x.org")]),
        )
    };
    let mut notes = Notes::default();
    let answer = run_with(turn, &mut notes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        backend.sent()[0].messages[0].content,
        "I am [WORD_1], write to [EMAIL_1]"
    );
    // A placeholder split across pieces is held back until it is whole.
    assert_eq!(answer.text, "Hello Ada, ada@x.org");
    assert!(
        !notes
            .told
            .iter()
            .any(|t| matches!(t, Told::Text(p) if p.contains('['))),
        "{:?}",
        notes.told
    );
    // A self-hosted model costs nothing unless the user set a price.
    assert_eq!(answer.metrics.cost_usd, Some(0.0));
}

#[test]
fn a_cloud_turn_over_budget_is_refused_before_anything_opens() {
    let home = home();
    let app = app(home.path());
    let backend = Scripted::cloud(Script::Answer(vec!["ok"]));
    let id = backend.id();
    app.set_price(
        &id.provider,
        &id.model,
        Some(Price {
            input: 1e6,
            output: 1e6,
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    app.set_budget(Budget {
        daily_usd: Some(1.0),
        monthly_usd: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let turn = Turn {
        outbound: app.outbound(&id).unwrap_or_else(|e| panic!("{e}")),
        ..Turn::new(&backend, chat(conversation()))
    };
    let mut notes = Notes::default();
    let err = run_with(turn, &mut notes)
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert!(matches!(err, CoreError::OverBudget(_)), "{err:?}");
    assert!(notes.told.is_empty() && backend.sent().is_empty());
}

/// The regression test of the one turn path: the same conversation asked
/// through the app's chat turn, the API and `hearth run`'s entry point
/// reaches the backend as the same request, and each front end gets the
/// answer its way (a stored message with a usage record, an API answer,
/// the text).
#[test]
fn app_api_and_cli_turns_take_the_same_path() {
    let home = home();
    let app = app(home.path());
    let rt = runtime();
    let backend = Scripted::local(Script::Answer(vec!["Paris", "."])).with_window(4096);
    let question = "What is the capital of France?";
    let system = "You are terse.";

    // The app: a stored conversation.
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            model: Some("scripted".into()),
            system_prompt: Some(system.into()),
            ..NewConversation::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let user = app
        .store()
        .append_message(&NewMessage {
            conversation_id: conv.id.clone(),
            parent_id: None,
            role: Role::User,
            content: question.into(),
            status: MessageStatus::Complete,
            backend: None,
            model: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let plan = app
        .plan_turn(&conv, Consent::NotAsked)
        .unwrap_or_else(|e| panic!("{e}"));
    let options = TurnOptions::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let chat_turn = rt
        .block_on(app.answer_with(
            &backend,
            None,
            Pending {
                conv: &conv,
                history: vec![user.clone()],
                target: Target::New {
                    parent: user.id.clone(),
                },
                options: &options,
                user_message: Some(user.id.clone()),
            },
            &plan,
            CancellationToken::new(),
            move |e: ChatEvent| seen.lock().unwrap_or_else(PoisonError::into_inner).push(e),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chat_turn.answer.content, "Paris.");
    assert_eq!(chat_turn.answer.backend.as_deref(), Some("local"));
    assert_eq!(chat_turn.answer.model.as_deref(), Some("scripted"));
    let stored = app
        .store()
        .message(&chat_turn.answer.id)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.status, MessageStatus::Complete);
    assert_eq!(stored.metrics.decode_tok_s, Some(42.0));
    assert_eq!(
        app.store()
            .usage_summary(None)
            .unwrap_or_else(|e| panic!("{e}"))
            .requests,
        1
    );
    let events = events.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(matches!(events.first(), Some(ChatEvent::Started { .. })));
    assert!(matches!(events.last(), Some(ChatEvent::Finished { .. })));

    // The API: stateless.
    let mut streamed = String::new();
    let (api, cost) = rt
        .block_on(app.api_answer_with(
            &backend,
            ApiChat {
                model: "scripted".into(),
                input: ApiInput::Chat(vec![Message::system(system), Message::user(question)]),
                max_tokens: None,
                temperature: None,
                top_p: None,
                seed: None,
                stop: Vec::new(),
                format: hearth_engine::OutputFormat::Text,
                logprobs: None,
                tools: Vec::new(),
                tool_choice: hearth_backend::ToolChoice::Auto,
                thinking: None,
            },
            CancellationToken::new(),
            |piece| streamed.push_str(piece),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((api.text.as_str(), streamed.as_str()), ("Paris.", "Paris."));
    assert_eq!(api.finish, ApiFinish::Stop);
    assert_eq!(api.backend, "local");
    assert_eq!(cost, Some(0.0));

    // `hearth run`: nothing kept.
    let cli = rt
        .block_on(answer(
            &backend,
            chat(vec![Message::system(system), Message::user(question)]),
            CancellationToken::new(),
            |_| {},
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cli.text, "Paris.");

    let sent = backend.sent();
    assert_eq!(sent.len(), 3);
    let expected = [Message::system(system), Message::user(question)];
    for request in &sent {
        assert_eq!(request.messages, expected);
        assert_eq!(request.mode, PromptMode::Chat);
    }
}
