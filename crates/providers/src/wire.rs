//! What the translators (`openai.rs`, `anthropic.rs`, `gemini.rs`) hand to
//! `http.rs` and get back: a request described as data, and the items one
//! server-sent event turns into. Nothing here touches the network.

use hearth_backend::{ErrorKind, FinishReason};
use reqwest::{Method, Url};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// A model a provider offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteModel {
    /// The id requests use (`gpt-4o-mini`, `claude-sonnet-4-5`, `gemini-2.5-flash`).
    pub id: String,
    /// A display name, when the provider gives one.
    pub name: Option<String>,
}

/// How a request proves who it is.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    /// `Authorization: Bearer KEY`.
    Bearer(SecretString),
    /// A header holding the bare key (`x-api-key`, `x-goog-api-key`).
    Header(&'static str, SecretString),
}

/// One HTTP request, as data.
#[derive(Clone)]
pub(crate) struct WireRequest {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) auth: Auth,
    pub(crate) headers: Vec<(&'static str, &'static str)>,
    pub(crate) body: Option<serde_json::Value>,
}

impl WireRequest {
    pub(crate) fn get(url: Url, auth: Auth) -> Self {
        Self {
            method: Method::GET,
            url,
            auth,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn post(url: Url, auth: Auth, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            url,
            auth,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// What one event of a streamed answer means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamItem {
    /// A piece of the answer.
    Text(String),
    /// Token counts; a missing half keeps what an earlier event said.
    Usage {
        input: Option<u64>,
        output: Option<u64>,
    },
    Finish(FinishReason),
    /// The model that actually answered.
    Model(String),
    /// The stream is complete.
    Done,
    /// The provider reported an error inside the stream.
    Error(WireError),
}

/// An error a provider sent inside a stream (or in an error body).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireError {
    pub(crate) kind: ErrorKind,
    /// The provider's own short code (`overloaded_error`, `server_error`):
    /// safe to show, unlike the message.
    pub(crate) code: String,
}

/// Why an event could not be read (for the debug log only).
pub(crate) type Unreadable = String;

/// `base` with `segments` appended to its path (the base may have a path of
/// its own, as in `http://localhost:11434/v1`).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

/// System messages joined into one instruction (for the APIs that take the
/// system prompt apart from the turns).
pub(crate) fn joined_system(messages: &[hearth_backend::Message]) -> Option<String> {
    let parts: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == hearth_backend::Role::System)
        .map(|m| m.content.as_str())
        .filter(|c| !c.trim().is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// The non-system turns with consecutive turns of one role merged, and a
/// leading assistant turn preceded by a short user turn: the APIs that want
/// strict user/assistant alternation starting with the user accept this.
pub(crate) fn alternating_turns(
    messages: &[hearth_backend::Message],
) -> Vec<(hearth_backend::Role, String)> {
    use hearth_backend::Role;
    let mut turns: Vec<(Role, String)> = Vec::new();
    for m in messages.iter().filter(|m| m.role != Role::System) {
        match turns.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.content);
            }
            _ => turns.push((m.role, m.content.clone())),
        }
    }
    if turns
        .first()
        .is_some_and(|(role, _)| *role == Role::Assistant)
    {
        // Why: both APIs reject a conversation that opens with the model.
        turns.insert(0, (Role::User, "(continued)".to_owned()));
    }
    turns
}

#[cfg(test)]
mod tests {
    use hearth_backend::{Message, Role};

    use super::*;

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("http://localhost:11434/v1/").unwrap();
        assert_eq!(
            endpoint(&base, &["chat", "completions"]).as_str(),
            "http://localhost:11434/v1/chat/completions"
        );
        let base = Url::parse("https://api.anthropic.com").unwrap();
        assert_eq!(
            endpoint(&base, &["v1", "messages"]).as_str(),
            "https://api.anthropic.com/v1/messages"
        );
    }

    #[test]
    fn turns_alternate_and_start_with_the_user() {
        let messages = [
            Message::system("Be brief."),
            Message::assistant("Hello!"),
            Message::user("a"),
            Message::user("b"),
            Message::system("Answer in French."),
            Message::assistant("c"),
        ];
        assert_eq!(
            joined_system(&messages).as_deref(),
            Some("Be brief.\n\nAnswer in French.")
        );
        let turns = alternating_turns(&messages);
        let roles: Vec<Role> = turns.iter().map(|t| t.0).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::User, Role::Assistant]
        );
        assert_eq!(turns[2].1, "a\n\nb");
        assert_eq!(joined_system(&[Message::user("x")]), None);
    }
}
