//! Checks every request passes before a handler sees it: the `Host` header
//! (DNS rebinding), where a browser says the request comes from, and the API
//! key.
//!
//! A web page the user visits can make the browser send requests to
//! `127.0.0.1`: `fetch` with a `text/plain` body, a form post or a beacon
//! needs no CORS preflight, so CORS headers alone only stop the page from
//! *reading* the answer, not the request from running (and spending the
//! user's compute, cloud money or history). Browsers name the page in
//! `Origin` (and, on requests without one, say `Sec-Fetch-Site: cross-site`);
//! such requests are refused unless the page is on the allow-list.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State as Extract};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, AUTHORIZATION, HOST, HeaderName, ORIGIN, VARY,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::error::ApiError;
use crate::log::{LoggedRequest, ModelUsed};
use crate::server::State;

/// Logs every request, refused ones too, around [`check`].
pub(crate) async fn guard(
    Extract(state): Extract<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let at_ms = hearth_core::now();
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let response = check(&state, request, next).await;
    state.log.push(LoggedRequest {
        at_ms,
        method,
        path,
        status: response.status().as_u16(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        model: response
            .extensions()
            .get::<ModelUsed>()
            .map(|m| m.0.clone()),
    });
    response
}

async fn check(state: &State, request: Request, next: Next) -> Response {
    if !host_allowed(state, &request) {
        tracing::warn!("request refused: unexpected Host header");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "the Host header does not name this server",
        )
        .into_response();
    }
    let origin = match from_page(state, &request) {
        Page::None => None,
        Page::Allowed(origin) => Some(origin),
        Page::Refused(page) => {
            tracing::warn!(
                page = %page,
                method = %request.method(),
                path = request.uri().path(),
                "request from a web page refused (not on the --cors-origin list)"
            );
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "requests from web pages are refused unless the page's origin is allowed \
                 (hearth serve --cors-origin ORIGIN)",
            )
            .into_response();
        }
    };
    if request.method() == Method::OPTIONS
        && let Some(origin) = origin
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        headers.insert(VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = if request.uri().path().starts_with("/v1") && !authorized(state, &request) {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "a valid API key is needed: send `Authorization: Bearer KEY`",
        )
        .with_code("invalid_api_key")
        .into_response()
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Where a browser says a request comes from.
enum Page {
    /// Not from a web page: curl, an SDK, the browser's address bar.
    None,
    /// From an allow-listed page: its `Origin`, echoed in CORS headers.
    Allowed(HeaderValue),
    /// From another page: what the browser said, for the log.
    Refused(String),
}

/// `Sec-Fetch-Site` (Fetch Metadata): sent by browsers on every request,
/// including those that carry no `Origin` (an `<img>`, a link followed).
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

fn from_page(state: &State, request: &Request<Body>) -> Page {
    if let Some(origin) = request.headers().get(ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.cors_origins.iter().any(|allowed| allowed == o));
        return if allowed {
            Page::Allowed(origin.clone())
        } else {
            Page::Refused(shown(origin))
        };
    }
    match request
        .headers()
        .get(SEC_FETCH_SITE)
        .map(HeaderValue::as_bytes)
    {
        Some(b"cross-site" | b"same-site") => Page::Refused("a page on another site".into()),
        _ => Page::None,
    }
}

/// A header value as it may be logged: printable ASCII, cut short.
fn shown(value: &HeaderValue) -> String {
    value
        .as_bytes()
        .iter()
        .take(100)
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

fn host_allowed(state: &State, request: &Request<Body>) -> bool {
    let Some(hosts) = &state.hosts else {
        return true;
    };
    request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(h)))
}

fn authorized(state: &State, request: &Request<Body>) -> bool {
    let Some(key) = &state.api_key else {
        return true;
    };
    let Some(given) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key)
    else {
        return false;
    };
    constant_time_eq(given.trim().as_bytes(), key.expose_secret().as_bytes())
}

/// Compares without stopping at the first difference, so the time taken does
/// not tell an attacker how much of a guessed key was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_keys() {
        assert!(constant_time_eq(b"sk-abc", b"sk-abc"));
        assert!(!constant_time_eq(b"sk-abc", b"sk-abd"));
        assert!(!constant_time_eq(b"sk-ab", b"sk-abc"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
