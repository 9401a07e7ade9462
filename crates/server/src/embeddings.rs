//! `POST /v1/embeddings` in OpenAI's shape: `input` a string or an array of
//! strings, `model`, `encoding_format` `float` (default) or `base64` (the
//! vector's little-endian f32 bytes); answers
//! `{"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}`.
//!
//! The model is the sentence-transformers folder of
//! [`crate::ServerConfig::embed_model`], loaded on the first request and kept;
//! `model` must name it (its folder name). Token-id inputs are refused.

use std::sync::Arc;

use axum::extract::{Request, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hearth_core::Embedder;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::server::State;

/// Most inputs in one request (OpenAI's limit too).
const MAX_INPUTS: usize = 2048;

pub(crate) async fn embeddings(Extract(state): Extract<Arc<State>>, request: Request) -> Response {
    match answer(&state, request).await {
        Ok(value) => {
            let mut response = (StatusCode::OK, value.to_string()).into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &State, request: Request) -> Result<Value, ApiError> {
    let body = crate::routes::json_body(state, request).await?;
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let inputs = inputs(&req)?;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("`model` is required").with_param("model"))?;
    let base64 = match req.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "encoding_format \"{other}\" is not supported (use \"float\" or \"base64\")"
            ))
            .with_param("encoding_format"));
        }
    };
    let embedder = embedder(state).await?;
    if model != embedder.name() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "the model `{model}` does not exist; this server embeds with `{}`",
                embedder.name()
            ),
        )
        .with_param("model")
        .with_code("model_not_found"));
    }
    let worker = embedder.clone();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        worker.embed(&refs)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the embedding task failed",
        )
    })?
    .map_err(|e| {
        tracing::warn!(error = %e, "embedding failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "embedding failed",
        )
    })?;
    let data: Vec<Value> = out
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": embedder.name(),
        "usage": {"prompt_tokens": out.tokens, "total_tokens": out.tokens},
    }))
}

/// `input` as strings: one string or an array of them, none empty.
fn inputs(req: &Value) -> Result<Vec<String>, ApiError> {
    let bad = |msg: &str| ApiError::bad_request(msg).with_param("input");
    let list = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(bad("`input` must not be an empty array"));
            }
            if items.len() > MAX_INPUTS {
                return Err(bad("`input` has more than 2048 items"));
            }
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("`input` must be a string or an array of strings (token ids are not supported)"))?
        }
        Some(_) => return Err(bad("`input` must be a string or an array of strings")),
        None => return Err(bad("`input` is required")),
    };
    if list.iter().any(String::is_empty) {
        return Err(bad("`input` must not contain empty strings"));
    }
    Ok(list)
}

/// The embedding model, loaded once (off the async threads).
async fn embedder(state: &State) -> Result<Arc<Embedder>, ApiError> {
    let Some(path) = state.embed_model.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "this server has no embedding model (start it with HEARTH_EMBED_MODEL set)",
        )
        .with_code("model_not_found"));
    };
    state
        .embedder
        .get_or_try_init(|| async move {
            let loaded = tokio::task::spawn_blocking(move || Embedder::load(&path))
                .await
                .map_err(|_| "the loading task failed".to_owned())?;
            loaded.map(Arc::new).map_err(|e| e.to_string())
        })
        .await
        .cloned()
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot load the embedding model");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("cannot load the embedding model: {e}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_a_string_or_strings() {
        assert_eq!(inputs(&json!({"input": "a"})).unwrap(), vec!["a"]);
        assert_eq!(
            inputs(&json!({"input": ["a", "b"]})).unwrap(),
            vec!["a", "b"]
        );
        for bad in [
            json!({}),
            json!({"input": []}),
            json!({"input": [1, 2]}),
            json!({"input": ""}),
            json!({"input": 5}),
        ] {
            let err = inputs(&bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
