//! What a cloud model's prompt may hold: a table of known context windows
//! (and default answer sizes) per model, and a deliberately generous token
//! estimate for text Hearth cannot tokenize itself.
//!
//! The table is matched by prefix on the model id, the longest prefix
//! winning (`gpt-4o-mini-2024-07-18` is `gpt-4o-mini`, not `gpt-4o`); a
//! model not in it has no known window, and its conversations are sent
//! whole unless the user sets one (`hearth provider window`).
//!
//! Sources: the providers' model pages (platform.openai.com/docs/models,
//! docs.anthropic.com/en/docs/about-claude/models, ai.google.dev/gemini-api/docs/models).

use hearth_backend::ChatRequest;

/// A model's limits, as its provider publishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelWindow {
    /// Prompt and answer together, in tokens.
    pub context: usize,
    /// What an answer gets when the request sets no `max_tokens`: the room
    /// Hearth keeps free for it.
    pub max_output: usize,
}

const fn w(context: usize, max_output: usize) -> ModelWindow {
    ModelWindow {
        context,
        max_output,
    }
}

/// Model-id prefixes and their windows. Order does not matter: the longest
/// matching prefix wins.
const TABLE: &[(&str, ModelWindow)] = &[
    // OpenAI
    ("gpt-3.5-turbo", w(16_385, 4_096)),
    ("gpt-3.5-turbo-instruct", w(4_096, 4_096)),
    ("gpt-4", w(8_192, 4_096)),
    ("gpt-4-32k", w(32_768, 4_096)),
    ("gpt-4-turbo", w(128_000, 4_096)),
    ("gpt-4-1106", w(128_000, 4_096)),
    ("gpt-4-0125", w(128_000, 4_096)),
    ("gpt-4o", w(128_000, 16_384)),
    ("gpt-4o-mini", w(128_000, 16_384)),
    ("chatgpt-4o", w(128_000, 16_384)),
    ("gpt-4.1", w(1_047_576, 32_768)),
    ("gpt-4.5", w(128_000, 16_384)),
    ("gpt-5", w(400_000, 128_000)),
    ("o1", w(200_000, 100_000)),
    ("o1-mini", w(128_000, 65_536)),
    ("o1-preview", w(128_000, 32_768)),
    ("o3", w(200_000, 100_000)),
    ("o3-mini", w(200_000, 100_000)),
    ("o4-mini", w(200_000, 100_000)),
    // Anthropic: every Claude 3, 3.5, 3.7 and 4 model reads 200k tokens.
    ("claude-3-haiku", w(200_000, 4_096)),
    ("claude-3-opus", w(200_000, 4_096)),
    ("claude-3-sonnet", w(200_000, 4_096)),
    ("claude-3-5-haiku", w(200_000, 8_192)),
    ("claude-3-5-sonnet", w(200_000, 8_192)),
    ("claude-3-7-sonnet", w(200_000, 64_000)),
    ("claude-sonnet-4", w(200_000, 64_000)),
    ("claude-opus-4", w(200_000, 32_000)),
    ("claude-haiku-4", w(200_000, 64_000)),
    ("claude-4", w(200_000, 32_000)),
    // Google Gemini (ids may come as `models/gemini-…`: see `known_window`).
    ("gemini-1.5-flash", w(1_048_576, 8_192)),
    ("gemini-1.5-pro", w(2_097_152, 8_192)),
    ("gemini-2.0-flash", w(1_048_576, 8_192)),
    ("gemini-2.0-pro", w(2_097_152, 8_192)),
    ("gemini-2.5-flash", w(1_048_576, 65_536)),
    ("gemini-2.5-pro", w(1_048_576, 65_536)),
];

/// The known window of `model`: the table entry whose prefix is the
/// longest one `model` starts with (case-insensitive; a `models/` prefix,
/// as Gemini lists ids, is ignored). `None`: not a model Hearth knows.
pub fn known_window(model: &str) -> Option<ModelWindow> {
    let id = model.trim().to_ascii_lowercase();
    let id = id.strip_prefix("models/").unwrap_or(&id);
    TABLE
        .iter()
        .filter(|(prefix, _)| id.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, window)| *window)
}

/// Tokens counted for each message's framing (role markers, separators).
pub const MESSAGE_OVERHEAD: usize = 4;

/// A conservative token count for `request`'s prompt: for each message,
/// its UTF-8 bytes divided by 3, rounded up, plus [`MESSAGE_OVERHEAD`];
/// tool definitions and tool-call arguments count the same way.
///
/// This deliberately over-counts: BPE tokenizers (tiktoken's `o200k_base`,
/// Claude's, Gemini's) average about four bytes a token on English and
/// code, so bytes/3 leaves a margin of roughly a quarter, more for prose.
/// An estimate that is too high only drops a turn early; one that is too
/// low gets a request refused.
///
/// Why not `tiktoken-rs` for OpenAI models: it embeds every BPE table it
/// knows (several MB of data, built into every binary that links this
/// crate), covers only OpenAI's own models (no Anthropic or Gemini, and
/// not the models behind compatible servers), and would still be only an
/// estimate of what the server counts once tools and message framing are
/// added. A provider that refuses a prompt anyway is handled: the turn
/// path trims and retries once (`ErrorKind::ContextLength`).
pub fn estimate_tokens(request: &ChatRequest) -> usize {
    let text = |len: usize| len.div_ceil(3);
    let messages: usize = request
        .messages
        .iter()
        .map(|m| {
            let calls: usize = m
                .tool_calls
                .iter()
                .map(|c| text(c.name.len() + c.arguments.len()))
                .sum();
            MESSAGE_OVERHEAD + text(m.content.len()) + calls
        })
        .sum();
    let tools: usize = request
        .offered_tools()
        .iter()
        .map(|t| {
            MESSAGE_OVERHEAD
                + text(t.name.len() + t.description.len() + t.parameters.to_string().len())
        })
        .sum();
    messages + tools
}

#[cfg(test)]
mod tests {
    use hearth_backend::Message;

    use super::*;

    #[test]
    fn the_longest_prefix_wins() {
        assert_eq!(known_window("gpt-4o").map(|w| w.context), Some(128_000));
        assert_eq!(
            known_window("gpt-4o-mini-2024-07-18"),
            Some(w(128_000, 16_384))
        );
        assert_eq!(known_window("gpt-4").map(|w| w.context), Some(8_192));
        assert_eq!(
            known_window("gpt-4-turbo-2024-04-09").map(|w| w.context),
            Some(128_000)
        );
        assert_eq!(
            known_window("gpt-4.1-nano").map(|w| w.context),
            Some(1_047_576)
        );
        assert_eq!(known_window("o1-mini").map(|w| w.context), Some(128_000));
        assert_eq!(known_window("o3-mini").map(|w| w.max_output), Some(100_000));
        assert_eq!(
            known_window("gpt-3.5-turbo-0125").map(|w| w.context),
            Some(16_385)
        );
    }

    #[test]
    fn claude_and_gemini_families() {
        for id in [
            "claude-3-haiku-20240307",
            "claude-3-5-sonnet-latest",
            "claude-3-7-sonnet-20250219",
            "claude-sonnet-4-20250514",
            "claude-opus-4-1",
        ] {
            assert_eq!(known_window(id).map(|w| w.context), Some(200_000), "{id}");
        }
        assert_eq!(
            known_window("gemini-1.5-pro-002").map(|w| w.context),
            Some(2_097_152)
        );
        assert_eq!(
            known_window("models/gemini-2.0-flash-lite").map(|w| w.context),
            Some(1_048_576)
        );
        assert_eq!(
            known_window("Gemini-2.5-Pro").map(|w| w.max_output),
            Some(65_536)
        );
    }

    #[test]
    fn unknown_models_have_no_window() {
        for id in ["llama3.2:1b", "", "gpt", "mistral-large", "o2"] {
            assert_eq!(known_window(id), None, "{id}");
        }
    }

    #[test]
    fn the_estimate_over_counts() {
        let mut request = ChatRequest {
            messages: vec![Message::user("abcd")],
            ..ChatRequest::default()
        };
        // 4 bytes → 2 tokens, plus the message's framing.
        assert_eq!(estimate_tokens(&request), 2 + MESSAGE_OVERHEAD);
        request.messages.push(Message::assistant(""));
        assert_eq!(estimate_tokens(&request), 2 + 2 * MESSAGE_OVERHEAD);
        // English prose: more than tiktoken's ~4 bytes a token would give.
        let prose = "The quick brown fox jumps over the lazy dog. ".repeat(20);
        let request = ChatRequest {
            messages: vec![Message::user(prose.clone())],
            ..ChatRequest::default()
        };
        assert!(estimate_tokens(&request) > prose.len() / 4 + MESSAGE_OVERHEAD);
    }
}
