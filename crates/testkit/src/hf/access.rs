//! Who may see what, answered as the real Hub answers (see the module guide
//! of `hf`), the whoami route, and hostile answers to the JSON routes.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use futures_util::StreamExt;

use super::{
    Hostile, INVALID_CREDENTIALS, NO_ACCESS_TOKEN, Shared, Shared_, TOKEN, USER, bearer, error,
    json, log,
};
use std::sync::PoisonError;

/// Who a request's token says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Anonymous,
    /// [`TOKEN`]: every repo.
    Granted,
    /// [`NO_ACCESS_TOKEN`]: public repos only.
    Member,
    /// A token the Hub does not know.
    Invalid,
}

pub(super) fn caller(headers: &HeaderMap) -> Caller {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Caller::Anonymous;
    }
    match bearer(headers) {
        Some(TOKEN) => Caller::Granted,
        Some(NO_ACCESS_TOKEN) => Caller::Member,
        _ => Caller::Invalid,
    }
}

/// The Hub's answer to a token it does not know, on any route.
pub(super) fn invalid_credentials() -> Response<Body> {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({ "error": INVALID_CREDENTIALS }),
    );
    response.headers_mut().insert(
        "x-error-message",
        HeaderValue::from_static(INVALID_CREDENTIALS),
    );
    response
}

/// A private repo as the Hub shows it to someone without access: as if it
/// did not exist (401 to anonymous callers, 404 to signed-in ones).
pub(super) fn hidden(who: Caller) -> Response<Body> {
    let status = if who == Caller::Anonymous {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::NOT_FOUND
    };
    let mut response = error(status, "RepoNotFound", "Repository not found");
    response.headers_mut().insert(
        "x-error-message",
        HeaderValue::from_static("Repository not found"),
    );
    response
}

/// A gated repo's file without access: 401 anonymous, 403 signed in.
pub(super) fn gated(repo: &str, who: Caller) -> Response<Body> {
    let (status, message) = if who == Caller::Anonymous {
        (
            StatusCode::UNAUTHORIZED,
            format!(
                "Access to model {repo} is restricted. You must have access to it and be authenticated to access it. Please log in."
            ),
        )
    } else {
        (
            StatusCode::FORBIDDEN,
            format!(
                "Access to model {repo} is restricted and you are not in the authorized list. Visit https://huggingface.co/{repo} to ask for access."
            ),
        )
    };
    let mut response = json(status, &serde_json::json!({ "error": message }));
    response
        .headers_mut()
        .insert("x-error-code", HeaderValue::from_static("GatedRepo"));
    if let Ok(value) = HeaderValue::from_str(&message) {
        response.headers_mut().insert("x-error-message", value);
    }
    response
}

/// A hostile answer to an `/api/..` route, if one is set.
pub(super) fn hostile_api(shared: &Shared) -> Option<Response<Body>> {
    let fault = shared
        .faults
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .api
        .clone()?;
    Some(match fault {
        Hostile::HugeBody { declared } => {
            const SIZE: u64 = 1 << 30;
            const PIECE: usize = 64 * 1024;
            let pieces = futures_util::stream::iter(0..SIZE / PIECE as u64)
                .map(|_| Ok::<_, std::io::Error>(vec![b' '; PIECE]));
            let mut response = Response::new(Body::from_stream(pieces));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if declared && let Ok(v) = HeaderValue::from_str(&SIZE.to_string()) {
                response.headers_mut().insert(header::CONTENT_LENGTH, v);
            }
            response
        }
        Hostile::Trickle { every } => {
            let bytes = futures_util::stream::unfold((), move |()| async move {
                tokio::time::sleep(every).await;
                Some((Ok::<_, std::io::Error>(vec![b' ']), ()))
            });
            let mut response = Response::new(Body::from_stream(bytes));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    })
}

pub(super) async fn whoami(State(shared): Shared_, headers: HeaderMap) -> Response<Body> {
    log(&shared, "GET", "/api/whoami-v2".into(), &headers);
    match caller(&headers) {
        Caller::Anonymous => json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({ "error": "Invalid username or password." }),
        ),
        Caller::Invalid => invalid_credentials(),
        Caller::Granted | Caller::Member => json(
            StatusCode::OK,
            &serde_json::json!({
                "type": "user",
                "name": USER,
                "fullname": "Hearth Tester",
                "auth": { "type": "access_token", "accessToken": { "role": "read" } },
            }),
        ),
    }
}
