//! Chatting with documents (issue 23): a collection attached to a
//! conversation goes into the turn whole or by retrieval, the answer keeps
//! its sources, and a cloud model gets the text only through the guard. On
//! the real SmolLM2 and all-MiniLM-L6-v2; a 135M model's answers prove
//! nothing, so the tests look at what it was given.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hearth_core::hearth_providers::ProviderKind;
use hearth_core::redact::RedactionSettings;
use hearth_core::router::Consent;
use hearth_core::{
    App, ChatEvent, Config, CoreError, DocMode, LocalEmbed, TurnOptions, TurnResult,
};
use hearth_engine::EngineOptions;
use hearth_store::{ConversationId, NewConversation, PrivacyPolicy};
use hearth_testkit::providers::{StandIn, Wire};
use tokio_util::sync::CancellationToken;

use crate::{Home, add_standin, greedy_conversation, runtime, standin_http};

const KEY: &str = "sk-planted-docs-key-0042";
const CLOUD: &str = "openai:gpt-4o-mini";

/// The app of `home`, with (or without) the embedding model.
fn open(home: &Home, embed: bool, context: Option<usize>) -> App {
    let mut config: Config = home.config();
    config.embed_model = embed.then(hearth_testkit::models::minilm);
    home.open_custom(
        config,
        EngineOptions {
            context_length: context,
            ..EngineOptions::default()
        },
        standin_http(),
    )
}

/// Indexes `files` into the collection `name`.
fn index(app: &App, name: &str, files: &[PathBuf]) {
    let embed = LocalEmbed(app.embedder().unwrap());
    let reports = hearth_docs::add_files(
        &app.store(),
        &embed,
        name,
        files,
        hearth_docs::AddOptions::default(),
        |_| {},
    )
    .unwrap();
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, hearth_docs::FileOutcome::Indexed { .. })),
        "{reports:?}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn send(
    app: &App,
    conv: &ConversationId,
    text: &str,
    consent: Consent,
) -> (Result<TurnResult, CoreError>, Vec<ChatEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let options = TurnOptions {
        max_tokens: Some(8),
        consent,
        ..TurnOptions::default()
    };
    let result =
        runtime().block_on(
            app.send(conv, text, &options, CancellationToken::new(), move |e| {
                sink.lock().unwrap().push(e)
            }),
        );
    let events = events.lock().unwrap().clone();
    (result, events)
}

/// Sections of made-up prose under headings, one of them holding `fact`.
fn long_document(fact_at: usize, fact: &str) -> String {
    let topics = [
        "river", "granite", "orchard", "violin", "glacier", "harbour", "lantern", "meadow",
        "copper", "falcon", "tundra", "bakery", "compass", "thistle", "quarry", "saffron", "pylon",
        "marsh", "atlas", "beacon", "cobalt", "dune", "ember", "fjord",
    ];
    let mut out = String::new();
    for (i, topic) in topics.iter().enumerate() {
        out.push_str(&format!("# Notes on the {topic}\n\n"));
        if i == fact_at {
            out.push_str(fact);
            out.push_str("\n\n");
        }
        for j in 0..6 {
            out.push_str(&format!(
                "Survey {i}.{j}: the {topic} was measured in season {j} and logged as \
                 entry {} in the municipal ledger, beside {} other readings. ",
                i * 31 + j * 7,
                j + i
            ));
        }
        out.push_str("\n\n");
    }
    out
}

#[test]
fn a_small_collection_goes_whole_and_its_citations_come_back_after_reopening() {
    let home = Home::new();
    let files = tempfile::tempdir().unwrap();
    let contract = write(
        files.path(),
        "contract.md",
        "# Termination\n\nEither party may end this contract with 30 days notice.\n",
    );
    let bread = write(
        files.path(),
        "bread.txt",
        "Sourdough needs a starter of wild yeast.\n",
    );
    let (conv, answer_id, prompt_with_docs) = {
        let app = open(&home, true, None);
        index(&app, "notes", &[contract, bread]);
        let conv = greedy_conversation(&app, None);
        // Without documents first, to compare the prompt's size.
        let (plain, _) = send(&app, &conv, "What is the notice period?", Consent::NotAsked);
        let plain_prompt = plain.unwrap().answer.metrics.tokens_in.unwrap();

        let err = app.attach_docs(&conv, Some("nope")).unwrap_err();
        assert!(
            err.to_string().contains("no collection named \"nope\""),
            "{err}"
        );
        app.attach_docs(&conv, Some("notes")).unwrap();
        assert_eq!(app.attached_docs(&conv).unwrap().as_deref(), Some("notes"));

        let (result, events) = send(&app, &conv, "What is the notice period?", Consent::NotAsked);
        let turn = result.unwrap();
        let used = turn.documents.clone().unwrap();
        assert_eq!(used.mode, DocMode::Whole);
        assert_eq!((used.sources, used.files), (2, 2));
        assert_eq!(
            used.summary(),
            "using whole documents (2 files) from \"notes\""
        );
        // The front end hears which way before the answer starts.
        let at = |f: fn(&ChatEvent) -> bool| events.iter().position(f).unwrap();
        assert!(
            at(|e| matches!(e, ChatEvent::Documents { .. }))
                < at(|e| matches!(e, ChatEvent::Started { .. }))
        );
        // Sources by file name, in order; the prompt grew by their text.
        let files: Vec<&str> = turn.citations.iter().map(|c| c.file_name()).collect();
        assert_eq!(files, ["bread.txt", "contract.md"]);
        assert!(turn.citations.iter().all(|c| c.mode == "whole"));
        assert!(
            turn.citations[1]
                .snippet
                .starts_with("Either party may end"),
            "{:?}",
            turn.citations[1]
        );
        let with_docs = turn.answer.metrics.tokens_in.unwrap();
        assert!(
            with_docs > plain_prompt + 30,
            "{with_docs} vs {plain_prompt}"
        );
        (conv, turn.answer.id, with_docs)
    };
    assert!(prompt_with_docs > 0);

    // Reopened: the citations, the attachment, the views and the exports.
    let app = open(&home, true, None);
    let cited = app.citations(&answer_id).unwrap();
    assert_eq!(cited.len(), 2);
    assert_eq!(cited[1].collection, "notes");
    assert_eq!(app.attached_docs(&conv).unwrap().as_deref(), Some("notes"));
    let view = app.conversation_view(&conv.to_string()).unwrap();
    assert_eq!(view.documents.as_deref(), Some("notes"));
    let answer = view
        .messages
        .iter()
        .find(|m| m.id == answer_id.to_string())
        .unwrap();
    assert_eq!(answer.citations.len(), 2);
    assert!(
        answer.citations[1]
            .line
            .starts_with("[2] notes/contract.md — \"Either party")
    );
    let md = app.store().export_markdown(Some(&conv)).unwrap();
    assert!(
        md.contains("- [2] notes/contract.md — \"Either party may end"),
        "{md}"
    );
    let json = app.store().export_json(Some(&conv)).unwrap();
    assert!(json.contains("\"mode\": \"whole\""), "{json}");
}

#[test]
fn a_large_collection_goes_by_retrieval_finds_the_fact_and_needs_an_embedding_model() {
    let home = Home::new();
    let files = tempfile::tempdir().unwrap();
    let fact = "The lighthouse keeper's cat is named Biscuit Marmalade.";
    let long = write(files.path(), "survey.md", &long_document(17, fact));
    let other = write(files.path(), "other.md", &long_document(99, ""));
    let context = 1024;
    let conv = {
        let app = open(&home, true, Some(context));
        index(&app, "archive", &[long, other]);
        let conv = greedy_conversation(&app, None);
        app.attach_docs(&conv, Some("archive")).unwrap();
        let (result, events) = send(
            &app,
            &conv,
            "What is the lighthouse keeper's cat called?",
            Consent::NotAsked,
        );
        let turn = result.unwrap();
        let used = turn.documents.clone().unwrap();
        assert_eq!(used.mode, DocMode::Retrieval);
        assert!(used.sources >= 1 && used.sources <= 8, "{used:?}");
        assert_eq!(used.sources as usize, turn.citations.len());
        assert!(used.summary().ends_with("from \"archive\" (retrieval)"));
        // The passage with the fact is among those given (by its chunk).
        let ids: Vec<i64> = turn.citations.iter().filter_map(|c| c.chunk_id).collect();
        let chunks = app.store().doc_chunks(&ids).unwrap();
        assert!(
            chunks.iter().any(|c| c.text.contains("Biscuit Marmalade")),
            "{:?}",
            turn.citations
        );
        // And it all fit the window.
        let prompt = events
            .iter()
            .find_map(|e| match e {
                ChatEvent::Started { prompt_tokens, .. } => Some(*prompt_tokens),
                _ => None,
            })
            .unwrap();
        assert!(prompt + 8 <= context, "{prompt}");
        assert!(turn.citations.iter().all(|c| c.mode == "retrieval"));
        // Indexing and retrieval are local: the network ledger is empty.
        assert!(app.store().network_log(10).unwrap().is_empty());
        conv
    };

    // Without an embedding model, retrieval says what to do.
    let app = open(&home, false, Some(context));
    let (result, _) = send(&app, &conv, "And the keeper's dog?", Consent::NotAsked);
    let err = result.unwrap_err();
    assert!(matches!(err, CoreError::NoEmbedModel { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("no embedding model") && text.contains("import one"),
        "{text}"
    );
}

#[test]
fn a_cloud_model_gets_document_text_only_with_consent_and_only_redacted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let standin = runtime.block_on(StandIn::start(Wire::OpenAi));
    standin.expect_key(KEY);
    standin.set_answer("See [1].");
    let home = Home::new();
    let app = open(&home, true, None);
    add_standin(&app, "openai", ProviderKind::OpenAi, &standin, KEY);
    app.set_redaction(&RedactionSettings {
        enabled: true,
        words: vec!["Project Falcon".into()],
    })
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let memo = write(
        files.path(),
        "memo.md",
        "# Contacts\n\nWrite to jane.doe@example.com about Project Falcon before Friday.\n",
    );
    index(&app, "work", &[memo]);
    let conv = app
        .store()
        .create_conversation(&NewConversation {
            backend: Some(CLOUD.into()),
            privacy: PrivacyPolicy::AskBeforeCloud { chain: vec![] },
            ..NewConversation::default()
        })
        .unwrap()
        .id;
    app.attach_docs(&conv, Some("work")).unwrap();
    let send = |consent| {
        let options = TurnOptions {
            max_tokens: Some(8),
            consent,
            ..TurnOptions::default()
        };
        runtime.block_on(app.send(
            &conv,
            "Who do I write to?",
            &options,
            CancellationToken::new(),
            |_| {},
        ))
    };

    // Not asked yet: the question says how much document text would go.
    let err = send(Consent::NotAsked).unwrap_err();
    let CoreError::ConsentNeeded { documents, .. } = &err else {
        panic!("{err:?}");
    };
    let documents = documents.as_deref().unwrap();
    assert!(
        documents.contains("characters") && documents.contains("\"work\""),
        "{documents}"
    );
    assert!(err.to_string().contains("of document text"), "{err}");
    // Declined: nothing at all was sent.
    assert!(matches!(send(Consent::Denied), Err(CoreError::Refused(_))));
    assert!(standin.requests().is_empty());

    // Granted: the documents went, redacted.
    let turn = send(Consent::Granted).unwrap();
    let requests = standin.requests();
    assert_eq!(requests.len(), 1);
    let sent = requests[0].body.to_string();
    assert!(
        sent.contains("<documents>") && sent.contains("[1] memo.md"),
        "{sent}"
    );
    assert!(
        sent.contains("[EMAIL_1]") && sent.contains("[WORD_1]"),
        "{sent}"
    );
    assert!(
        !sent.contains("jane.doe") && !sent.to_lowercase().contains("falcon"),
        "{sent}"
    );
    assert_eq!(turn.citations.len(), 1);
    // The citation keeps the document's own words (it never left).
    assert!(turn.citations[0].snippet.contains("jane.doe@example.com"));
}
