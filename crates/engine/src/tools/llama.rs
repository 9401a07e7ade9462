//! Llama 3.x: a call is the whole answer, a JSON object
//! `{"name": …, "parameters": {…}}` (several separated by `;` in 3.2's
//! custom-tool format), optionally after `<|python_tag|>` (3.1). The built-in
//! tools' Python call syntax (`brave_search.call(…)`) is not read: it stays
//! text, with an error.

use hearth_backend::ToolSpec;

use super::{Parsed, Syntax, ToolCallError, json_values};

pub(super) const PYTHON_TAG: &str = "<|python_tag|>";

pub(super) fn parse(text: &str, tools: &[ToolSpec]) -> Parsed {
    let trimmed = text.trim_start();
    let (tagged, body) = match trimmed.strip_prefix(PYTHON_TAG) {
        Some(body) => (true, body),
        None => (false, trimmed),
    };
    let (values, rest) = json_values(body);
    let mut parsed = Parsed::default();
    // Only an answer that is calls and nothing else is a call (a JSON
    // example inside prose is prose).
    let named = |raw: &&str| {
        serde_json::from_str::<serde_json::Value>(raw)
            .ok()
            .is_some_and(|v| v.get("name").is_some())
    };
    if values.is_empty() || !rest.trim().is_empty() || !values.iter().all(named) {
        if tagged {
            parsed.errors.push(ToolCallError::Malformed {
                syntax: "llama3",
                reason: "what follows <|python_tag|> is not JSON calls".into(),
            });
        }
        return Parsed {
            content: text.trim().to_owned(),
            ..parsed
        };
    }
    for raw in values {
        parsed.push_call(Syntax::Llama3, raw, tools);
    }
    parsed.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::tools;

    #[test]
    fn a_json_call_with_parameters() {
        let p = parse(
            r#"{"name": "get_weather", "parameters": {"city": "Paris"}}"#,
            &tools(),
        );
        assert_eq!(p.calls.len(), 1);
        assert_eq!(p.calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(p.content, "");
    }

    #[test]
    fn python_tag_and_several_calls() {
        let p = parse(
            r#"<|python_tag|>{"name": "get_time", "parameters": {}}; {"name": "get_weather", "parameters": {"city": "Oslo"}}"#,
            &tools(),
        );
        let names: Vec<_> = p.calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["get_time", "get_weather"]);
    }

    #[test]
    fn json_that_is_not_a_call_and_prose_are_content() {
        for text in [
            r#"{"city": "Paris"}"#,
            "It is sunny.",
            r#"{"name": "get_time"} and more"#,
        ] {
            let p = parse(text, &tools());
            assert!(p.calls.is_empty(), "{text}");
            assert!(p.errors.is_empty(), "{text}");
            assert_eq!(p.content, text);
        }
    }

    #[test]
    fn malformed_after_the_python_tag_is_an_error_and_kept() {
        let text = r#"<|python_tag|>brave_search.call(query="x")"#;
        let p = parse(text, &tools());
        assert!(p.calls.is_empty());
        assert_eq!(p.content, text);
        assert_eq!(p.errors.len(), 1);
        let broken = r#"<|python_tag|>{"name": "get_time", "parameters": {"#;
        let p = parse(broken, &tools());
        assert_eq!((p.content.as_str(), p.errors.len()), (broken, 1));
    }

    #[test]
    fn unknown_tool_is_kept() {
        let text = r#"{"name": "launch", "parameters": {}}"#;
        let p = parse(text, &tools());
        assert!(p.calls.is_empty());
        assert_eq!(p.content, text);
        assert!(p.errors[0].to_string().contains("launch"));
    }
}
