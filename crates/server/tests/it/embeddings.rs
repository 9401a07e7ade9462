//! `POST /v1/embeddings` with all-MiniLM-L6-v2, against the same model run
//! directly, in float and base64.

use base64::Engine as _;
use hearth_server::ServerConfig;
use serde_json::json;

use crate::{TestServer, error_of};

async fn server() -> TestServer {
    TestServer::start_with(ServerConfig {
        embed_model: Some(hearth_testkit::models::minilm()),
        ..ServerConfig::default()
    })
    .await
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_match_the_engine_in_float_and_base64() {
    let server = server().await;
    let direct = hearth_engine::Embedder::load(hearth_testkit::models::minilm())
        .unwrap()
        .embed(&["hello there", "otters sleep"])
        .unwrap();

    let response = server
        .post(
            "/v1/embeddings",
            &json!({"model": "all-MiniLM-L6-v2", "input": ["hello there", "otters sleep"]}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "all-MiniLM-L6-v2");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][1]["object"], "embedding");
    assert_eq!(body["data"][1]["index"], 1);
    assert_eq!(floats(&body["data"][1]["embedding"]), direct.vectors[1]);
    assert_eq!(body["usage"]["prompt_tokens"], direct.tokens);
    assert_eq!(body["usage"]["total_tokens"], direct.tokens);

    let response = server
        .post(
            "/v1/embeddings",
            &json!({"model": "all-MiniLM-L6-v2", "input": "hello there", "encoding_format": "base64"}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, direct.vectors[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_embedding_requests_get_openai_errors() {
    let server = server().await;
    let error = error_of(
        server
            .post(
                "/v1/embeddings",
                &json!({"model": "text-embedding-3-small", "input": "x"}),
            )
            .await,
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("all-MiniLM-L6-v2")
    );
    let error = error_of(
        server
            .post(
                "/v1/embeddings",
                &json!({"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "input");
    let error = error_of(
        server
            .post(
                "/v1/embeddings",
                &json!({"model": "all-MiniLM-L6-v2", "input": "x", "encoding_format": "int8"}),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "encoding_format");

    // A server without an embedding model says so.
    let plain = TestServer::start().await;
    let error = error_of(
        plain
            .post(
                "/v1/embeddings",
                &json!({"model": "all-MiniLM-L6-v2", "input": "x"}),
            )
            .await,
        404,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no embedding model"),
        "{error}"
    );
}
