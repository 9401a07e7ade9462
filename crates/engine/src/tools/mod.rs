//! Tool calling on local models: tools rendered into the prompt the way the
//! model was trained (the chat template's `tools` variable), and the model's
//! own call syntax read back out of its answer.
//!
//! One file per call syntax (like one file per architecture): `hermes.rs`
//! (Hermes / Qwen `<tool_call>{…}</tool_call>`, also Hearth's fallback),
//! `llama.rs` (Llama 3.x JSON and `<|python_tag|>`), `mistral.rs`
//! (`[TOOL_CALLS][…]`), `phi4.rs` (Phi-4-mini `<|tool_call|>[…]<|/tool_call|>`).
//! `fallback.rs` writes a system prompt for templates that ignore `tools`.
//!
//! Which syntax a model speaks is read from its template text. When the
//! template does not show the tools (it never mentions them, or its render
//! lacks a tool's name), the fallback system prompt describes them and asks
//! for the Hermes syntax.
//!
//! `tool_choice: required` or a named function puts the opening of a call
//! after the generation prompt and generates the rest with JSON mode
//! (`json_mode.rs`), its arguments held to the tool's `parameters` schema
//! (`json_mode/schema.rs` says what of a schema is enforced). With
//! `tool_choice: auto`, text is free until a call's marker appears; from
//! there the call's JSON is held the same way (`{"name": <one of the
//! tools>, "arguments": <that tool's schema>}`, a list of them for Mistral
//! and Phi-4), and free again after it (`json_mode/lazy.rs`). So a call
//! always parses and, as far as its schema was compiled, matches it.
//!
//! Parsing loses nothing: a call that cannot be read (bad JSON, an unknown
//! tool) stays in the answer's text, and the error says why.

mod fallback;
mod hermes;
mod llama;
mod mistral;
mod phi4;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hearth_backend::{Message, ToolCall, ToolChoice, ToolSpec};

use crate::error::EngineError;
use crate::generate::Constraint;
use crate::json_mode::{JsonMode, LazyJson, Schema};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;
use crate::vocab::Vocab;

/// A model's tool-call syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one per call.
    Hermes,
    /// `{"name": …, "parameters": {…}}`, optionally after `<|python_tag|>`.
    Llama3,
    /// `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`.
    Mistral,
    /// `<|tool_call|>[{"name": …, "arguments": {…}}]<|/tool_call|>`.
    Phi4,
}

impl Syntax {
    /// The syntax a template's model was trained on; `None`: it shows no sign
    /// of tools at all.
    pub(crate) fn of_template(template: &ChatTemplate) -> Option<Self> {
        if template.mentions("<tool_call>") {
            Some(Self::Hermes)
        } else if template.mentions("[TOOL_CALLS]") {
            Some(Self::Mistral)
        } else if template.mentions("<|tool_call|>") || template.mentions("<|tool|>") {
            Some(Self::Phi4)
        } else if template.mentions("<|python_tag|>") || template.mentions("ipython") {
            Some(Self::Llama3)
        } else if template.mentions("tools") {
            // Templates that render tools without a known marker: Hermes is
            // what most such fine-tunes speak.
            Some(Self::Hermes)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hermes => "hermes",
            Self::Llama3 => "llama3",
            Self::Mistral => "mistral",
            Self::Phi4 => "phi4",
        }
    }

    /// Text that starts a call; the answer is held back from the stream once
    /// one appears.
    fn markers(self) -> &'static [&'static str] {
        match self {
            Self::Hermes => &[hermes::OPEN],
            Self::Llama3 => &[llama::PYTHON_TAG],
            Self::Mistral => &[mistral::MARKER],
            Self::Phi4 => &[phi4::OPEN],
        }
    }

    /// The key the arguments object goes under.
    fn arguments_key(self) -> &'static str {
        match self {
            Self::Llama3 => "parameters",
            _ => "arguments",
        }
    }

    /// What opens a forced call, before its JSON object: `(marker, after)`,
    /// the marker being special-token text.
    fn forced_opening(self) -> (&'static str, &'static str) {
        match self {
            Self::Hermes => (hermes::OPEN, "\n"),
            Self::Llama3 => ("", ""),
            Self::Mistral => (mistral::MARKER, "["),
            Self::Phi4 => (phi4::OPEN, "["),
        }
    }

    fn parse(self, text: &str, tools: &[ToolSpec]) -> Parsed {
        match self {
            Self::Hermes => hermes::parse(text, tools),
            Self::Llama3 => llama::parse(text, tools),
            Self::Mistral => mistral::parse(text, tools),
            Self::Phi4 => phi4::parse(text, tools),
        }
    }
}

/// Why a call in a model's answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    #[error("a {syntax} tool call is not valid JSON: {reason}")]
    Malformed {
        syntax: &'static str,
        reason: String,
    },
    #[error("a {syntax} tool call has no function name")]
    NoName { syntax: &'static str },
    #[error("the model called \"{name}\", which is not one of the tools it was given")]
    UnknownTool { name: String },
    #[error("the arguments of \"{name}\" are not a JSON object")]
    BadArguments { name: String },
}

/// What an answer says: its text without the calls, and the calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Parsed {
    /// The answer's text outside the calls, plus any call that could not be
    /// read, as it was.
    pub(crate) content: String,
    pub(crate) calls: Vec<ToolCall>,
    /// Why calls were left in the text.
    pub(crate) errors: Vec<ToolCallError>,
}

impl Parsed {
    fn text(content: &str) -> Self {
        Self {
            content: content.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a call read from `json` (the text it came from is kept as content
    /// when it cannot be used).
    fn push_call(&mut self, syntax: Syntax, raw: &str, tools: &[ToolSpec]) {
        match call_from_json(syntax, raw, tools) {
            Ok(call) => self.calls.push(call),
            Err(err) => {
                self.keep(raw);
                self.errors.push(err);
            }
        }
    }

    fn keep(&mut self, raw: &str) {
        if !self.content.is_empty() && !raw.is_empty() {
            self.content.push('\n');
        }
        self.content.push_str(raw);
    }

    fn finish(mut self) -> Self {
        self.content = self.content.trim().to_owned();
        self
    }
}

/// A fresh call id (`call_` and 16 hex digits), unique enough for a client to
/// match results to calls across turns.
fn call_id() -> String {
    let n = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("call_{n:016x}")
}

/// One call from a JSON object `{"name": …, "arguments"|"parameters": {…}}`
/// (arguments given as JSON text are accepted too).
fn call_from_json(
    syntax: Syntax,
    raw: &str,
    tools: &[ToolSpec],
) -> Result<ToolCall, ToolCallError> {
    let value: serde_json::Value =
        serde_json::from_str(raw.trim()).map_err(|e| ToolCallError::Malformed {
            syntax: syntax.name(),
            reason: e.to_string(),
        })?;
    call_from_value(syntax, &value, tools)
}

fn call_from_value(
    syntax: Syntax,
    value: &serde_json::Value,
    tools: &[ToolSpec],
) -> Result<ToolCall, ToolCallError> {
    let name = value
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or(ToolCallError::NoName {
            syntax: syntax.name(),
        })?;
    let arguments = value
        .get("arguments")
        .or_else(|| value.get("parameters"))
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let id = value
        .get("id")
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty())
        .map_or_else(call_id, str::to_owned);
    checked_call(id, name, arguments, tools)
}

fn checked_call(
    id: String,
    name: &str,
    arguments: serde_json::Value,
    tools: &[ToolSpec],
) -> Result<ToolCall, ToolCallError> {
    if !tools.iter().any(|t| t.name == name) {
        return Err(ToolCallError::UnknownTool {
            name: name.to_owned(),
        });
    }
    let bad = || ToolCallError::BadArguments {
        name: name.to_owned(),
    };
    let arguments = match arguments {
        serde_json::Value::String(text) => serde_json::from_str(&text).map_err(|_| bad())?,
        other => other,
    };
    if !arguments.is_object() {
        return Err(bad());
    }
    Ok(ToolCall::new(id, name, arguments.to_string()))
}

/// Reads JSON values one after another from `text` (separated by whitespace,
/// commas or semicolons): each value's text, and what follows the last one.
fn json_values(text: &str) -> (Vec<&str>, &str) {
    let mut values = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';' || c == ',');
        if !trimmed.starts_with('{') {
            return (values, rest);
        }
        let mut stream =
            serde_json::Deserializer::from_str(trimmed).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                values.push(&trimmed[..end]);
                rest = &trimmed[end..];
            }
            _ => return (values, rest),
        }
    }
}

/// How one request with tools is prompted, generated and read.
#[derive(Debug, Clone)]
pub(crate) struct ToolPlan {
    syntax: Syntax,
    tools: Vec<ToolSpec>,
    /// Whether a call is forced, and of which function.
    forced: Option<Forced>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Forced {
    /// Any of the tools (`required`): the model writes the whole call object.
    Any,
    /// This function: the model writes its arguments object.
    Function(String),
}

/// A prompt with tools: its text (special tokens allowed) and, for a forced
/// call, the call's opening that follows it (model text).
pub(crate) struct ToolPrompt {
    pub(crate) text: String,
    /// A forced call's marker (special-token text).
    pub(crate) marker: &'static str,
    /// What follows the marker (model text).
    pub(crate) opening: String,
    pub(crate) plan: ToolPlan,
}

impl ToolPrompt {
    /// For `required` with several tools: the same prompt opened up to the
    /// function's name (`{"name": "`), for the model to name one.
    pub(crate) fn name_probe(&self) -> Option<ToolPrompt> {
        (self.plan.forced == Some(Forced::Any) && self.plan.tools.len() > 1).then(|| ToolPrompt {
            text: self.text.clone(),
            marker: self.marker,
            opening: format!("{}{{\"name\": \"", self.opening),
            plan: self.plan.clone(),
        })
    }
}

impl ToolPlan {
    /// The tool a model's attempt at a name means: the one it names, else
    /// the one sharing the longest start with it (the first on a tie).
    pub(crate) fn closest_tool(&self, said: &str) -> String {
        let said = said.trim();
        let shared = |name: &str| {
            name.chars()
                .zip(said.chars())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let mut best: Option<(&ToolSpec, usize)> = None;
        for tool in &self.tools {
            if tool.name == said {
                return tool.name.clone();
            }
            let n = shared(&tool.name);
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((tool, n));
            }
        }
        best.map(|(t, _)| t.name.clone()).unwrap_or_default()
    }

    /// Renders `messages` with `tools` under `choice`.
    pub(crate) fn prompt(
        template: &ChatTemplate,
        messages: &[Message],
        tools: &[ToolSpec],
        choice: &ToolChoice,
    ) -> Result<ToolPrompt, EngineError> {
        let forced = match choice {
            ToolChoice::None => {
                // Tools not shown; earlier calls and results still are.
                let text = fallback::render(template, messages, &[])?;
                let plan = ToolPlan {
                    syntax: Syntax::Hermes,
                    tools: Vec::new(),
                    forced: None,
                };
                return Ok(ToolPrompt {
                    text,
                    marker: "",
                    opening: String::new(),
                    plan,
                });
            }
            ToolChoice::Auto => None,
            // With one tool, "some tool" is that one: its name need not be
            // left to the model.
            ToolChoice::Required => match tools {
                [only] => Some(Forced::Function(only.name.clone())),
                _ => Some(Forced::Any),
            },
            ToolChoice::Function(name) => {
                if !tools.iter().any(|t| &t.name == name) {
                    return Err(EngineError::InvalidRequest(format!(
                        "tool_choice names \"{name}\", which is not one of the tools"
                    )));
                }
                Some(Forced::Function(name.clone()))
            }
        };
        if forced.is_some() && tools.is_empty() {
            return Err(EngineError::InvalidRequest(
                "tool_choice asks for a tool call, but no tools were given".into(),
            ));
        }
        let native = Syntax::of_template(template)
            .map(|syntax| {
                template
                    .render_with_tools(messages, tools, true)
                    .map(|text| (syntax, text))
            })
            .transpose()?
            // A template that renders without the tools' names ignored them.
            .filter(|(_, text)| tools.iter().all(|t| text.contains(&t.name)));
        let (syntax, text) = match native {
            Some(found) => found,
            None => (Syntax::Hermes, fallback::render(template, messages, tools)?),
        };
        let (marker, opening) = match &forced {
            None => ("", String::new()),
            Some(forced) => {
                let (marker, after) = syntax.forced_opening();
                let head = match forced {
                    Forced::Any => String::new(),
                    Forced::Function(name) => format!(
                        "{{\"name\": {}, \"{}\": ",
                        serde_json::Value::String(name.clone()),
                        syntax.arguments_key()
                    ),
                };
                (marker, format!("{after}{head}"))
            }
        };
        Ok(ToolPrompt {
            text,
            marker,
            opening,
            plan: ToolPlan {
                syntax,
                tools: tools.to_vec(),
                forced,
            },
        })
    }

    /// Whether the answer is one JSON object generated with JSON mode.
    pub(crate) fn is_forced(&self) -> bool {
        self.forced.is_some()
    }

    /// What the answer is held to while it is generated: a forced call's
    /// JSON (the arguments object under the tool's schema when the function
    /// is named, else the whole call), each call from its marker on in auto
    /// mode, nothing without tools.
    pub(crate) fn constraint(&self) -> Constraint {
        match &self.forced {
            Some(Forced::Function(name)) => {
                let schema = match self.tools.iter().find(|t| &t.name == name) {
                    Some(tool) => Schema::compile(&tool.parameters),
                    None => Schema::compile(&serde_json::json!({"type": "object"})),
                };
                Constraint::Json(JsonMode::with_schema(Arc::new(schema)))
            }
            Some(Forced::Any) => {
                Constraint::Json(JsonMode::with_schema(Arc::new(self.call_schema(false))))
            }
            None if self.tools.is_empty() => Constraint::Free,
            None => {
                let list = matches!(self.syntax, Syntax::Mistral | Syntax::Phi4);
                Constraint::Lazy(LazyJson::new(
                    self.syntax.markers(),
                    self.syntax == Syntax::Llama3,
                    Arc::new(self.call_schema(list)),
                ))
            }
        }
    }

    /// The schema of a call to one of the tools (a list of calls with `list`).
    fn call_schema(&self, list: bool) -> Schema {
        let tools: Vec<(&str, &serde_json::Value)> = self
            .tools
            .iter()
            .map(|t| (t.name.as_str(), &t.parameters))
            .collect();
        Schema::tool_call(&tools, self.syntax.arguments_key(), list)
    }

    /// Holds back streamed text from where a call starts.
    pub(crate) fn gate(&self) -> Gate {
        Gate {
            markers: if self.tools.is_empty() {
                &[]
            } else {
                self.syntax.markers()
            },
            json_start: self.syntax == Syntax::Llama3 && !self.tools.is_empty(),
            hold_all: self.is_forced(),
            seen: String::new(),
            sent: 0,
            holding: false,
        }
    }

    /// Reads the generated `text`.
    pub(crate) fn read(&self, text: &str) -> Result<Parsed, EngineError> {
        let failed = |err: ToolCallError| EngineError::ToolCall(err.to_string());
        match &self.forced {
            Some(Forced::Function(name)) => {
                let arguments: serde_json::Value = serde_json::from_str(text.trim())
                    .map_err(|_| failed(ToolCallError::BadArguments { name: name.clone() }))?;
                let call = checked_call(call_id(), name, arguments, &self.tools).map_err(failed)?;
                Ok(Parsed {
                    calls: vec![call],
                    ..Parsed::default()
                })
            }
            Some(Forced::Any) => {
                let call = call_from_json(self.syntax, text, &self.tools).map_err(failed)?;
                Ok(Parsed {
                    calls: vec![call],
                    ..Parsed::default()
                })
            }
            None if self.tools.is_empty() => Ok(Parsed::text(text)),
            None => {
                let parsed = self.syntax.parse(text, &self.tools);
                // A model may answer in the fallback's syntax though its own
                // template is known (or the reverse): try Hermes too.
                if parsed.calls.is_empty()
                    && parsed.errors.is_empty()
                    && self.syntax != Syntax::Hermes
                {
                    return Ok(hermes::parse(text, &self.tools));
                }
                Ok(parsed)
            }
        }
    }

    /// A vocabulary that spells out this syntax's marker tokens, which are
    /// control tokens (no text) in some models' vocabularies.
    pub(crate) fn vocab<'a>(&self, tokenizer: &'a Tokenizer) -> MarkerVocab<'a> {
        let mut markers = HashMap::new();
        if !self.tools.is_empty() {
            for text in ALL_MARKERS {
                if let Some(id) = tokenizer.token_id(text)
                    && tokenizer.token_bytes(id).is_empty()
                {
                    markers.insert(id, text.as_bytes());
                }
            }
        }
        MarkerVocab {
            inner: tokenizer,
            markers,
        }
    }
}

/// Every marker of every syntax, closers included.
const ALL_MARKERS: &[&str] = &[
    hermes::OPEN,
    hermes::CLOSE,
    llama::PYTHON_TAG,
    mistral::MARKER,
    mistral::ARGS,
    phi4::OPEN,
    phi4::CLOSE,
];

/// A tokenizer whose tool-call marker tokens have their text.
pub(crate) struct MarkerVocab<'a> {
    inner: &'a Tokenizer,
    markers: HashMap<u32, &'static [u8]>,
}

impl Vocab for MarkerVocab<'_> {
    fn bytes(&self, id: u32) -> &[u8] {
        match self.markers.get(&id) {
            Some(text) => text,
            None => self.inner.bytes(id),
        }
    }

    fn is_stop(&self, id: u32) -> bool {
        self.inner.is_stop(id)
    }
}

/// Streams an answer's text until a call starts, then holds the rest (it is
/// read when the answer is done).
#[derive(Debug)]
pub(crate) struct Gate {
    markers: &'static [&'static str],
    /// Llama 3 calls may start with a bare `{`.
    json_start: bool,
    /// Forced calls stream nothing.
    hold_all: bool,
    seen: String,
    sent: usize,
    holding: bool,
}

impl Gate {
    /// The part of `piece` that can be shown now.
    pub(crate) fn push(&mut self, piece: &str) -> String {
        self.seen.push_str(piece);
        if self.hold_all || self.holding {
            return String::new();
        }
        if self.json_start && self.seen.trim_start().starts_with('{') {
            self.holding = true;
            return String::new();
        }
        if self.json_start && self.seen.trim().is_empty() {
            return String::new();
        }
        let start = self.markers.iter().filter_map(|m| self.seen.find(m)).min();
        let safe_end = match start {
            Some(at) => {
                self.holding = true;
                at
            }
            // Keep back a tail that could be the start of a marker.
            None => {
                let mut end = self.seen.len();
                for marker in self.markers {
                    for len in (1..marker.len()).rev() {
                        if self.seen.ends_with(&marker[..len]) {
                            end = end.min(self.seen.len() - len);
                            break;
                        }
                    }
                }
                end
            }
        };
        let safe_end = safe_end.max(self.sent);
        let out = self.seen[self.sent..safe_end].to_owned();
        self.sent = safe_end;
        out
    }

    /// What of the final `content` was not shown yet (held back as a possible
    /// call that was not one, or kept because it could not be read).
    pub(crate) fn finish(&mut self, content: &str) -> String {
        let shown = self.seen[..self.sent].trim();
        let rest = match content.strip_prefix(shown) {
            Some(rest) => rest,
            None => return String::new(),
        };
        let out = rest.to_owned();
        self.sent = self.seen.len();
        out
    }
}

#[cfg(test)]
mod tests;
