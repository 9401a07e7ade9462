//! Failures in words: HTTP statuses, transport errors, timeouts and in-stream
//! errors become classified [`BackendError`]s whose text names the provider
//! and never holds the key, the prompt or a response body.

use std::time::{Duration, SystemTime};

use hearth_backend::{BackendError, ErrorKind};
use hearth_net::{FailureKind, Route, explain, root_cause};
use reqwest::header::HeaderMap;

use super::{Http, Progress, Waiting};
use crate::wire::{CONTEXT_LENGTH, WireError};

/// How much of a body or event the debug log shows.
const LOG_EXCERPT: usize = 200;

impl Http {
    pub(super) fn classify(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        code: Option<&str>,
    ) -> BackendError {
        let who = &self.who.shown;
        let name = &self.who.name;
        let note = code.map(|c| format!(", {c}")).unwrap_or_default();
        let rejected_key =
            matches!(status, 401 | 403) || (status == 400 && code == Some("API_KEY_INVALID"));
        let too_long = matches!(status, 400 | 413) && code == Some(CONTEXT_LENGTH);
        let (kind, message) = match status {
            _ if too_long => (
                ErrorKind::ContextLength,
                format!(
                    "{who} refused the conversation as longer than the model's context window \
                     (HTTP {status}{note})"
                ),
            ),
            _ if rejected_key => (
                ErrorKind::Auth,
                format!(
                    "the {who} key was rejected (HTTP {status}{note}); check it with `hearth provider test {name}`"
                ),
            ),
            429 if code.is_some_and(|c| c.contains("quota")) => (
                ErrorKind::RateLimit,
                format!("{who} says the account is out of quota (HTTP 429{note})"),
            ),
            429 => (
                ErrorKind::RateLimit,
                match retry_after {
                    Some(wait) => format!(
                        "{who} is rate limiting Hearth (HTTP 429{note}); it asked to wait {}",
                        human(wait)
                    ),
                    None => format!("{who} is rate limiting Hearth (HTTP 429{note})"),
                },
            ),
            408 => (
                ErrorKind::Timeout,
                format!("{who} gave up waiting for the request (HTTP 408)"),
            ),
            503 | 529 => (
                ErrorKind::Server,
                format!("{who} is overloaded (HTTP {status}{note})"),
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("{who} had a server error (HTTP {status}{note})"),
            ),
            404 => (
                ErrorKind::Rejected,
                format!("{who} refused the request (HTTP 404{note}): unknown model?"),
            ),
            413 => (
                ErrorKind::Rejected,
                format!(
                    "{who} refused the request (HTTP 413{note}): the conversation is too long?"
                ),
            ),
            400..=499 => (
                ErrorKind::Rejected,
                format!("{who} refused the request (HTTP {status}{note})"),
            ),
            _ => (
                ErrorKind::Malformed,
                format!("{who} answered with an unexpected HTTP {status}"),
            ),
        };
        BackendError::new(kind, message).with_retry_after(retry_after)
    }

    pub(super) fn wire_error(&self, error: &WireError) -> BackendError {
        let who = &self.who.shown;
        let code = safe_code(&error.code).unwrap_or("error");
        let message = match error.kind {
            ErrorKind::RateLimit => format!("{who} is rate limiting Hearth ({code})"),
            ErrorKind::Server => format!("{who} reported a server error ({code})"),
            ErrorKind::Auth => format!(
                "the {who} key was rejected ({code}); check it with `hearth provider test {}`",
                self.who.name
            ),
            ErrorKind::Rejected => format!("{who} refused the request ({code})"),
            ErrorKind::ContextLength => format!(
                "{who} refused the conversation as longer than the model's context window ({code})"
            ),
            _ => format!("{who} reported an error ({code})"),
        };
        BackendError::new(error.kind, message)
    }

    pub(super) fn timeout(&self, which: Waiting) -> BackendError {
        let who = &self.who.shown;
        let message = match which {
            Waiting::FirstByte => format!(
                "{who} sent nothing for {}",
                human(self.policy.first_byte_timeout)
            ),
            Waiting::Idle => format!("{who} went silent for {}", human(self.policy.idle_timeout)),
            Waiting::Total => format!(
                "{who} did not finish within {}",
                human(self.policy.total_timeout)
            ),
        };
        BackendError::new(ErrorKind::Timeout, message)
    }

    /// A failure to send the request (before any response): the proxy, a
    /// certificate, a refused redirect or the server, in words.
    pub(super) fn transport(&self, e: &reqwest::Error) -> BackendError {
        let who = &self.who.shown;
        if e.is_timeout() {
            // The client's only own timeout is the connect timeout.
            return BackendError::new(
                ErrorKind::Timeout,
                format!(
                    "could not connect to {who} ({}) within {}",
                    self.host,
                    human(self.policy.connect_timeout)
                ),
            );
        }
        let failure = explain(e, &self.base, &self.route, self.network.net.hints());
        let kind = match failure.kind {
            FailureKind::Connect | FailureKind::Other => ErrorKind::Connection,
            FailureKind::Timeout => ErrorKind::Timeout,
            FailureKind::ProxyAuth => ErrorKind::Auth,
            // The user must change something: trying again will not help.
            FailureKind::ProxyRefused | FailureKind::Certificate | FailureKind::Redirect => {
                ErrorKind::Rejected
            }
        };
        let message = match (failure.kind, &self.route) {
            (FailureKind::Connect, Route::Direct) if e.is_connect() => format!(
                "could not connect to {who} ({}): {}",
                self.host,
                root_cause(e)
            ),
            _ => format!("{who}: {}", failure.message),
        };
        BackendError::new(kind, message)
    }

    /// A stream or body over its cap.
    pub(super) fn too_large(&self, what: &str) -> BackendError {
        BackendError::new(
            ErrorKind::Malformed,
            format!("{} sent too much: {what}", self.who.shown),
        )
    }

    /// The body broke off.
    pub(super) fn dropped(&self, e: &reqwest::Error) -> BackendError {
        // The cause ("unexpected EOF during chunk size line") helps a
        // developer, not a user.
        tracing::debug!(provider = %self.who.name, cause = %root_cause(e), "connection dropped");
        BackendError::new(
            ErrorKind::Connection,
            format!("the connection to {} dropped", self.who.shown),
        )
    }

    pub(super) fn malformed(&self) -> BackendError {
        BackendError::new(
            ErrorKind::Malformed,
            format!("{} sent an answer Hearth could not read", self.who.shown),
        )
    }

    pub(super) fn end_of_stream(&self, progress: &Progress) -> Result<(), BackendError> {
        let who = &self.who.shown;
        if progress.finish.is_some() {
            Ok(())
        } else if !progress.text.is_empty() {
            Err(BackendError::new(
                ErrorKind::Connection,
                format!("{who} closed the stream before the answer was complete"),
            ))
        } else {
            Err(BackendError::new(
                ErrorKind::Malformed,
                format!("{who} closed the stream without an answer"),
            ))
        }
    }

    pub(super) fn interrupted(&self, err: &BackendError, text: &str) -> BackendError {
        BackendError::new(
            ErrorKind::Interrupted,
            format!(
                "the answer from {} stopped part-way: {}",
                self.who.shown,
                err.user_message()
            ),
        )
        .with_partial(text)
    }
}

pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms")
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The provider's short error code from an error body (`error.code`,
/// `error.type`, `error.status`), if it looks like a code and not prose.
pub(super) fn error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    ["code", "type", "status"]
        .iter()
        .filter_map(|field| error.get(field)?.as_str())
        .find_map(safe_code)
        .map(str::to_owned)
}

fn safe_code(code: &str) -> Option<&str> {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    ok.then_some(code)
}

pub(super) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(LOG_EXCERPT) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], bytes.len()),
        None => text.into_owned(),
    }
}

/// `300 ms`, `8 s`, `10 min`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        if secs >= 120 && secs.is_multiple_of(60) {
            format!("{} min", secs / 60)
        } else {
            format!("{secs} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_dates_and_ms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after", HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        headers.insert("retry-after", HeaderValue::try_from(later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(42)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(42));
        headers.insert("retry-after", HeaderValue::try_from(past).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(
            retry_after(&headers, now),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn error_codes_are_codes_not_prose() {
        let openai = br#"{"error":{"message":"You exceeded your quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(error_code(openai).as_deref(), Some("insufficient_quota"));
        let gemini = br#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_code(gemini).as_deref(), Some("RESOURCE_EXHAUSTED"));
        let prose = br#"{"error":{"type":"your key sk-123 is wrong"}}"#;
        assert_eq!(error_code(prose), None);
        assert_eq!(error_code(b"<html>"), None);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_secs(60)), "60 s");
        assert_eq!(human(Duration::from_millis(1200)), "2 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
    }
}
