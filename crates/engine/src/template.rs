//! Chat templates: the GGUF's `tokenizer.chat_template` rendered with minijinja the
//! way Hugging Face renders it with jinja2.
//!
//! transformers compiles chat templates in an `ImmutableSandboxedEnvironment` with
//! `trim_blocks`, `lstrip_blocks` and the `loopcontrols` extension, adds the
//! globals `raise_exception` and `strftime_now`, replaces `tojson` with
//! `json.dumps(ensure_ascii=False)`, and renders with `messages`, `tools`,
//! `documents`, `add_generation_prompt` and the special-token texts. This module
//! builds the same environment on minijinja (with minijinja-contrib's Python
//! string/dict methods) and prints values as Python's `str()` would. The known
//! templates for GGUF files without one are written here from each model
//! family's published chat format. transformers' `{% generation %}` block
//! (it marks assistant text for training masks and renders its body unchanged)
//! becomes an always-true `{% if %}` with the same whitespace control.
//!
//! A model's template is code from whoever made the file: every render runs
//! under [`Limits`] (`guard.rs`), and one that goes over them fails with
//! [`EngineError::TemplateTooExpensive`] within about a second at most.

mod checked;
mod guard;
mod python;
#[cfg(test)]
mod thinking_tests;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hearth_backend::{Message, ToolSpec};
use minijinja::machinery::CompiledTemplate;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};

use crate::error::EngineError;
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use guard::Budget;
pub use guard::Limits;
use python::{DateTime, JsonOptions, Refused, Room};

/// The template's name inside its environment (shows in error locations).
const TEMPLATE_NAME: &str = "chat_template";

/// ChatML, the last resort: `<|im_start|>role\ncontent<|im_end|>\n`.
const CHATML: &str = r#"{%- for message in messages -%}
    {{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<|im_start|>assistant\n' }}
{%- endif -%}"#;

/// Gemma 2/3: BOS, `user`/`model` turns, the system prompt folded into the first
/// user turn followed by a blank line, contents trimmed, roles must alternate.
const GEMMA: &str = r#"{{ bos_token }}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}
    {{- message['content'] | trim -}}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}"#;

/// Llama 3.x without tools: BOS, header-delimited turns, contents trimmed.
const LLAMA3: &str = r#"{{ bos_token }}
{%- for message in messages -%}
    {{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif -%}"#;

/// Llama 2 `[INST]`: the system prompt in `<<SYS>>` inside the first user turn.
const LLAMA2: &str = r#"{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system_message = '<<SYS>>\n' + messages[0]['content'] | trim + '\n<</SYS>>\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set system_message = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{ bos_token + '[INST] ' + (system_message if loop.first else '') + message['content'] | trim + ' [/INST]' }}
    {%- else -%}
        {{ ' ' + message['content'] | trim + ' ' + eos_token }}
    {%- endif -%}
{%- endfor -%}"#;

/// Phi-3: `<|role|>\ncontent<|end|>\n`.
const PHI3: &str = r#"{%- for message in messages -%}
    {{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<|assistant|>\n' }}
{%- endif -%}"#;

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// `tokenizer.chat_template` in the GGUF file.
    Gguf,
    /// Hearth's known template for this architecture (the GGUF had none).
    Architecture(String),
    /// ChatML, the last resort.
    ChatMl,
}

/// A chat template, checked to compile, rendered under [`Limits`].
#[derive(Clone)]
pub struct ChatTemplate {
    /// The template text, with `{% generation %}` tags rewritten.
    text: String,
    source: TemplateSource,
    bos_token: String,
    eos_token: String,
    /// `strftime_now` pinned to this Unix time (reproducible renders).
    fixed_now: Option<i64>,
    limits: Limits,
    /// `enable_thinking` for templates that read it (Qwen3); `None`: left
    /// undefined, the template's own default.
    enable_thinking: Option<bool>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// The template for a model: the GGUF's own, else the architecture's known one,
    /// else ChatML.
    pub fn for_model(gguf: &GgufFile, tokenizer: &Tokenizer) -> Result<Self, EngineError> {
        let token = |id: Option<u32>| {
            id.and_then(|id| tokenizer.token_text(id))
                .unwrap_or_default()
                .to_owned()
        };
        let bos = token(tokenizer.bos_id());
        let eos = token(tokenizer.eos_id());
        Self::for_gguf(gguf, &bos, &eos)
    }

    /// Like [`ChatTemplate::for_model`], with the special-token texts given
    /// rather than looked up in a [`Tokenizer`].
    pub fn for_gguf(
        gguf: &GgufFile,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<Self, EngineError> {
        let own = gguf
            .get_str("tokenizer.chat_template")
            .ok()
            .filter(|text| !text.trim().is_empty());
        if let Some(text) = own {
            match Self::new(text, bos_token, eos_token) {
                Ok(mut template) => {
                    template.source = TemplateSource::Gguf;
                    return Ok(template);
                }
                // A model with a broken template should still chat: say so, and
                // use what Hearth knows for its architecture.
                Err(e) => tracing::warn!(
                    error = %e,
                    "the model's chat template does not compile; using Hearth's template for its architecture"
                ),
            }
        }
        let (text, source) = builtin_for(gguf);
        tracing::debug!(?source, "chat template");
        let mut template = Self::new(text, bos_token, eos_token)?;
        template.source = source;
        Ok(template)
    }

    /// Compiles `source` with the given special-token texts.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        Self::with_clock(source, bos_token, eos_token, None)
    }

    /// Like [`ChatTemplate::new`], with `strftime_now` pinned to the Unix time
    /// `now` (seconds, UTC) instead of the clock: for reproducible renders.
    pub fn with_fixed_time(
        source: &str,
        bos_token: &str,
        eos_token: &str,
        now: i64,
    ) -> Result<Self, EngineError> {
        Self::with_clock(source, bos_token, eos_token, Some(now))
    }

    fn with_clock(
        source: &str,
        bos_token: &str,
        eos_token: &str,
        fixed_now: Option<i64>,
    ) -> Result<Self, EngineError> {
        if source.len() > guard::MAX_SOURCE_BYTES {
            return Err(EngineError::Template(format!(
                "the template is {} KiB; more than {} KiB is refused",
                source.len() >> 10,
                guard::MAX_SOURCE_BYTES >> 10
            )));
        }
        if source.contains(guard::RESERVED_PREFIX) {
            return Err(EngineError::Template(format!(
                "names starting with {} are reserved",
                guard::RESERVED_PREFIX
            )));
        }
        let text =
            guard::unfold_numbers(&rewrite_generation_tags(source)).map_err(template_error)?;
        // Compiled once here so a broken template is refused at load.
        CompiledTemplate::new(TEMPLATE_NAME, &text, &guard::config()).map_err(template_error)?;
        Ok(Self {
            text,
            source: TemplateSource::Gguf,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            fixed_now,
            limits: Limits::default(),
            enable_thinking: None,
        })
    }

    /// Whether the template lets the model's thinking be switched on and off
    /// (it reads `enable_thinking`, as Qwen3's does).
    pub fn supports_thinking(&self) -> bool {
        supports_thinking(&self.text)
    }

    /// This template with `enable_thinking` set to `thinking` (`None`: left
    /// undefined, the template's own default). A template that does not read
    /// it renders as before.
    pub fn with_thinking(&self, thinking: Option<bool>) -> std::borrow::Cow<'_, Self> {
        if thinking == self.enable_thinking {
            std::borrow::Cow::Borrowed(self)
        } else {
            std::borrow::Cow::Owned(Self {
                enable_thinking: thinking,
                ..self.clone()
            })
        }
    }

    /// The same template rendered under other limits (tests, tuning).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Renders a conversation. `add_generation_prompt` appends the opening of the
    /// assistant's turn.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// Renders a conversation with `tools` in the template's `tools` variable
    /// (OpenAI-shaped entries; undefined when there are none), assistant calls
    /// as `tool_calls` (arguments as an object, as Hugging Face passes them)
    /// and tool results with their `tool_call_id`.
    pub fn render_with_tools(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let messages: Vec<Value> = messages.iter().map(message_value).collect();
        let tools = if tools.is_empty() {
            Value::from(())
        } else {
            let list: Vec<serde_json::Value> = tools.iter().map(ToolSpec::to_openai).collect();
            Value::from_serialize(&list)
        };
        let mut ctx = vec![
            ("messages", Value::from(messages)),
            ("tools", tools),
            ("documents", Value::from(())),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
        ];
        if let Some(thinking) = self.enable_thinking {
            ctx.push(("enable_thinking", Value::from(thinking)));
        }
        let ctx = Value::from_iter(ctx);
        let fixed_now = self.fixed_now;
        guard::render(TEMPLATE_NAME, &self.text, ctx, self.limits, |budget| {
            hf_environment(fixed_now, budget)
        })
    }

    /// Whether the template's text contains `needle` (to tell which tool-call
    /// format its model was trained on).
    pub(crate) fn mentions(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }

    /// Where this template came from.
    pub fn source(&self) -> TemplateSource {
        self.source.clone()
    }
}

/// Whether a template's source reads `enable_thinking` (Qwen3's switch for
/// its thinking, which llama.cpp and vLLM pass through `chat_template_kwargs`).
pub fn supports_thinking(source: &str) -> bool {
    source.contains("enable_thinking")
}

/// One message as templates read it: `role` and `content`, and the tool
/// fields only when set (templates test them with `is defined`).
fn message_value(m: &Message) -> Value {
    let mut fields = vec![
        ("role", Value::from(m.role.as_str())),
        ("content", Value::from(m.content.as_str())),
    ];
    if !m.tool_calls.is_empty() {
        let calls: Vec<serde_json::Value> = m
            .tool_calls
            .iter()
            .map(|call| {
                // Arguments that are not JSON stay the text they are.
                let arguments = serde_json::from_str::<serde_json::Value>(&call.arguments)
                    .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
                serde_json::json!({
                    "id": call.id,
                    "type": "function",
                    "function": { "name": call.name, "arguments": arguments },
                })
            })
            .collect();
        fields.push(("tool_calls", Value::from_serialize(&calls)));
    }
    if let Some(id) = &m.tool_call_id {
        fields.push(("tool_call_id", Value::from(id.as_str())));
    }
    Value::from_iter(fields)
}

/// The template text for `gguf` and where it came from.
/// Hearth's template for a model whose file has none (or a broken one): the
/// architecture's known template, else ChatML.
fn builtin_for(gguf: &GgufFile) -> (&'static str, TemplateSource) {
    let arch = gguf.architecture().unwrap_or_default().to_owned();
    let tokens = gguf
        .get_str_array("tokenizer.ggml.tokens")
        .unwrap_or_default();
    match known_template(&arch, |text| tokens.contains(&text)) {
        Some(text) => (text, TemplateSource::Architecture(arch)),
        None => (CHATML, TemplateSource::ChatMl),
    }
}

/// Hearth's template for an architecture whose GGUF has none; `has_token` tells
/// the llama family's chat formats apart by their special tokens.
fn known_template(arch: &str, has_token: impl Fn(&str) -> bool) -> Option<&'static str> {
    match arch {
        "gemma" | "gemma2" | "gemma3" => Some(GEMMA),
        "phi3" => Some(PHI3),
        "qwen2" | "qwen3" => Some(CHATML),
        "llama" if has_token("<|start_header_id|>") => Some(LLAMA3),
        "llama" if has_token("<|im_start|>") => Some(CHATML),
        "llama" => Some(LLAMA2),
        _ => None,
    }
}

/// `{% generation %}`…`{% endgeneration %}` as `{% if true %}`…`{% endif %}`,
/// keeping each tag's `-`/`+` whitespace markers (so trim/lstrip behave as for
/// the original block tags).
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        match parse_generation_tag(tag) {
            Some((len, open_marker, word, close_marker)) => {
                let replacement = if word == "generation" {
                    "if true"
                } else {
                    "endif"
                };
                out.push_str(&format!("{{%{open_marker} {replacement} {close_marker}%}}"));
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// If `tag` starts with a `generation`/`endgeneration` block tag: its length, the
/// opening and closing whitespace markers and the word.
fn parse_generation_tag(tag: &str) -> Option<(usize, &str, &str, &str)> {
    let body = tag.strip_prefix("{%")?;
    let open_marker = if body.starts_with(['-', '+']) {
        &body[..1]
    } else {
        ""
    };
    let body = &body[open_marker.len()..];
    let trimmed = body.trim_start();
    let word = ["endgeneration", "generation"]
        .into_iter()
        .find(|w| trimmed.starts_with(w))?;
    let after = trimmed[word.len()..].trim_start();
    let (close_marker, after) = match after.strip_prefix(['-', '+']) {
        Some(rest) => (&after[..1], rest),
        None => ("", after),
    };
    after.strip_prefix("%}")?;
    let consumed = tag.len() - after.len() + 2;
    Some((consumed, open_marker, word, close_marker))
}

/// minijinja set up as transformers sets up jinja2 for chat templates, with
/// this render's `budget` on everything that can grow or walk values.
fn hf_environment<'s>(fixed_now: Option<i64>, budget: &Arc<Budget>) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    let b = budget.clone();
    env.set_unknown_method_callback(move |state, value, method, args| {
        checked::check_method(&b, value, method, args)?;
        minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
    });
    let b = budget.clone();
    env.set_formatter(move |out, _state, value| {
        b.check_time()?;
        let mut text = String::new();
        python::python_str(&mut text, value, room(&b, b.print_room()))
            .map_err(|r| refused(&b, r))?;
        b.print(text.len())?;
        out.write_str(&text).map_err(Error::from)
    });
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", move |format: &str| {
        let now = fixed_now.unwrap_or_else(unix_now);
        DateTime::from_unix(now).strftime(format)
    });
    let b = budget.clone();
    env.add_filter("tojson", move |value: &Value, kwargs: Kwargs| {
        tojson(&b, value, kwargs)
    });
    checked::add_operations(&mut env, budget);
    checked::guard_builtins(&mut env, budget);
    env
}

/// The room printing has: `bytes`, and the budget's nesting limit.
fn room(budget: &Budget, bytes: usize) -> Room {
    Room {
        bytes,
        depth: budget.limits.max_depth,
        items: budget.limits.max_items,
    }
}

/// A value that could not be printed, as the render's error.
fn refused(budget: &Budget, why: Refused) -> Error {
    match why {
        Refused::Error(message) => Error::new(ErrorKind::InvalidOperation, message),
        Refused::TooLong => budget.too_big(budget.limits.max_bytes + 1),
        Refused::TooDeep => budget.too_deep(),
        Refused::TooMany => budget.too_many(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The message a template's `raise_exception` produced is recognised by this kind.
fn raise_exception(message: &str) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message.to_owned()))
}

/// The longest indent `tojson` takes (Python has no limit; a chat template
/// has no use for more).
const MAX_JSON_INDENT: usize = 64;

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, keyword arguments only.
fn tojson(budget: &Budget, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(match v.as_str() {
            Some(s) => s.to_owned(),
            None => {
                let n = i64::try_from(v)?;
                let n = usize::try_from(n).unwrap_or(0);
                if n > MAX_JSON_INDENT {
                    return Err(budget.stop(format!("indents JSON by more than {MAX_JSON_INDENT}")));
                }
                " ".repeat(n)
            }
        }),
    };
    if indent.as_ref().is_some_and(|i| i.len() > MAX_JSON_INDENT) {
        return Err(budget.stop(format!("indents JSON by more than {MAX_JSON_INDENT}")));
    }
    let mut opts = JsonOptions::new(indent);
    if let Some(ensure_ascii) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        opts.ensure_ascii = ensure_ascii;
    }
    if let Some(sort_keys) = kwargs.get::<Option<bool>>("sort_keys")? {
        opts.sort_keys = sort_keys;
    }
    if let Some(separators) = kwargs.get::<Option<Vec<String>>>("separators")? {
        match separators.as_slice() {
            [item, key] => {
                opts.item_separator = item.clone();
                opts.key_separator = key.clone();
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson: separators must be a pair",
                ));
            }
        }
    }
    kwargs.assert_all_used()?;
    budget.check_time()?;
    let bytes = usize::try_from(budget.limits.max_bytes).unwrap_or(usize::MAX);
    let text = python::json_dumps(value, &opts, room(budget, bytes)).map_err(|why| match why {
        Refused::Error(e) => Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")),
        other => refused(budget, other),
    })?;
    budget.fits(text.len() as u64)?;
    Ok(Value::from(text))
}

/// A minijinja error as an [`EngineError::Template`]: the message (for
/// `raise_exception`, the template's own words) and where in the template.
pub(crate) fn template_error(err: Error) -> EngineError {
    let mut message = match (err.kind(), err.detail()) {
        (ErrorKind::InvalidOperation, Some(detail)) => detail.to_owned(),
        _ => err.to_string(),
    };
    if err.kind() == ErrorKind::InvalidOperation
        && let Some(line) = err.line()
    {
        message.push_str(&format!(" (line {line})"));
    }
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        message.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    EngineError::Template(message)
}

#[cfg(test)]
mod tests {
    use hearth_backend::Message;

    use super::*;

    fn render(source: &str, messages: &[Message], add_gen: bool) -> Result<String, EngineError> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(messages, add_gen)
    }

    #[test]
    fn broken_template_in_the_file_falls_back_to_the_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gguf");
        let kv = [
            ("general.architecture", "gemma3"),
            ("tokenizer.chat_template", "{% if messages %}never closed"),
        ];
        std::fs::write(&path, crate::gguf::testing::tiny_gguf(&kv, 8)).unwrap();
        let gguf = GgufFile::open(&path).unwrap();
        let t = ChatTemplate::for_gguf(&gguf, "<bos>", "<eos>").unwrap();
        assert_eq!(t.source(), TemplateSource::Architecture("gemma3".into()));
        assert!(
            t.render(&[Message::user("Hi")], true)
                .unwrap()
                .starts_with("<bos><start_of_turn>user")
        );
    }

    #[test]
    fn gemma_known_template_single_user_turn() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        let out = t.render(&[Message::user("Hi there")], true).unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn gemma_folds_system_into_first_user_turn() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        let out = t
            .render(
                &[
                    Message::system("Be brief."),
                    Message::user(" Q1 "),
                    Message::assistant("A1"),
                    Message::user("Q2"),
                ],
                false,
            )
            .unwrap();
        assert_eq!(
            out,
            "<bos><start_of_turn>user\nBe brief.\n\nQ1<end_of_turn>\n\
             <start_of_turn>model\nA1<end_of_turn>\n<start_of_turn>user\nQ2<end_of_turn>\n"
        );
    }

    #[test]
    fn raise_exception_becomes_template_error() {
        let err = ChatTemplate::new(GEMMA, "<bos>", "<eos>")
            .unwrap()
            .render(&[Message::assistant("x")], true)
            .unwrap_err();
        let EngineError::Template(msg) = err else {
            panic!("wrong error: {err}")
        };
        assert!(
            msg.starts_with("Conversation roles must alternate user/assistant/user/assistant/..."),
            "{msg}"
        );
    }

    #[test]
    fn syntax_error_is_an_error_not_a_panic() {
        let err = ChatTemplate::new("{% for m in messages %}{{ m", "", "").unwrap_err();
        assert!(matches!(err, EngineError::Template(_)), "{err}");
        let err = render(
            "{{ messages[0].content.nope() }}",
            &[Message::user("x")],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, EngineError::Template(_)), "{err}");
    }

    #[test]
    fn chatml_and_known_templates_render() {
        let msgs = [Message::system("S"), Message::user("U")];
        assert_eq!(
            render(CHATML, &msgs, true).unwrap(),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            render(LLAMA3, &msgs, true).unwrap(),
            "<s><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            render(PHI3, &msgs, true).unwrap(),
            "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n"
        );
        assert_eq!(
            render(
                LLAMA2,
                &[
                    Message::system("S"),
                    Message::user("U"),
                    Message::assistant("A")
                ],
                false
            )
            .unwrap(),
            "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>"
        );
    }

    #[test]
    fn generation_tags_keep_their_whitespace_markers() {
        assert_eq!(
            rewrite_generation_tags("a{%- generation %}b{% endgeneration -%}c{% if x %}"),
            "a{%- if true %}b{% endif -%}c{% if x %}"
        );
        assert_eq!(
            rewrite_generation_tags("{% generationx %}{%"),
            "{% generationx %}{%"
        );
        let out = render(
            "{% for m in messages %}\n  {% generation %}\n{{ m.content }}\n  {% endgeneration %}\n{% endfor %}",
            &[Message::assistant("x")],
            false,
        )
        .unwrap();
        assert_eq!(out, "x\n");
    }

    #[test]
    fn known_templates_by_architecture_and_vocabulary() {
        let none = |_: &str| false;
        assert_eq!(known_template("gemma3", none), Some(GEMMA));
        assert_eq!(known_template("phi3", none), Some(PHI3));
        assert_eq!(known_template("qwen3", none), Some(CHATML));
        assert_eq!(known_template("llama", none), Some(LLAMA2));
        assert_eq!(
            known_template("llama", |t| t == "<|start_header_id|>"),
            Some(LLAMA3)
        );
        assert_eq!(
            known_template("llama", |t| t == "<|im_start|>"),
            Some(CHATML)
        );
        assert_eq!(known_template("mamba", none), None);
    }

    /// generate.py renders the known templates from copies it extracts from this
    /// file; the copies must be current for the fixtures to test these constants.
    #[test]
    fn fixture_copies_of_known_templates_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/templates");
        for (name, text) in [
            ("chatml", CHATML),
            ("gemma", GEMMA),
            ("llama3", LLAMA3),
            ("llama2", LLAMA2),
            ("phi3", PHI3),
        ] {
            let copy = std::fs::read_to_string(dir.join(format!("known-{name}.jinja"))).unwrap();
            assert_eq!(
                copy, text,
                "known-{name}.jinja is stale: re-run generate.py"
            );
        }
    }

    #[test]
    fn python_semantics() {
        let msgs = [Message::user("  Hello World  ")];
        let out = render(
            "{{ messages[0].content.strip().upper() }}|{{ add_generation_prompt }}|{{ tools }}|\
             {{ messages[0] | tojson }}|{{ 'a,b'.split(',') }}|{{ undefined_thing }}",
            &msgs,
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"HELLO WORLD|False|None|{"role": "user", "content": "  Hello World  "}|['a', 'b']|"#
        );
    }

    #[test]
    fn strftime_now_uses_the_pinned_clock() {
        let t =
            ChatTemplate::with_fixed_time("{{ strftime_now('%d %b %Y') }}", "", "", 1_721_952_000)
                .unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "26 Jul 2024");
    }

    #[test]
    fn trailing_newline_and_block_whitespace_match_jinja2() {
        let src = "{% for m in messages %}\n  {% if m.role == 'user' %}\n[{{ m.content }}]\n  {% endif %}\n{% endfor %}\n";
        assert_eq!(
            render(src, &[Message::user("a"), Message::user("b")], false).unwrap(),
            "[a]\n[b]\n"
        );
    }
}
