//! The router end to end: the real SmolLM2 test model on one side, an OpenAI
//! stand-in on 127.0.0.1 on the other. Each test checks what the stand-in saw,
//! so "nothing was sent" is proven, not assumed.

use std::time::Duration;

use hearth_backend::{ErrorKind, Role};
use hearth_core::hearth_providers::{HttpPolicy, ProviderKind};
use hearth_core::redact::RedactionSettings;
use hearth_core::router::Consent;
use hearth_core::{App, Budget, Config, CoreError, Price, TurnOptions};
use hearth_store::{ConversationId, NewConversation, PrivacyPolicy, Sampling};
use hearth_testkit::providers::{Fault, StandIn, Wire};
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin, contains, standin_http};
use hearth_engine::EngineOptions;

const KEY: &str = "sk-planted-router-key-0042";
const CLOUD: &str = "openai:gpt-4o-mini";

struct World {
    home: Home,
    app: App,
    standin: StandIn,
    runtime: tokio::runtime::Runtime,
    /// The library id of SmolLM2.
    local: String,
}

/// A Hearth with SmolLM2 in its library, an OpenAI provider pointing at a
/// stand-in, and (with `memory_mb`) a memory limit the model may not fit in.
fn world(memory_mb: Option<u64>) -> World {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    standin.set_answer("Paris is the capital of France.");
    let home = Home::new();
    let mut config: Config = home.config();
    config.memory_limit = memory_mb.map(|mb| mb << 20);
    let app = home.open_custom(
        config,
        EngineOptions::default(),
        HttpPolicy {
            breaker_threshold: 2,
            breaker_cooldown: Duration::from_secs(600),
            ..standin_http()
        },
    );
    let local = app
        .models()
        .import(&hearth_testkit::models::smollm2(), false)
        .unwrap()
        .id;
    add_standin(&app, "openai", ProviderKind::OpenAi, &standin, KEY);
    World {
        home,
        app,
        standin,
        runtime,
        local,
    }
}

impl World {
    fn conversation(&self, backend: Option<&str>, privacy: PrivacyPolicy) -> ConversationId {
        self.app
            .store()
            .create_conversation(&NewConversation {
                model: Some(self.local.clone()),
                backend: backend.map(str::to_owned),
                privacy,
                sampling: Sampling {
                    temperature: Some(0.0),
                    ..Sampling::default()
                },
                ..NewConversation::default()
            })
            .unwrap()
            .id
    }

    fn send(
        &self,
        conv: &ConversationId,
        text: &str,
        consent: Consent,
    ) -> Result<hearth_store::Message, CoreError> {
        let options = TurnOptions {
            max_tokens: Some(8),
            consent,
            ..TurnOptions::default()
        };
        self.runtime
            .block_on(
                self.app
                    .send(conv, text, &options, CancellationToken::new(), |_| {}),
            )
            .map(|turn| turn.answer)
    }

    fn messages(&self, conv: &ConversationId) -> usize {
        self.app.store().active_path(conv).unwrap().len()
    }
}

fn fallback() -> PrivacyPolicy {
    PrivacyPolicy::CloudFallback {
        chain: vec![CLOUD.into()],
    }
}

#[test]
fn a_model_too_big_falls_back_only_where_the_policy_allows() {
    let w = world(Some(1));

    // Local only: refused with the reason, nothing stored, nothing sent.
    let conv = w.conversation(None, PrivacyPolicy::LocalOnly);
    let err = w
        .send(&conv, "What is the capital of France?", Consent::NotAsked)
        .unwrap_err();
    assert!(matches!(err, CoreError::Refused(_)), "{err}");
    assert!(err.to_string().contains("local only"), "{err}");
    assert_eq!(w.standin.request_count(), 0);
    assert_eq!(w.messages(&conv), 0);

    // Ask: a consent request first; a "no" sends nothing, a "yes" sends.
    let conv = w.conversation(
        None,
        PrivacyPolicy::AskBeforeCloud {
            chain: vec![CLOUD.into()],
        },
    );
    let err = w
        .send(&conv, "What is the capital of France?", Consent::NotAsked)
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::ConsentNeeded { backend, reason: Some(_), .. } if backend == CLOUD),
        "{err}"
    );
    assert!(
        w.send(&conv, "What is the capital of France?", Consent::Denied)
            .is_err()
    );
    assert_eq!(w.standin.request_count(), 0);
    let answer = w
        .send(&conv, "What is the capital of France?", Consent::Granted)
        .unwrap();
    assert_eq!(answer.backend.as_deref(), Some("openai"));
    assert_eq!(w.standin.request_count(), 1);

    // Fallback allowed: answered by the cloud, with the reason recorded.
    let conv = w.conversation(None, fallback());
    let answer = w
        .send(&conv, "What is the capital of France?", Consent::NotAsked)
        .unwrap();
    assert_eq!(answer.content, "Paris is the capital of France.");
    assert_eq!(answer.backend.as_deref(), Some("openai"));
    assert_eq!(answer.model.as_deref(), Some("gpt-4o-mini"));
    let reason = answer.fallback_reason.clone().unwrap();
    assert!(reason.contains("MB"), "{reason}");
    assert!(
        answer.metrics.tokens_in.is_some(),
        "usage from the stand-in"
    );
    let body = w.standin.requests().last().unwrap().body.clone();
    assert_eq!(
        body["messages"][0]["content"],
        "What is the capital of France?"
    );

    let stats = w.app.stats(None).unwrap();
    let cloud = stats
        .backends
        .iter()
        .find(|b| b.backend == "openai")
        .unwrap();
    assert_eq!((cloud.requests, cloud.fallbacks), (2, 2));
}

#[test]
fn an_unreachable_cloud_falls_back_to_the_local_model_and_offline_means_no_connection() {
    let w = world(None);
    w.app.set_offline(true).unwrap();
    let conv = w.conversation(Some(CLOUD), fallback());
    let answer = w.send(&conv, "Say hello.", Consent::NotAsked).unwrap();
    assert_eq!(answer.backend.as_deref(), Some(hearth_core::LOCAL_BACKEND));
    assert!(answer.fallback_reason.unwrap().contains("offline"));
    let err = w
        .runtime
        .block_on(w.app.test_provider("openai"))
        .unwrap_err();
    assert!(err.to_string().contains("offline"), "{err}");
    assert_eq!(w.standin.request_count(), 0);
    assert!(w.app.network_log(100).unwrap().is_empty());

    // Back online: the cloud answers, and the ledger has the connection.
    w.app.set_offline(false).unwrap();
    let answer = w.send(&conv, "Say hello.", Consent::NotAsked).unwrap();
    assert_eq!(answer.backend.as_deref(), Some("openai"));
    let log = w.app.network_log(100).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].host, "127.0.0.1");
    assert_eq!(log[0].purpose, "provider call");
    assert!(log[0].bytes_sent > 0 && log[0].bytes_received > 0);
}

#[test]
fn a_failing_provider_opens_its_breaker_and_the_local_model_answers() {
    let w = world(None);
    w.standin.set_fault_forever(Fault::Status {
        code: 503,
        retry_after: None,
    });
    let conv = w.conversation(Some(CLOUD), fallback());
    for _ in 0..2 {
        let err = w.send(&conv, "Say hello.", Consent::NotAsked).unwrap_err();
        assert!(
            matches!(&err, CoreError::Backend(e) if e.kind == ErrorKind::Server),
            "{err}"
        );
    }
    let seen = w.standin.request_count();
    let answer = w.send(&conv, "Say hello.", Consent::NotAsked).unwrap();
    assert_eq!(answer.backend.as_deref(), Some(hearth_core::LOCAL_BACKEND));
    assert!(answer.fallback_reason.unwrap().contains("paused"));
    assert_eq!(
        w.standin.request_count(),
        seen,
        "the open breaker sent nothing"
    );
    let stats = w.app.stats(None).unwrap();
    let cloud = stats
        .backends
        .iter()
        .find(|b| b.backend == "openai")
        .unwrap();
    assert_eq!(cloud.errors_by_kind.get("server"), Some(&2));
    let local = stats
        .backends
        .iter()
        .find(|b| b.backend == "local")
        .unwrap();
    assert_eq!(local.fallbacks, 1);
}

#[test]
fn a_request_over_budget_is_refused_before_it_is_sent() {
    let w = world(None);
    w.app
        .set_price(
            "openai",
            "gpt-4o-mini",
            Some(Price {
                input: 1000.0,
                output: 1000.0,
            }),
        )
        .unwrap();
    w.app
        .set_budget(Budget {
            daily_usd: Some(0.001),
            monthly_usd: None,
        })
        .unwrap();
    let conv = w.conversation(Some(CLOUD), fallback());
    let err = w
        .send(
            &conv,
            "A long question that costs more than a tenth of a cent.",
            Consent::NotAsked,
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::OverBudget(_)), "{err}");
    assert!(err.to_string().contains("daily budget"), "{err}");
    assert_eq!(w.standin.request_count(), 0);
    // A local-only conversation's chosen cloud model is refused outright.
    let conv = w.conversation(Some(CLOUD), PrivacyPolicy::LocalOnly);
    assert!(matches!(
        w.send(&conv, "hi", Consent::Granted),
        Err(CoreError::Refused(_))
    ));
    assert_eq!(w.standin.request_count(), 0);
}

#[test]
fn redacted_text_never_reaches_the_provider_and_comes_back_restored() {
    let w = world(None);
    w.app
        .set_redaction(&RedactionSettings {
            enabled: true,
            words: vec!["Project Falcon".into()],
        })
        .unwrap();
    w.standin
        .set_answer("I will write to [EMAIL_1] about [WORD_1].");
    let conv = w.conversation(Some(CLOUD), fallback());
    let answer = w
        .send(
            &conv,
            "Email jane.doe@example.com about project falcon.",
            Consent::NotAsked,
        )
        .unwrap();
    let sent = w.standin.requests().last().unwrap().body.to_string();
    assert!(
        !sent.contains("jane.doe") && !sent.to_lowercase().contains("falcon"),
        "{sent}"
    );
    assert!(
        sent.contains("[EMAIL_1]") && sent.contains("[WORD_1]"),
        "{sent}"
    );
    assert_eq!(
        answer.content,
        "I will write to jane.doe@example.com about project falcon."
    );
    let redactions = w.app.store().redactions(&answer.id).unwrap();
    assert_eq!(redactions.len(), 2);
    // The user's own message is stored as written.
    let path = w.app.store().active_path(&conv).unwrap();
    assert!(
        path.iter()
            .any(|m| m.role == Role::User && m.content.contains("jane.doe"))
    );
}

#[test]
fn the_key_is_in_no_error_ledger_or_database_file() {
    let w = world(None);
    w.standin.expect_key("a-different-key");
    let conv = w.conversation(Some(CLOUD), fallback());
    let err = w.send(&conv, "hello", Consent::NotAsked).unwrap_err();
    assert!(err.to_string().contains("key was rejected"), "{err}");
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
    let answer = w.app.store().active_path(&conv).unwrap().pop().unwrap();
    assert!(!answer.error.unwrap_or_default().contains(KEY));
    let log = format!("{:?}", w.app.network_log(100).unwrap());
    assert!(!log.contains(KEY));
    assert!(!format!("{:?}", w.app.providers().unwrap()).contains(KEY));
    drop(w.app);
    assert!(!contains(&w.home.db_bytes(), KEY));
    for entry in walk(w.home.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!contains(&bytes, KEY), "the key is in {}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
