//! Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hearth_backend::ErrorKind;
use hearth_core::CoreError;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<&'static str>,
    code: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// 503: every generation slot is taken.
    pub(crate) fn busy() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the server is busy: too many requests are waiting; try again shortly",
        )
        .with_code("server_busy");
        error.retry_after = Some(1);
        error
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        let message = err.to_string();
        match &err {
            CoreError::ModelNotFound(_)
            | CoreError::NoModelFile(_)
            | CoreError::UnknownApiModel(_) => {
                Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
                    .with_param("model")
                    .with_code("model_not_found")
            }
            CoreError::Invalid(_) => Self::bad_request(message),
            CoreError::TooLong(_) => {
                Self::bad_request(message).with_code("context_length_exceeded")
            }
            CoreError::OverBudget(_) => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message)
                    .with_code("insufficient_quota")
            }
            CoreError::Offline(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
            }
            // The provider refused the prompt as too long (also after the
            // turn path trimmed it): the client's request to fix, as OpenAI says it.
            CoreError::Backend(e) | CoreError::LocalModel(e)
                if e.kind == ErrorKind::ContextLength =>
            {
                Self::bad_request(e.user_message().to_owned())
                    .with_param("messages")
                    .with_code("context_length_exceeded")
            }
            CoreError::Backend(e) => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                e.user_message().to_owned(),
            ),
            _ => {
                // CoreError never carries a prompt or a secret, so its text is safe to log.
                tracing::error!(error = %err, "API request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
            }
        }
    }
}
