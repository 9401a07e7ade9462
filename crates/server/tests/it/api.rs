//! The OpenAI routes on the real model.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hearth_engine::EngineOptions;
use hearth_server::ServerConfig;
use serde_json::{Value, json};

use crate::{TestServer, error_of};

#[tokio::test]
async fn health_and_the_model_list() {
    let server = TestServer::start().await;
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let models: Value = server
        .client
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&server.model.as_str()), "{models}");
}

#[tokio::test]
async fn a_chat_completion_with_usage() {
    let server = TestServer::start().await;
    let response = server
        .post(
            "/v1/chat/completions",
            &server.chat_body("What is the capital of France?", 16),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], server.model.as_str());
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    let usage = &body["usage"];
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=16).contains(&completion), "{usage}");
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 5);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + completion
    );
    // The log names the model, never the prompt.
    let logged = &server.log.recent(1)[0];
    assert_eq!(logged.path, "/v1/chat/completions");
    assert_eq!(logged.status, 200);
    assert_eq!(logged.model.as_deref(), Some(server.model.as_str()));
    assert!(!format!("{logged:?}").contains("France"));
}

/// The `data:` payloads of an SSE body.
fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_streamed_chat_completion_ends_with_usage_then_done() {
    let server = TestServer::start().await;
    let mut body = server.chat_body("Say hello.", 8);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let (usage, chunks) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    let completion_tokens = usage["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&completion_tokens));
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let (last, content) = chunks.split_last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    let text: String = content
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
}

#[tokio::test]
async fn a_stop_sequence_ends_the_answer() {
    let server = TestServer::start().await;
    let prompt = "Write one sentence about the sea.";
    let full: Value = server
        .post("/v1/chat/completions", &server.chat_body(prompt, 16))
        .await
        .json()
        .await
        .unwrap();
    let full = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop: String = full.chars().skip(5).take(3).collect();
    assert_eq!(stop.chars().count(), 3, "answer too short: {full:?}");
    let expected = &full[..full.find(&stop).unwrap()];

    let mut body = server.chat_body(prompt, 16);
    body["stop"] = json!([stop]);
    let cut: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cut["choices"][0]["message"]["content"], expected);
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn a_plain_completion() {
    let server = TestServer::start().await;
    let body = json!({
        "model": server.model,
        "prompt": "The capital of France is",
        "max_tokens": 4,
        "temperature": 0,
    });
    let response = server.post("/v1/completions", &body).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");
    assert!(body["choices"][0]["text"].is_string());
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 4);
}

#[tokio::test]
async fn an_unknown_model_is_404_model_not_found() {
    let server = TestServer::start().await;
    let mut body = server.chat_body("Hi", 4);
    body["model"] = json!("no-such-model");
    let error = error_of(server.post("/v1/chat/completions", &body).await, 404).await;
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["param"], "model");
}

#[tokio::test]
async fn a_bad_request_is_400() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    error_of(response, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_and_nothing_hangs() {
    let server = TestServer::start_with(hearth_server::ServerConfig {
        queue: 4,
        ..hearth_server::ServerConfig::default()
    })
    .await;
    let body = server.chat_body("Hi", 4);
    let requests = (0..32).map(|_| {
        let request = server
            .client
            .post(server.url("/v1/chat/completions"))
            .timeout(Duration::from_secs(60))
            .json(&body)
            .send();
        async move {
            let response = request.await.expect("no request may hang or fail");
            let status = response.status().as_u16();
            if status == 503 {
                assert_eq!(response.headers()["retry-after"], "1");
            }
            status
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    let health = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Issue 18: a burst of clients waits its turn (one generation runs at a
/// time) instead of being refused, as Ollama and llama-server do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_at_once_all_get_their_answer() {
    let server = TestServer::start_with(hearth_server::ServerConfig::default()).await;
    let body = server.chat_body("Hi", 2);
    let requests = (0..32).map(|_| {
        let request = server
            .client
            .post(server.url("/v1/chat/completions"))
            .timeout(Duration::from_secs(300))
            .json(&body)
            .send();
        async move {
            let response = request.await.expect("no request may hang or fail");
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap();
            (status, answer)
        }
    });
    let answers = futures_util::future::join_all(requests).await;
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
        assert!(
            answer["choices"][0]["message"]["content"].is_string(),
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drops_its_stream_frees_its_slot() {
    let server = TestServer::start_with(hearth_server::ServerConfig {
        queue: 1,
        ..hearth_server::ServerConfig::default()
    })
    .await;
    let mut body = server.chat_body("Count from 1 to 500, separated by commas.", 400);
    body["stream"] = json!(true);
    let response = server.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    // The one slot is taken while the answer streams.
    let busy = server
        .post("/v1/chat/completions", &server.chat_body("Hi", 2))
        .await;
    assert_eq!(busy.status(), 503);
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let next = server
            .post("/v1/chat/completions", &server.chat_body("Hi", 2))
            .await;
        if next.status() == 200 {
            break;
        }
        assert_eq!(next.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the dropped stream kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_streamed_plain_completion() {
    let server = TestServer::start().await;
    let body = json!({
        "model": server.model,
        "prompt": "The capital of France is",
        "max_tokens": 4,
        "temperature": 0,
        "stream": true,
    });
    let response = server.post("/v1/completions", &body).await;
    assert_eq!(response.status(), 200);
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
}

#[tokio::test]
async fn response_format_json_object_answers_with_json() {
    let server = TestServer::start().await;
    let mut body = server.chat_body("Give me a JSON object describing a dog.", 200);
    body["response_format"] = json!({"type": "json_object"});
    let answer: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap_or_else(|e| panic!("{e}: {content}"));
    assert!(parsed.is_object(), "{parsed}");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");

    body["response_format"] = json!({"type": "json_schema", "json_schema": {}});
    let refused = server.post("/v1/chat/completions", &body).await;
    assert_eq!(error_of(refused, 400).await["param"], "response_format");
}

#[tokio::test]
async fn logprobs_come_in_openai_shapes_for_chat_stream_and_completions() {
    let server = TestServer::start().await;
    let mut body = server.chat_body("What is the capital of France?", 6);
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(3);
    let chat: Value = server
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let content = chat["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap();
    assert_eq!(
        content.len() as u64,
        chat["usage"]["completion_tokens"].as_u64().unwrap()
    );
    let text: String = content
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(text, chat["choices"][0]["message"]["content"]);
    for t in content {
        assert!(t["logprob"].as_f64().unwrap() <= 0.0, "{t}");
        assert!(t["bytes"].is_array());
        assert_eq!(t["top_logprobs"].as_array().unwrap().len(), 3, "{t}");
    }

    // Streamed: the closing chunk carries them.
    body["stream"] = json!(true);
    let response = server.post("/v1/chat/completions", &body).await;
    let events = events(&response.text().await.unwrap());
    let closing: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(closing["choices"][0]["finish_reason"].is_string());
    assert_eq!(closing["choices"][0]["logprobs"]["content"], json!(content));

    // Off unless asked.
    let plain: Value = server
        .post(
            "/v1/chat/completions",
            &server.chat_body("What is the capital of France?", 2),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plain["choices"][0]["logprobs"], Value::Null);

    let legacy: Value = server
        .post(
            "/v1/completions",
            &json!({"model": server.model, "prompt": "The capital of France is",
                    "max_tokens": 4, "temperature": 0, "logprobs": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    let lp = &legacy["choices"][0]["logprobs"];
    let tokens = lp["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), lp["token_logprobs"].as_array().unwrap().len());
    assert_eq!(tokens.len(), lp["text_offset"].as_array().unwrap().len());
    assert!(lp["top_logprobs"][0].as_object().unwrap().len() <= 2);

    for (path, bad) in [
        ("/v1/chat/completions", json!({"top_logprobs": 3})),
        (
            "/v1/chat/completions",
            json!({"logprobs": true, "top_logprobs": 21}),
        ),
        ("/v1/completions", json!({"logprobs": 6})),
    ] {
        let mut body = if path == "/v1/completions" {
            json!({"model": server.model, "prompt": "Hi", "max_tokens": 2})
        } else {
            server.chat_body("Hi", 2)
        };
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = server.post(path, &body).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

/// `hearth serve --parallel 2` (issue 18, item 4): two completions at once,
/// their tokens computed in one batch, each the answer a server running
/// one generation at a time gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_completions_at_once_with_parallel_2_answer_as_one_at_a_time() {
    let prompts = ["The capital of France is", "Once upon a time, by the sea,"];
    let body = |server: &TestServer, prompt: &str| {
        json!({
            "model": server.model,
            "prompt": prompt,
            "max_tokens": 16,
            "temperature": 0,
        })
    };
    let text = |answer: Value| answer["choices"][0]["text"].as_str().unwrap().to_owned();
    let serial = TestServer::start().await;
    let mut alone = Vec::new();
    for prompt in prompts {
        let response = serial.post("/v1/completions", &body(&serial, prompt)).await;
        assert_eq!(response.status(), 200);
        alone.push(text(response.json().await.unwrap()));
    }
    let engine = EngineOptions {
        parallel: 2,
        ..EngineOptions::default()
    };
    let config = ServerConfig {
        parallel: 2,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with_engine(config, engine).await;
    let (a, b) = (body(&server, prompts[0]), body(&server, prompts[1]));
    let (a, b) = tokio::join!(
        server.post("/v1/completions", &a),
        server.post("/v1/completions", &b)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let together = [text(a.json().await.unwrap()), text(b.json().await.unwrap())];
    assert!(!together[0].is_empty() && !together[1].is_empty());
    assert_eq!(together.to_vec(), alone);
}
