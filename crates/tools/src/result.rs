//! A tool's answer as text for a model: the MCP content blocks joined, other
//! media named rather than inlined, and the whole capped (saying so).
//!
//! Works on the wire JSON of the result, not on rmcp's types, so a change of
//! rmcp's structs does not reach here.

use serde::Serialize;
use serde_json::Value;

/// What a tool answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolResult {
    /// The answer as text (at most the host's cap, plus the truncation note).
    pub text: String,
    /// The server said the tool failed (the text says why).
    pub is_error: bool,
    /// The answer was longer than the cap and was cut.
    pub truncated: bool,
}

/// Builds the text of a `CallToolResult` (as JSON), at most `cap` bytes
/// before the truncation note.
pub(crate) fn from_wire(result: &Value, cap: usize) -> ToolResult {
    let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    let mut text = String::new();
    let blocks = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for block in blocks {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&block_text(block));
        // Stop joining early: a server may send far more than the cap.
        if text.len() > cap.saturating_mul(2).max(cap + 1) {
            break;
        }
    }
    if blocks.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        text = structured.to_string();
    }
    cap_text(text, cap, is_error)
}

fn block_text(block: &Value) -> String {
    let str_of = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
    match str_of("type") {
        "text" => str_of("text").to_owned(),
        "image" | "audio" => format!(
            "[{} ({}), not shown]",
            str_of("type"),
            block
                .get("mimeType")
                .and_then(Value::as_str)
                .unwrap_or("unknown type")
        ),
        "resource" => {
            let resource = block.get("resource").unwrap_or(&Value::Null);
            match resource.get("text").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => format!(
                    "[resource {}, not shown]",
                    resource.get("uri").and_then(Value::as_str).unwrap_or("")
                ),
            }
        }
        "resource_link" => format!("[resource link {}]", str_of("uri")),
        other => format!("[content of type {other:?}, not shown]"),
    }
}

fn cap_text(mut text: String, cap: usize, is_error: bool) -> ToolResult {
    if text.len() <= cap {
        return ToolResult {
            text,
            is_error,
            truncated: false,
        };
    }
    let total = text.len();
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!(
        "\n[truncated by Hearth: the result was at least {total} bytes; only the first {cut} are shown]"
    ));
    ToolResult {
        text,
        is_error,
        truncated: true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_blocks_are_joined_and_media_named() {
        let result = json!({"content": [
            {"type": "text", "text": "one"},
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "inside"}},
            {"type": "text", "text": "two"}
        ]});
        let out = from_wire(&result, 1000);
        assert_eq!(out.text, "one\n[image (image/png), not shown]\ninside\ntwo");
        assert!(!out.is_error && !out.truncated);
    }

    #[test]
    fn errors_are_flagged_and_structured_content_used_when_no_blocks() {
        let out = from_wire(
            &json!({"isError": true, "content": [{"type": "text", "text": "no"}]}),
            10,
        );
        assert!(out.is_error);
        let out = from_wire(&json!({"structuredContent": {"a": 1}}), 100);
        assert_eq!(out.text, r#"{"a":1}"#);
    }

    #[test]
    fn long_results_are_cut_on_a_char_boundary_and_say_so() {
        let long = "é".repeat(100); // 200 bytes
        let out = from_wire(&json!({"content": [{"type": "text", "text": long}]}), 51);
        assert!(out.truncated);
        let (kept, note) = out.text.split_once('\n').unwrap();
        assert_eq!(kept, "é".repeat(25));
        assert!(note.contains("truncated by Hearth"), "{note}");
        assert!(note.contains("200 bytes"), "{note}");
    }
}
