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

/// What a translator is given to read: one server-sent event, or a whole
/// JSON answer (a server that answered a streamed request without streaming,
/// as some OpenAI-compatible servers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload<'a> {
    Event { name: &'a str, data: &'a str },
    Whole(&'a str),
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
    /// A tool call, or a piece of one ([`ToolCalls`] puts them together).
    Tool(ToolPiece),
}

/// A tool call as one event carries it: whole (Gemini), or a fragment of one
/// (OpenAI's `delta.tool_calls`, Anthropic's `tool_use` block and its
/// `input_json_delta`s).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ToolPiece {
    /// Which call this piece belongs to (OpenAI's `index`, Anthropic's block
    /// index). `None`: a new call when the piece names one, else the last call.
    pub(crate) index: Option<u64>,
    /// The provider's call id (first fragment only; Gemini usually has none).
    pub(crate) id: Option<String>,
    /// The function name (first fragment only).
    pub(crate) name: Option<String>,
    /// A piece of the arguments' JSON text, appended to what came before.
    pub(crate) arguments: String,
    /// Gemini's `thoughtSignature` on a call, which must go back with it:
    /// kept in the call's id behind [`SIGNATURE_MARK`].
    pub(crate) signature: Option<String>,
}

/// Separates a call's id from the provider state it carries (Gemini's thought
/// signature): `call_0~sig~<signature>`. Clients hand ids back as they got
/// them, so the state comes back with the call. `~` is in neither base64
/// alphabet.
pub(crate) const SIGNATURE_MARK: &str = "~sig~";

/// A call id split into its id and the signature it carries.
pub(crate) fn split_signature(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_MARK) {
        Some((id, sig)) if !sig.is_empty() => (id, Some(sig)),
        _ => (id, None),
    }
}

/// An error a provider sent inside a stream (or in an error body).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireError {
    pub(crate) kind: ErrorKind,
    /// The provider's own short code (`overloaded_error`, `server_error`):
    /// safe to show, unlike the message.
    pub(crate) code: String,
}

impl WireError {
    /// An error event, classified by its kind and code, unless its code or
    /// message says the prompt was longer than the model reads: then it is
    /// [`ErrorKind::ContextLength`], which the turn path trims and retries.
    /// The message is read, never kept (it may quote the conversation).
    pub(crate) fn new(kind: ErrorKind, code: String, message: Option<&str>) -> Self {
        if code == CONTEXT_LENGTH || message.is_some_and(|m| says_too_long(m.as_bytes())) {
            return WireError {
                kind: ErrorKind::ContextLength,
                code: CONTEXT_LENGTH.to_owned(),
            };
        }
        WireError { kind, code }
    }
}

/// The code an over-long prompt's refusal is classified by (OpenAI's).
pub(crate) const CONTEXT_LENGTH: &str = "context_length_exceeded";

/// What the providers say when a prompt does not fit the model's window:
/// OpenAI's code and message, Anthropic's and Gemini's messages.
const TOO_LONG: [&[u8]; 4] = [
    b"context_length_exceeded",
    b"maximum context length",
    b"prompt is too long",
    b"exceeds the maximum number of tokens",
];

/// Whether an error body or message says the prompt was longer than the
/// model reads.
pub(crate) fn says_too_long(text: &[u8]) -> bool {
    TOO_LONG.iter().any(|needle| contains(text, needle))
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A streamed tool call's arguments grew past the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArgumentsTooLarge;

/// A tool call being put together from its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partial {
    index: Option<u64>,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
    signature: Option<String>,
}

/// The tool calls of one answer, put together from [`ToolPiece`]s in the
/// order they began, with the arguments' total size capped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ToolCalls {
    calls: Vec<Partial>,
    bytes: u64,
}

/// Why a call in a provider's answer could not be used. Like the local
/// engine's `ToolCallError`: the call is not returned as a call; its text is
/// kept in the answer and a warning is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadToolCall {
    #[error("a tool call has no function name")]
    NoName,
    #[error("the model called \"{name}\", which is not one of the tools it was given")]
    UnknownTool { name: String },
    #[error("the arguments of \"{name}\" are not a JSON object")]
    BadArguments { name: String },
    #[error("the call to \"{name}\" was cut short before its arguments were complete")]
    CutShort { name: String },
}

/// The calls of a finished answer: those that can be used, and the others
/// with their text (to be kept in the answer) and why.
#[derive(Debug, Default)]
pub(crate) struct FinishedCalls {
    pub(crate) calls: Vec<hearth_backend::ToolCall>,
    pub(crate) rejected: Vec<(String, BadToolCall)>,
}

impl ToolCalls {
    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Adds one piece; fails once the arguments of all calls together are
    /// over `cap` bytes (an endless stream of fragments is cut there).
    pub(crate) fn push(&mut self, piece: ToolPiece, cap: u64) -> Result<(), ArgumentsTooLarge> {
        self.bytes = self.bytes.saturating_add(piece.arguments.len() as u64);
        if self.bytes > cap {
            return Err(ArgumentsTooLarge);
        }
        let target = match piece.index {
            Some(index) => self.calls.iter().position(|c| c.index == Some(index)),
            // No index (some compatible servers, Gemini): a piece that names a
            // function starts a call; one that does not continues the last.
            None if piece.name.is_some() => None,
            None => self.calls.len().checked_sub(1),
        };
        match target {
            Some(i) => {
                let call = &mut self.calls[i];
                if call.id.is_none() {
                    call.id = piece.id.filter(|id| !id.is_empty());
                }
                if call.name.is_none() {
                    call.name = piece.name.filter(|n| !n.is_empty());
                }
                if call.signature.is_none() {
                    call.signature = piece.signature.filter(|s| !s.is_empty());
                }
                call.arguments.push_str(&piece.arguments);
            }
            None => self.calls.push(Partial {
                index: piece.index,
                id: piece.id.filter(|id| !id.is_empty()),
                name: piece.name.filter(|n| !n.is_empty()),
                arguments: piece.arguments,
                signature: piece.signature.filter(|s| !s.is_empty()),
            }),
        }
        Ok(())
    }

    /// The finished calls, checked against the tools the request offered.
    /// Calls without an id get `call_<n>` (Gemini has none; results are
    /// matched back by function name there). `cut`: the answer hit its token
    /// limit, so every call in it is incomplete.
    pub(crate) fn finish(self, tools: &[hearth_backend::ToolSpec], cut: bool) -> FinishedCalls {
        let mut done = FinishedCalls::default();
        for (n, call) in self.calls.into_iter().enumerate() {
            let raw = call.raw_text();
            match call.checked(n, tools, cut) {
                Ok(call) => done.calls.push(call),
                Err(why) => done.rejected.push((raw, why)),
            }
        }
        done
    }
}

impl Partial {
    /// The call as text, for an answer that keeps a call it could not use.
    fn raw_text(&self) -> String {
        let name = serde_json::Value::String(self.name.clone().unwrap_or_default());
        format!(r#"{{"name": {name}, "arguments": {}}}"#, self.arguments)
    }

    fn checked(
        self,
        n: usize,
        tools: &[hearth_backend::ToolSpec],
        cut: bool,
    ) -> Result<hearth_backend::ToolCall, BadToolCall> {
        let name = self.name.ok_or(BadToolCall::NoName)?;
        if cut {
            return Err(BadToolCall::CutShort { name });
        }
        if !tools.iter().any(|t| t.name == name) {
            return Err(BadToolCall::UnknownTool { name });
        }
        // An empty argument string is a call without arguments (OpenAI and
        // Anthropic send that for a function with no parameters).
        let text = self.arguments.trim();
        let arguments = if text.is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(value) if value.is_object() => value,
                _ => return Err(BadToolCall::BadArguments { name }),
            }
        };
        let id = self.id.unwrap_or_else(|| format!("call_{n}"));
        let id = match self.signature {
            Some(sig) => format!("{id}{SIGNATURE_MARK}{sig}"),
            None => id,
        };
        Ok(hearth_backend::ToolCall::new(
            id,
            name,
            arguments.to_string(),
        ))
    }
}

/// The arguments of a call we send back, as a JSON object (Anthropic's
/// `input`, Gemini's `args`); `None` when they are not one.
pub(crate) fn arguments_object(call: &hearth_backend::ToolCall) -> Option<serde_json::Value> {
    let text = call.arguments.trim();
    if text.is_empty() {
        return Some(serde_json::Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .filter(serde_json::Value::is_object)
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

/// A piece of one turn for the APIs that take content blocks (Anthropic's
/// `content`, Gemini's `parts`): text, or a block the translator built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    Other(serde_json::Value),
}

/// One turn of a conversation sent to such an API: `Assistant` or `User`
/// (tool results travel in user turns there).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Turn {
    pub(crate) role: hearth_backend::Role,
    pub(crate) blocks: Vec<Block>,
}

/// The non-system turns, each message made into blocks by `blocks_of`, with
/// consecutive turns of one role merged (adjacent text joined by a blank
/// line), and a leading assistant turn preceded by a short user turn: the
/// APIs that want strict user/assistant alternation starting with the user
/// accept this. `blocks_of` says which role the message travels as.
pub(crate) fn merged_turns<E>(
    messages: &[hearth_backend::Message],
    mut blocks_of: impl FnMut(&hearth_backend::Message) -> Result<Turn, E>,
) -> Result<Vec<Turn>, E> {
    use hearth_backend::Role;
    let mut turns: Vec<Turn> = Vec::new();
    for m in messages.iter().filter(|m| m.role != Role::System) {
        let turn = blocks_of(m)?;
        match turns.last_mut() {
            Some(last) if last.role == turn.role => {
                for block in turn.blocks {
                    match (last.blocks.last_mut(), block) {
                        (Some(Block::Text(text)), Block::Text(more)) => {
                            text.push_str("\n\n");
                            text.push_str(&more);
                        }
                        (_, block) => last.blocks.push(block),
                    }
                }
            }
            _ => turns.push(turn),
        }
    }
    if turns.first().is_some_and(|t| t.role == Role::Assistant) {
        // Why: both APIs reject a conversation that opens with the model.
        turns.insert(
            0,
            Turn {
                role: Role::User,
                blocks: vec![Block::Text("(continued)".to_owned())],
            },
        );
    }
    Ok(turns)
}

/// A plain message as one turn of one text block (assistant, or user for
/// every other role).
pub(crate) fn text_turn(m: &hearth_backend::Message) -> Turn {
    let role = if m.role == hearth_backend::Role::Assistant {
        hearth_backend::Role::Assistant
    } else {
        hearth_backend::Role::User
    };
    Turn {
        role,
        blocks: vec![Block::Text(m.content.clone())],
    }
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
        let turns = merged_turns(&messages, |m| Ok::<_, ()>(text_turn(m))).unwrap();
        let roles: Vec<Role> = turns.iter().map(|t| t.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::User, Role::Assistant]
        );
        assert_eq!(turns[2].blocks, [Block::Text("a\n\nb".into())]);
        assert_eq!(joined_system(&[Message::user("x")]), None);
    }

    fn piece(index: Option<u64>, id: Option<&str>, name: Option<&str>, args: &str) -> ToolPiece {
        ToolPiece {
            index,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: args.to_owned(),
            signature: None,
        }
    }

    fn tools() -> Vec<hearth_backend::ToolSpec> {
        vec![
            hearth_backend::ToolSpec::new("get_weather", "", serde_json::json!({})),
            hearth_backend::ToolSpec::new("now", "", serde_json::json!({})),
        ]
    }

    #[test]
    fn interleaved_fragments_are_put_together_by_index() {
        let mut calls = ToolCalls::default();
        for p in [
            piece(Some(0), Some("call_a"), Some("get_weather"), ""),
            piece(Some(1), Some("call_b"), Some("now"), ""),
            piece(Some(0), None, None, r#"{"city": "Par"#),
            piece(Some(1), None, None, "{}"),
            piece(Some(0), None, None, r#"is — café"}"#),
        ] {
            calls.push(p, 1 << 20).unwrap();
        }
        let done = calls.finish(&tools(), false);
        assert!(done.rejected.is_empty());
        assert_eq!(done.calls.len(), 2);
        assert_eq!(done.calls[0].id, "call_a");
        assert_eq!(done.calls[0].name, "get_weather");
        let args: serde_json::Value = serde_json::from_str(&done.calls[0].arguments).unwrap();
        assert_eq!(args["city"], "Paris — café");
        assert_eq!(done.calls[1].arguments, "{}");
    }

    #[test]
    fn pieces_without_an_index_start_or_continue_calls_and_get_ids() {
        let mut calls = ToolCalls::default();
        for p in [
            piece(None, None, Some("now"), ""),
            piece(None, None, Some("get_weather"), r#"{"city":"#),
            piece(None, None, None, r#""Rome"}"#),
        ] {
            calls.push(p, 1 << 20).unwrap();
        }
        let done = calls.finish(&tools(), false);
        let ids: Vec<&str> = done.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_0", "call_1"]);
        assert_eq!(done.calls[0].arguments, "{}");
        assert_eq!(done.calls[1].arguments, r#"{"city":"Rome"}"#);
    }

    #[test]
    fn bad_calls_are_rejected_with_their_text_and_never_panic() {
        let mut calls = ToolCalls::default();
        for p in [
            piece(Some(0), Some("a"), Some("get_weather"), r#"{"city": "#),
            piece(Some(1), Some("b"), Some("rm_rf"), "{}"),
            piece(Some(2), Some("c"), None, "{}"),
            piece(Some(3), Some("d"), Some("now"), "[1, 2]"),
            piece(Some(4), Some("e"), Some("now"), "{}"),
        ] {
            calls.push(p, 1 << 20).unwrap();
        }
        let done = calls.clone().finish(&tools(), false);
        assert_eq!(done.calls.len(), 1);
        assert_eq!(done.calls[0].id, "e");
        let why: Vec<&BadToolCall> = done.rejected.iter().map(|r| &r.1).collect();
        assert_eq!(
            why,
            [
                &BadToolCall::BadArguments {
                    name: "get_weather".into()
                },
                &BadToolCall::UnknownTool {
                    name: "rm_rf".into()
                },
                &BadToolCall::NoName,
                &BadToolCall::BadArguments { name: "now".into() },
            ]
        );
        assert_eq!(
            done.rejected[0].0,
            r#"{"name": "get_weather", "arguments": {"city": }"#
        );
        // Cut by the token limit: nothing is a call.
        let cut = calls.finish(&tools(), true);
        assert!(cut.calls.is_empty());
        assert!(
            cut.rejected
                .iter()
                .any(|r| matches!(&r.1, BadToolCall::CutShort { name } if name == "now"))
        );
    }

    #[test]
    fn streamed_arguments_are_capped() {
        let mut calls = ToolCalls::default();
        calls
            .push(piece(Some(0), Some("a"), Some("now"), "{\"x\": \""), 16)
            .unwrap();
        assert_eq!(
            calls.push(piece(Some(0), None, None, &"a".repeat(64)), 16),
            Err(ArgumentsTooLarge)
        );
    }

    #[test]
    fn over_long_prompts_are_recognised() {
        let openai = br#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let gemini = br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
        for body in [&openai[..], anthropic, gemini] {
            assert!(says_too_long(body));
        }
        let quota =
            br#"{"error":{"message":"You exceeded your quota","code":"insufficient_quota"}}"#;
        assert!(!says_too_long(quota));
    }

    #[test]
    fn an_error_event_saying_too_long_is_a_context_length_error() {
        let refused = WireError::new(
            ErrorKind::Rejected,
            "invalid_request_error".into(),
            Some("prompt is too long: 210000 tokens > 200000 maximum"),
        );
        assert_eq!(refused.kind, ErrorKind::ContextLength);
        assert_eq!(refused.code, CONTEXT_LENGTH);
        let other = WireError::new(ErrorKind::Server, "server_error".into(), Some("oops"));
        assert_eq!(other.kind, ErrorKind::Server);
        assert_eq!(other.code, "server_error");
    }
}
