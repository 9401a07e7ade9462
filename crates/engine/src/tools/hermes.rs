//! Hermes / Qwen: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`,
//! one block per call, any number of them (parallel calls). Also the syntax
//! Hearth's fallback prompt asks for.

use hearth_backend::ToolSpec;

use super::{Parsed, Syntax};

pub(super) const OPEN: &str = "<tool_call>";
pub(super) const CLOSE: &str = "</tool_call>";

pub(super) fn parse(text: &str, tools: &[ToolSpec]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        parsed.keep(rest[..at].trim());
        let body = &rest[at + OPEN.len()..];
        // A block cut off by the token limit runs to the end.
        let (inner, after, whole_len) = match body.find(CLOSE) {
            Some(end) => (
                &body[..end],
                &body[end + CLOSE.len()..],
                OPEN.len() + end + CLOSE.len(),
            ),
            None => (body, "", OPEN.len() + body.len()),
        };
        match super::call_from_json(Syntax::Hermes, inner, tools) {
            Ok(call) => parsed.calls.push(call),
            Err(err) => {
                // Keep the whole block, markers too.
                parsed.keep(rest[at..at + whole_len].trim());
                parsed.errors.push(err);
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
    use crate::tools::ToolCallError;
    use crate::tools::tests::tools;

    #[test]
    fn one_call_and_text_around_it() {
        let p = parse(
            "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
            &tools(),
        );
        assert_eq!(p.content, "Let me look.");
        assert_eq!(p.calls.len(), 1);
        assert_eq!(p.calls[0].name, "get_weather");
        assert_eq!(p.calls[0].arguments, r#"{"city":"Paris"}"#);
        assert!(p.calls[0].id.starts_with("call_"));
        assert!(p.errors.is_empty());
    }

    #[test]
    fn parallel_calls() {
        let p = parse(
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>",
            &tools(),
        );
        let names: Vec<_> = p.calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"]);
        assert_ne!(p.calls[0].id, p.calls[1].id);
        assert_eq!(p.content, "");
    }

    #[test]
    fn malformed_json_stays_as_text_with_an_error() {
        let text = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": </tool_call>";
        let p = parse(text, &tools());
        assert!(p.calls.is_empty());
        assert_eq!(p.content, text);
        assert!(matches!(
            p.errors[..],
            [ToolCallError::Malformed {
                syntax: "hermes",
                ..
            }]
        ));
    }

    #[test]
    fn unknown_tool_stays_as_text_and_is_named() {
        let text = "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>";
        let p = parse(text, &tools());
        assert!(p.calls.is_empty());
        assert_eq!(p.content, text);
        assert_eq!(
            p.errors,
            [ToolCallError::UnknownTool {
                name: "rm_rf".into()
            }]
        );
        assert!(p.errors[0].to_string().contains("rm_rf"));
    }

    #[test]
    fn a_call_cut_off_at_the_end_is_read_when_whole() {
        let p = parse(
            "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}",
            &tools(),
        );
        assert_eq!(p.calls.len(), 1);
        let cut = parse("<tool_call>{\"name\": \"get_time\", \"argu", &tools());
        assert!(cut.calls.is_empty());
        assert_eq!(cut.content, "<tool_call>{\"name\": \"get_time\", \"argu");
    }

    #[test]
    fn arguments_as_json_text_are_accepted_and_non_objects_refused() {
        let p = parse(
            r#"<tool_call>{"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}</tool_call>"#,
            &tools(),
        );
        assert_eq!(p.calls[0].arguments, r#"{"city":"Rome"}"#);
        let bad = parse(
            r#"<tool_call>{"name": "get_weather", "arguments": [1]}</tool_call>"#,
            &tools(),
        );
        assert!(matches!(
            bad.errors[..],
            [ToolCallError::BadArguments { .. }]
        ));
    }

    #[test]
    fn plain_text_is_content() {
        let p = parse("Paris is sunny.", &tools());
        assert_eq!((p.content.as_str(), p.calls.len()), ("Paris is sunny.", 0));
    }
}
