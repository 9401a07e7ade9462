//! Every scenario against every provider wire: `matrix!` writes one test per
//! (scenario, provider) pair, named `openai::plain_stream` and so on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hearth_backend::{ChatBackend, ErrorKind, FinishReason, TokenSink, Usage};
use hearth_providers::{BreakerState, HttpPolicy, Purpose};
use hearth_testkit::providers::{Fault, PROMPT_TOKENS, pieces};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{Case, KEY, assert_clean, chat, fast_policy, provider_for, request, setup};

fn status(code: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        code,
        retry_after: retry_after.map(str::to_owned),
    }
}

/// The answer streams through the `ChatBackend` seam; the request reached the
/// stand-in in the provider's own shape.
async fn plain_stream(case: Case) {
    let s = setup(case, fast_policy()).await;
    let backend = s.provider.model(case.model());
    assert_eq!(backend.id().provider, case.name());
    assert_eq!(backend.id().model, case.model());
    let (sink, mut rx) = TokenSink::channel();
    let mut req = request(case);
    req.model = "ignored: the backend sets its own".into();
    let done = backend
        .stream(req, sink, CancellationToken::new())
        .await
        .unwrap();
    let mut streamed = String::new();
    while let Ok(piece) = rx.try_recv() {
        streamed.push_str(&piece);
    }
    let answer = s.server.answer();
    assert_eq!(done.text, answer);
    assert_eq!(streamed, answer);
    assert_eq!(done.finish, FinishReason::Stop);
    assert_eq!(
        done.usage,
        Some(Usage {
            input_tokens: PROMPT_TOKENS,
            output_tokens: pieces(&answer).len() as u64,
        })
    );
    assert_eq!(done.retries, 0);
    assert!(done.time_to_first_token.is_some());

    let requests = s.server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    let h = |name: &str| r.headers.get(name).map(String::as_str);
    let body = &r.body;
    match case {
        Case::OpenAi | Case::Compat => {
            assert_eq!(r.path, "/v1/chat/completions");
            assert_eq!(body["model"], case.model());
            let roles: Vec<&str> = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["system", "user", "assistant", "user"]);
            assert_eq!(body["messages"][0]["content"], "You are terse.");
            assert_eq!(
                body["messages"][3]["content"],
                "Say it again, with feeling."
            );
            assert_eq!(body["stream"], true);
            assert_eq!(body["stream_options"], json!({"include_usage": true}));
            if case == Case::OpenAi {
                assert_eq!(h("authorization"), Some(format!("Bearer {KEY}").as_str()));
                assert_eq!(body["max_completion_tokens"], 50);
            } else {
                assert_eq!(h("authorization"), None, "no key, no header");
                assert_eq!(body["max_tokens"], 50);
                assert_eq!(done.model, case.model());
            }
        }
        Case::Anthropic => {
            assert_eq!(r.path, "/v1/messages");
            assert_eq!(h("x-api-key"), Some(KEY));
            assert_eq!(h("anthropic-version"), Some("2023-06-01"));
            assert_eq!(body["model"], case.model());
            assert_eq!(body["system"], "You are terse.");
            assert_eq!(
                body["messages"],
                json!([
                    {"role": "user", "content": "Capital of France?"},
                    {"role": "assistant", "content": "Paris."},
                    {"role": "user", "content": "Say it again, with feeling."},
                ])
            );
            assert_eq!(body["max_tokens"], 50);
            assert_eq!(body["stream"], true);
        }
        Case::Gemini => {
            assert_eq!(
                r.path,
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
            );
            assert_eq!(r.query.as_deref(), Some("alt=sse"));
            assert_eq!(h("x-goog-api-key"), Some(KEY));
            assert_eq!(
                body["systemInstruction"],
                json!({"parts": [{"text": "You are terse."}]})
            );
            let roles: Vec<&str> = body["contents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, ["user", "model", "user"]);
            assert_eq!(body["contents"][1]["parts"][0]["text"], "Paris.");
            assert_eq!(body["generationConfig"]["maxOutputTokens"], 50);
            assert_eq!(done.model, "gemini-2.5-flash-standin");
        }
    }
}

/// 429 with `Retry-After: 1`: the retry waits at least a second.
async fn rate_limited_then_ok(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(status(429, Some("1")));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(text, s.server.answer(), "the text is sent once");
    let requests = s.server.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_secs(1), "waited only {gap:?}");
}

/// A Retry-After beyond the policy's maximum is not waited for.
async fn retry_after_too_long(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(status(429, Some("120")));
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert_eq!(err.retry_after, Some(Duration::from_secs(120)));
    assert!(err.to_string().contains(case.shown()), "{err}");
    assert_eq!(s.server.request_count(), 1);
}

async fn server_error_then_ok(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(status(500, None));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(done.text, s.server.answer());
    assert_eq!(text, done.text);
    assert_eq!(s.server.request_count(), 2);
    assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: 0 });
}

/// Retries run out: the error says how many were made.
async fn retries_run_out(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.set_fault_forever(status(500, None));
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert!(err.to_string().contains("gave up after 2 retries"), "{err}");
    assert_eq!(s.server.request_count(), 3);
}

/// 503 forever: after `breaker_threshold` calls the breaker opens and calls
/// fail without a request; after the cooldown one probe goes through.
async fn breaker_opens_and_probes(case: Case) {
    // Long enough that a loaded machine cannot reach the probe early.
    let policy = HttpPolicy {
        max_retries: 0,
        breaker_cooldown: Duration::from_secs(1),
        ..fast_policy()
    };
    let s = setup(case, policy.clone()).await;
    s.server.set_fault_forever(status(503, None));
    for i in 0..policy.breaker_threshold {
        assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: i });
        let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
        assert_eq!(result.unwrap_err().kind, ErrorKind::Server);
    }
    let seen = s.server.request_count();
    assert_eq!(seen, policy.breaker_threshold as usize);
    assert!(matches!(s.provider.breaker(), BreakerState::Open { .. }));

    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::CircuitOpen);
    assert!(err.to_string().contains(case.shown()), "{err}");
    assert!(err.to_string().contains("paused requests"), "{err}");
    assert_eq!(s.server.request_count(), seen, "no request while open");

    tokio::time::sleep(policy.breaker_cooldown + Duration::from_millis(50)).await;
    assert_eq!(s.provider.breaker(), BreakerState::HalfOpen);
    s.server.clear_faults();
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    result.unwrap();
    assert_eq!(s.server.request_count(), seen + 1, "one probe");
    assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: 0 });
}

async fn hang_times_out(case: Case) {
    let policy = HttpPolicy {
        first_byte_timeout: Duration::from_millis(300),
        max_retries: 0,
        ..fast_policy()
    };
    let s = setup(case, policy).await;
    s.server.push_fault(Fault::Hang);
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(
        err.to_string(),
        format!("{} sent nothing for 300 ms", case.shown())
    );
    assert!(text.is_empty());
    assert_eq!(s.server.request_count(), 1);
}

/// Cancelling a call that waits for the provider ends it at once, as a
/// cancelled completion.
async fn cancel_while_waiting(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::Hang);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let (result, text) = chat(&s.provider, request(case), cancel).await;
    let done = result.unwrap();
    assert_eq!(done.finish, FinishReason::Cancelled);
    assert!(done.text.is_empty() && text.is_empty());
    assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: 0 });
}

/// The connection drops after 3 text events: no retry, the text so far is
/// the partial answer.
async fn cut_after_three(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::CutAfter(3));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Interrupted);
    let expected: String = pieces(&s.server.answer())[..3].concat();
    assert_eq!(err.partial, expected);
    assert_eq!(text, expected);
    assert!(!err.allows_fallback());
    assert_eq!(s.server.request_count(), 1, "no retry after text was shown");
}

/// The stream goes silent after 2 text events: the idle timeout ends it,
/// without a retry, keeping the text so far.
async fn stall_mid_answer(case: Case) {
    let policy = HttpPolicy {
        idle_timeout: Duration::from_millis(300),
        ..fast_policy()
    };
    let s = setup(case, policy).await;
    s.server.push_fault(Fault::StallAfter(2));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Interrupted);
    assert!(err.to_string().contains("went silent for 300 ms"), "{err}");
    let expected: String = pieces(&s.server.answer())[..2].concat();
    assert_eq!(err.partial, expected);
    assert_eq!(text, expected);
    assert_eq!(s.server.request_count(), 1);
}

/// Cancelling in the middle of an answer keeps what was sent and ends at once.
async fn cancel_mid_answer(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::StallAfter(2));
    let expected: String = pieces(&s.server.answer())[..2].concat();
    let (sink, mut rx) = TokenSink::channel();
    let cancel = CancellationToken::new();
    let call = {
        let provider = s.provider.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { provider.chat(request(case), sink, cancel).await })
    };
    let mut seen = String::new();
    while seen != expected {
        seen.push_str(&rx.recv().await.unwrap());
    }
    cancel.cancel();
    let done = call.await.unwrap().unwrap();
    assert_eq!(done.finish, FinishReason::Cancelled);
    assert_eq!(done.text, expected);
    assert!(rx.recv().await.is_none(), "nothing after the cancel");
}

/// An error event inside the stream, before any text: classified and retried.
async fn stream_error_then_ok(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::StreamError);
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let done = result.unwrap();
    assert_eq!(done.retries, 1);
    assert_eq!(text, s.server.answer());

    s.server.set_fault_forever(Fault::StreamError);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Server);
    assert!(err.to_string().contains(case.shown()), "{err}");
    assert_eq!(s.server.request_count(), 2 + 3);
}

/// The total timeout covers the whole call.
async fn total_timeout(case: Case) {
    let policy = HttpPolicy {
        total_timeout: Duration::from_secs(1),
        ..fast_policy()
    };
    let s = setup(case, policy).await;
    s.server.push_fault(Fault::StallAfter(1));
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Interrupted);
    assert!(
        err.to_string().contains("did not finish within 1 s"),
        "{err}"
    );
    assert_eq!(text, pieces(&s.server.answer())[0]);
}

async fn malformed(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::Malformed);
    let (result, text) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed);
    assert!(text.is_empty());
    assert_eq!(s.server.request_count(), 1);
}

async fn unauthorized(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::Unauthorized);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    let message = err.to_string();
    assert!(message.contains("key was rejected"), "{message}");
    assert!(message.contains(case.shown()), "{message}");
    assert!(
        message.contains(&format!("hearth provider test {}", case.name())),
        "{message}"
    );
    assert_eq!(s.server.request_count(), 1);
    assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: 0 });
}

/// A wrong key: the stand-in echoes it in its error body, as real APIs
/// partly do; the error must not show it.
async fn wrong_key(case: Case) {
    let server = hearth_testkit::providers::StandIn::start(case.wire()).await;
    server.expect_key(KEY);
    let wrong = "sk-planted-wrong-9999";
    let (provider, _, _) = provider_for(case, &server, Some(wrong), fast_policy());
    let (result, _) = chat(&provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(!format!("{err} {err:?}").contains(wrong));
    assert_eq!(server.request_count(), 1);
    let listed = provider.list_models().await.unwrap_err();
    assert_eq!(listed.kind, ErrorKind::Auth);
    assert_clean(&listed);
}

/// Issue 21: a prompt the model cannot read is its own kind of error (the
/// turn path trims and retries it), sent once, no fallback.
async fn context_length(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::ContextLength);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ContextLength, "{err}");
    assert!(!err.is_retryable() && !err.allows_fallback());
    assert!(err.to_string().contains("context window"), "{err}");
    assert_eq!(s.server.request_count(), 1);
    assert_clean(&err);
}

/// The same refusal sent inside a 200 stream is the same kind of error.
async fn context_length_in_stream(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::ContextLengthInStream);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ContextLength, "{err}");
    assert!(err.partial.is_empty());
    assert!(!err.is_retryable() && !err.allows_fallback());
    assert!(err.to_string().contains("context window"), "{err}");
    assert!(
        !err.to_string().contains("tokens"),
        "the message is not shown: {err}"
    );
    assert_eq!(s.server.request_count(), 1);
    assert_clean(&err);
}

async fn rejected_request(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(status(404, None));
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Rejected);
    assert!(
        err.to_string()
            .starts_with(&format!("{} refused the request (HTTP 404", case.shown())),
        "{err}"
    );
    assert!(err.to_string().ends_with("unknown model?"), "{err}");
    assert_eq!(s.server.request_count(), 1);
}

/// Offline: nothing is sent, nothing recorded.
async fn offline(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.offline.store(true, Ordering::SeqCst);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Offline);
    assert_eq!(
        err.to_string(),
        format!("Hearth is offline: nothing was sent to {}", case.shown())
    );
    assert_eq!(
        s.provider.list_models().await.unwrap_err().kind,
        ErrorKind::Offline
    );
    assert_eq!(s.server.request_count(), 0);
    assert!(s.ledger.events().is_empty());
    s.offline.store(false, Ordering::SeqCst);
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    result.unwrap();
}

/// One ledger event per attempt.
async fn ledger_records_attempts(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(status(500, None));
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    result.unwrap();
    let events = s.ledger.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.host, "127.0.0.1");
        assert_eq!(event.provider, case.name());
        assert_eq!(event.purpose, Purpose::ProviderCall);
        assert!(event.bytes_sent > 0);
        assert!(event.bytes_received > 0);
    }
    assert_eq!((events[0].status, events[0].ok), (Some(500), false));
    assert_eq!((events[1].status, events[1].ok), (Some(200), true));
    assert!(events[0].started_at <= events[1].started_at);
    assert!(events[1].bytes_received > s.server.answer().len() as u64);
}

/// A call whose future is dropped mid-attempt is still on the ledger, and
/// its breaker permit is given back.
async fn dropped_call_is_on_the_ledger(case: Case) {
    let s = setup(case, fast_policy()).await;
    s.server.push_fault(Fault::Hang);
    let (sink, _rx) = TokenSink::channel();
    let call = s
        .provider
        .chat(request(case), sink, CancellationToken::new());
    let gave_up = tokio::time::timeout(Duration::from_millis(200), call).await;
    assert!(gave_up.is_err(), "the stand-in hangs");
    let events = s.ledger.events();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].status, events[0].ok), (None, false));
    assert_eq!(s.provider.breaker(), BreakerState::Closed { failures: 0 });
    let (result, _) = chat(&s.provider, request(case), CancellationToken::new()).await;
    result.unwrap();
}

async fn list_models(case: Case) {
    let s = setup(case, fast_policy()).await;
    let models = s.provider.list_models().await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, s.server.models());
    assert_eq!(s.provider.test_connection().await.unwrap(), ids.len());
    let requests = s.server.requests();
    assert_eq!(requests.len(), 2);
    let expected_path = match case {
        Case::OpenAi | Case::Compat => "/v1/models",
        Case::Anthropic => "/v1/models",
        Case::Gemini => "/v1beta/models",
    };
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, expected_path);
    let events = s.ledger.events();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.purpose == Purpose::ListModels && e.ok && e.status == Some(200))
    );

    // A broken list is Malformed, an error status is classified.
    s.server.push_fault(Fault::Malformed);
    assert_eq!(
        s.provider.list_models().await.unwrap_err().kind,
        ErrorKind::Malformed
    );
    s.server.push_fault(Fault::Unauthorized);
    let err = s.provider.list_models().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    assert_clean(&err);
}

macro_rules! matrix {
    ($($case:ident => $variant:expr),* $(,)?) => {$(
        mod $case {
            use super::*;
            #[tokio::test] async fn plain_stream() { super::plain_stream($variant).await }
            #[tokio::test] async fn rate_limited_then_ok() { super::rate_limited_then_ok($variant).await }
            #[tokio::test] async fn retry_after_too_long() { super::retry_after_too_long($variant).await }
            #[tokio::test] async fn server_error_then_ok() { super::server_error_then_ok($variant).await }
            #[tokio::test] async fn retries_run_out() { super::retries_run_out($variant).await }
            #[tokio::test] async fn breaker_opens_and_probes() { super::breaker_opens_and_probes($variant).await }
            #[tokio::test] async fn hang_times_out() { super::hang_times_out($variant).await }
            #[tokio::test] async fn cancel_while_waiting() { super::cancel_while_waiting($variant).await }
            #[tokio::test] async fn cut_after_three() { super::cut_after_three($variant).await }
            #[tokio::test] async fn stall_mid_answer() { super::stall_mid_answer($variant).await }
            #[tokio::test] async fn cancel_mid_answer() { super::cancel_mid_answer($variant).await }
            #[tokio::test] async fn stream_error_then_ok() { super::stream_error_then_ok($variant).await }
            #[tokio::test] async fn total_timeout() { super::total_timeout($variant).await }
            #[tokio::test] async fn malformed() { super::malformed($variant).await }
            #[tokio::test] async fn unauthorized() { super::unauthorized($variant).await }
            #[tokio::test] async fn wrong_key() { super::wrong_key($variant).await }
            #[tokio::test] async fn rejected_request() { super::rejected_request($variant).await }
            #[tokio::test] async fn context_length() { super::context_length($variant).await }
            #[tokio::test] async fn context_length_in_stream() { super::context_length_in_stream($variant).await }
            #[tokio::test] async fn offline() { super::offline($variant).await }
            #[tokio::test] async fn ledger_records_attempts() { super::ledger_records_attempts($variant).await }
            #[tokio::test] async fn dropped_call_is_on_the_ledger() { super::dropped_call_is_on_the_ledger($variant).await }
            #[tokio::test] async fn list_models() { super::list_models($variant).await }
        }
    )*};
}

matrix! {
    openai => Case::OpenAi,
    anthropic => Case::Anthropic,
    gemini => Case::Gemini,
    compat => Case::Compat,
}
