//! Phi-4-mini: `<|tool_call|>[{"name": …, "arguments": {…}}, …]<|/tool_call|>`
//! (a single object instead of the list is read too).

use hearth_backend::ToolSpec;

use super::{Parsed, Syntax, ToolCallError, json_values};

pub(super) const OPEN: &str = "<|tool_call|>";
pub(super) const CLOSE: &str = "<|/tool_call|>";

pub(super) fn parse(text: &str, tools: &[ToolSpec]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        parsed.keep(rest[..at].trim());
        let body = &rest[at + OPEN.len()..];
        let (inner, after) = match body.find(CLOSE) {
            Some(end) => (&body[..end], &body[end + CLOSE.len()..]),
            None => (body, ""),
        };
        let whole = &rest[at..rest.len() - after.len()];
        let trimmed = inner.trim();
        let list = trimmed
            .strip_prefix('[')
            .and_then(|l| l.trim_end().strip_suffix(']'))
            .unwrap_or(trimmed);
        let (values, left) = json_values(list);
        if values.is_empty() || !left.trim().is_empty() {
            parsed.keep(whole.trim());
            parsed.errors.push(ToolCallError::Malformed {
                syntax: "phi4",
                reason: "the call block is not a JSON list of calls".into(),
            });
        } else {
            for raw in values {
                parsed.push_call(Syntax::Phi4, raw, tools);
            }
        }
        rest = after;
    }
    parsed.keep(rest.trim());
    parsed.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::tools;

    #[test]
    fn a_list_in_one_block() {
        let p = parse(
            r#"<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time", "arguments": {}}]<|/tool_call|>"#,
            &tools(),
        );
        assert_eq!(p.calls.len(), 2);
        assert_eq!(p.content, "");
    }

    #[test]
    fn a_single_object_and_text_before() {
        let p = parse(
            r#"Checking. <|tool_call|>{"name": "get_time", "arguments": {}}<|/tool_call|>"#,
            &tools(),
        );
        assert_eq!(p.calls.len(), 1);
        assert_eq!(p.content, "Checking.");
    }

    #[test]
    fn malformed_and_unknown_are_kept() {
        let broken = r#"<|tool_call|>[{"name": "get_time", "arguments": {]<|/tool_call|>"#;
        let p = parse(broken, &tools());
        assert!(p.calls.is_empty());
        assert_eq!(p.content, broken);
        assert_eq!(p.errors.len(), 1);
        let unknown = parse(
            r#"<|tool_call|>[{"name": "shutdown", "arguments": {}}]<|/tool_call|>"#,
            &tools(),
        );
        assert!(unknown.calls.is_empty());
        assert!(unknown.content.contains("shutdown"));
        assert_eq!(
            unknown.errors,
            [ToolCallError::UnknownTool {
                name: "shutdown".into()
            }]
        );
    }
}
