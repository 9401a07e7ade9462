//! Mistral: `[TOOL_CALLS]` then a JSON array of calls
//! `[{"name": …, "arguments": {…}, "id"?: …}, …]` (v3 tokenizers), or one
//! `name[ARGS]{…}` per call (v11 and later).

use hearth_backend::ToolSpec;

use super::{Parsed, Syntax, ToolCallError, json_values};

pub(super) const MARKER: &str = "[TOOL_CALLS]";
pub(super) const ARGS: &str = "[ARGS]";

pub(super) fn parse(text: &str, tools: &[ToolSpec]) -> Parsed {
    let Some(at) = text.find(MARKER) else {
        return Parsed::text(text.trim());
    };
    let mut parsed = Parsed::default();
    parsed.keep(text[..at].trim());
    let mut rest = &text[at + MARKER.len()..];
    let mut failed = false;
    while !rest.trim().is_empty() {
        let body = rest.trim_start();
        if let Some(list) = body.strip_prefix('[') {
            // `[{…}, {…}]`
            let (values, after) = json_values(list);
            let Some(after) = after.trim_start().strip_prefix(']') else {
                failed = true;
                break;
            };
            if values.is_empty() {
                failed = true;
                break;
            }
            for raw in values {
                parsed.push_call(Syntax::Mistral, raw, tools);
            }
            rest = after.trim_start().strip_prefix(MARKER).unwrap_or(after);
        } else if let Some(args_at) = body.find(ARGS) {
            // `name[ARGS]{…}`
            let name = body[..args_at].trim();
            let (values, after) = json_values(&body[args_at + ARGS.len()..]);
            let Some(raw) = values.first() else {
                failed = true;
                break;
            };
            let arguments = serde_json::from_str(raw).unwrap_or(serde_json::Value::Null);
            match super::checked_call(super::call_id(), name, arguments, tools) {
                Ok(call) => parsed.calls.push(call),
                Err(err) => {
                    parsed.keep(&body[..args_at + ARGS.len() + raw.len()]);
                    parsed.errors.push(err);
                }
            }
            rest = after.trim_start().strip_prefix(MARKER).unwrap_or(after);
        } else {
            failed = true;
            break;
        }
    }
    if failed {
        // Nothing read from a broken list counts: all of it stays text.
        parsed.calls.clear();
        parsed.errors.clear();
        parsed.content = text.trim().to_owned();
        parsed.errors.push(ToolCallError::Malformed {
            syntax: "mistral",
            reason: format!("{} is not followed by a list of calls", MARKER),
        });
        return parsed;
    }
    parsed.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::tools;

    #[test]
    fn a_list_of_calls_with_ids() {
        let p = parse(
            r#"[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123xyz"}, {"name": "get_time", "arguments": {}}]"#,
            &tools(),
        );
        assert_eq!(p.calls.len(), 2);
        assert_eq!(p.calls[0].id, "abc123xyz");
        assert_eq!(p.calls[1].name, "get_time");
        assert_eq!(p.content, "");
    }

    #[test]
    fn the_v11_name_args_form() {
        let p = parse(
            r#"[TOOL_CALLS]get_weather[ARGS]{"city": "Lyon"}[TOOL_CALLS]get_time[ARGS]{}"#,
            &tools(),
        );
        let names: Vec<_> = p.calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"]);
        assert_eq!(p.calls[0].arguments, r#"{"city":"Lyon"}"#);
    }

    #[test]
    fn malformed_lists_stay_text() {
        for text in [
            r#"[TOOL_CALLS][{"name": "get_time", "arguments": {}"#,
            r#"[TOOL_CALLS] sorry"#,
        ] {
            let p = parse(text, &tools());
            assert!(p.calls.is_empty(), "{text}");
            assert_eq!(p.content, text);
            assert!(matches!(p.errors[..], [ToolCallError::Malformed { .. }]));
        }
    }

    #[test]
    fn unknown_tools_are_named_and_known_ones_kept() {
        let p = parse(
            r#"[TOOL_CALLS][{"name": "nope", "arguments": {}}, {"name": "get_time", "arguments": {}}]"#,
            &tools(),
        );
        assert_eq!(p.calls.len(), 1);
        assert!(p.content.contains("nope"));
        assert_eq!(
            p.errors,
            [ToolCallError::UnknownTool {
                name: "nope".into()
            }]
        );
    }

    #[test]
    fn text_without_the_marker_is_content() {
        assert_eq!(parse(" Hello ", &tools()).content, "Hello");
    }
}
