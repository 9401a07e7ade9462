//! `App::api_chat`: the stateless turn behind the API server.

use hearth_backend::Message;
use hearth_core::{ApiChat, ApiFinish, ApiInput, ApiTarget, CoreError};
use hearth_engine::{EngineOptions, OutputFormat};
use tokio_util::sync::CancellationToken;

use crate::Home;

fn request(model: &str, input: ApiInput) -> ApiChat {
    ApiChat {
        model: model.to_owned(),
        input,
        max_tokens: Some(8),
        temperature: Some(0.0),
        top_p: None,
        seed: None,
        stop: Vec::new(),
        format: OutputFormat::Text,
        logprobs: None,
        tools: Vec::new(),
        tool_choice: hearth_backend::ToolChoice::Auto,
        thinking: None,
    }
}

#[tokio::test]
async fn an_api_answer_streams_its_text_and_stores_only_usage() {
    let home = Home::new();
    let app = home.open();
    let id = app
        .models()
        .import(&hearth_testkit::models::smollm2(), false)
        .unwrap()
        .id;
    assert!(matches!(app.api_target(&id), Ok(ApiTarget::Local(_))));
    assert_eq!(
        app.api_models().unwrap(),
        vec![(id.clone(), "hearth".to_owned())]
    );
    let mut streamed = String::new();
    let answer = app
        .api_chat(
            request(&id, ApiInput::Chat(vec![Message::user("Hi")])),
            CancellationToken::new(),
            |piece| streamed.push_str(piece),
        )
        .await
        .unwrap();
    assert_eq!(answer.text, streamed);
    assert!(matches!(answer.finish, ApiFinish::Stop | ApiFinish::Length));
    assert!(answer.completion_tokens >= 1 && answer.prompt_tokens > 0);
    let usage = app.store().usage_records(None).unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].backend, "local");

    // Keep-warm: not idle long enough, kept; idle, unloaded once; then loaded
    // again on the next request.
    let hour = std::time::Duration::from_secs(3600);
    assert!(!app.unload_idle_model(hour).await);
    assert!(app.unload_idle_model(std::time::Duration::ZERO).await);
    assert!(!app.unload_idle_model(std::time::Duration::ZERO).await);
    let again = app
        .api_chat(
            request(&id, ApiInput::Chat(vec![Message::user("Hi")])),
            CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        again.text, answer.text,
        "greedy: the same answer after a reload"
    );
}

#[tokio::test]
async fn cloud_models_and_bad_requests_are_refused() {
    let home = Home::new();
    let app = home.open_with_engine(EngineOptions {
        context_length: Some(64),
        ..EngineOptions::default()
    });
    let model = hearth_testkit::models::smollm2();
    let path = model.to_str().unwrap();
    // A file by path only inside a folder the user allowed for the API.
    assert!(matches!(
        app.api_target(path),
        Err(CoreError::UnknownApiModel(_))
    ));
    app.models()
        .allow_api_model_dirs(&[model.parent().unwrap().to_path_buf()])
        .unwrap();
    assert!(matches!(app.api_target(path), Ok(ApiTarget::Local(_))));
    // Not allowed (the setting is off), and no such provider either.
    assert!(matches!(
        app.api_target("openai:gpt-4o-mini"),
        Err(CoreError::UnknownApiModel(_))
    ));
    let empty = app
        .api_chat(
            request(path, ApiInput::Chat(Vec::new())),
            CancellationToken::new(),
            |_| {},
        )
        .await;
    assert!(matches!(empty, Err(CoreError::Invalid(_))));
    let long = app
        .api_chat(
            request(path, ApiInput::Text("word ".repeat(200))),
            CancellationToken::new(),
            |_| {},
        )
        .await;
    assert!(matches!(long, Err(CoreError::TooLong(_))), "{long:?}");
}
