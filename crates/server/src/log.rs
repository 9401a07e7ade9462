//! The last requests the server answered, for a live view (the desktop app's
//! server page). Only the method, path, status, time taken and model name are
//! kept: never a header, body, prompt or key.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// How many requests a [`RequestLog`] keeps.
pub const LOG_CAPACITY: usize = 200;

/// Model names longer than this are cut (they come from the client).
const MAX_MODEL_CHARS: usize = 200;
/// Paths longer than this are cut (they come from the client).
const MAX_PATH_CHARS: usize = 300;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When it arrived, unix milliseconds.
    pub at_ms: i64,
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub status: u16,
    /// Until the response head was ready (a stream may run longer).
    pub duration_ms: u64,
    /// The model asked for, when the request named one.
    pub model: Option<String>,
}

/// A bounded ring of the last [`LOG_CAPACITY`] requests; clones share it.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<VecDeque<LoggedRequest>>>,
}

impl RequestLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The newest `limit` requests, newest first.
    pub fn recent(&self, limit: usize) -> Vec<LoggedRequest> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.iter().rev().take(limit).cloned().collect()
    }

    pub(crate) fn push(&self, mut entry: LoggedRequest) {
        entry.path = cut(&entry.path, MAX_PATH_CHARS);
        entry.model = entry.model.map(|m| cut(&m, MAX_MODEL_CHARS));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        while entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }
}

/// The model a handler served, put in the response's extensions for the log.
#[derive(Debug, Clone)]
pub(crate) struct ModelUsed(pub(crate) String);

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> LoggedRequest {
        LoggedRequest {
            at_ms: 1,
            method: "GET".into(),
            path: "/health".into(),
            status,
            duration_ms: 0,
            model: None,
        }
    }

    #[test]
    fn keeps_the_newest_first_and_is_bounded() {
        let log = RequestLog::new();
        for status in 0..(LOG_CAPACITY as u16 + 5) {
            log.push(entry(status));
        }
        let recent = log.recent(usize::MAX);
        assert_eq!(recent.len(), LOG_CAPACITY);
        assert_eq!(recent[0].status, LOG_CAPACITY as u16 + 4);
        assert_eq!(log.recent(2).len(), 2);
    }

    #[test]
    fn cuts_long_client_values() {
        let log = RequestLog::new();
        log.push(LoggedRequest {
            path: "/".repeat(1000),
            model: Some("m".repeat(1000)),
            ..entry(200)
        });
        let got = &log.recent(1)[0];
        assert_eq!(got.path.len(), MAX_PATH_CHARS);
        assert_eq!(got.model.as_deref().map(str::len), Some(MAX_MODEL_CHARS));
    }
}
