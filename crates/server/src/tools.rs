//! Function calling on the wire: OpenAI's `tools`, `tool_choice`,
//! `parallel_tool_calls`, assistant `tool_calls` and role `tool` messages in,
//! `message.tool_calls` (and their streamed deltas) out.
//!
//! Reference: <https://platform.openai.com/docs/api-reference/chat/create>
//! (`tools`, `tool_choice`) and
//! <https://platform.openai.com/docs/api-reference/chat-streaming> (`delta.tool_calls`).

use hearth_backend::{ToolCall, ToolChoice, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;

/// `tools[]`: `{"type": "function", "function": {…}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireTool {
    #[serde(rename = "type")]
    kind: String,
    function: Option<WireFunction>,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
}

/// An assistant message's `tool_calls[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: WireCalled,
}

#[derive(Debug, Deserialize)]
struct WireCalled {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// The tools and the choice of a request (`tools` absent: none, and then a
/// choice that needs them is refused).
pub(crate) fn parse(
    tools: Option<Vec<WireTool>>,
    choice: Option<&Value>,
) -> Result<(Vec<ToolSpec>, ToolChoice), ApiError> {
    let bad = |message: String| ApiError::bad_request(message).with_param("tools");
    let mut specs = Vec::new();
    for tool in tools.unwrap_or_default() {
        let function = match (tool.kind.as_str(), tool.function) {
            ("function", Some(function)) => function,
            (kind, _) => {
                return Err(bad(format!(
                    "tools of type {kind:?} are not supported (function only)"
                )));
            }
        };
        if !valid_name(&function.name) {
            return Err(bad(format!(
                "tool name {:?} must be 1 to 64 letters, digits, '_' or '-'",
                function.name
            )));
        }
        if specs.iter().any(|s: &ToolSpec| s.name == function.name) {
            return Err(bad(format!("tool {:?} is given twice", function.name)));
        }
        let parameters = function
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        if !parameters.is_object() {
            return Err(bad(format!(
                "the parameters of {:?} must be a JSON Schema object",
                function.name
            )));
        }
        specs.push(ToolSpec::new(
            function.name,
            function.description.unwrap_or_default(),
            parameters,
        ));
    }
    let choice_error = |message: String| ApiError::bad_request(message).with_param("tool_choice");
    let choice = match choice {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(choice_error(format!("unknown tool_choice {other:?}"))),
        },
        Some(value) => match value
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) if value.get("type").and_then(Value::as_str) == Some("function") => {
                if !specs.iter().any(|s| s.name == name) {
                    return Err(choice_error(format!(
                        "tool_choice names {name:?}, which is not in tools"
                    )));
                }
                ToolChoice::Function(name.to_owned())
            }
            _ => {
                return Err(choice_error(
                    "tool_choice must be \"auto\", \"none\", \"required\" or \
                     {\"type\": \"function\", \"function\": {\"name\": …}}"
                        .into(),
                ));
            }
        },
    };
    if specs.is_empty() && matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) {
        return Err(choice_error(
            "tool_choice asks for a call, but there are no tools".into(),
        ));
    }
    Ok((specs, choice))
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An assistant message's calls.
pub(crate) fn calls(wire: Vec<WireToolCall>) -> Result<Vec<ToolCall>, ApiError> {
    wire.into_iter()
        .map(|call| {
            if call.kind.as_deref().is_some_and(|k| k != "function") {
                return Err(ApiError::bad_request(
                    "tool_calls of a type other than function are not supported",
                )
                .with_param("messages"));
            }
            Ok(ToolCall::new(
                call.id,
                call.function.name,
                call.function.arguments,
            ))
        })
        .collect()
}

/// `message.tool_calls` of an answer.
pub(crate) fn message_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect(),
    )
}

/// `delta.tool_calls` for a stream: each call whole, with its index.
pub(crate) fn delta_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(index, c)| {
                json!({
                    "index": index,
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(json: &str) -> Option<Vec<WireTool>> {
        serde_json::from_str(json).unwrap()
    }

    const WEATHER: &str = r#"[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]"#;

    #[test]
    fn tools_and_each_choice_parse() {
        let (specs, choice) = parse(tools(WEATHER), None).unwrap();
        assert_eq!(specs[0].name, "get_weather");
        assert_eq!(choice, ToolChoice::Auto);
        for (text, want) in [
            (r#""none""#, ToolChoice::None),
            (r#""required""#, ToolChoice::Required),
            (
                r#"{"type":"function","function":{"name":"get_weather"}}"#,
                ToolChoice::Function("get_weather".into()),
            ),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(tools(WEATHER), Some(&value)).unwrap().1, want);
        }
    }

    #[test]
    fn bad_tools_and_choices_are_refused_with_the_param() {
        let refused = |tools_json: &str, choice: Option<&str>| {
            let choice: Option<Value> = choice.map(|c| serde_json::from_str(c).unwrap());
            parse(tools(tools_json), choice.as_ref()).unwrap_err()
        };
        let err = refused(r#"[{"type":"code_interpreter"}]"#, None);
        assert_eq!(err.status.as_u16(), 400);
        refused(r#"[{"type":"function","function":{"name":"a b"}}]"#, None);
        refused(
            r#"[{"type":"function","function":{"name":"x","parameters":3}}]"#,
            None,
        );
        refused(
            r#"[{"type":"function","function":{"name":"x"}},{"type":"function","function":{"name":"x"}}]"#,
            None,
        );
        refused(WEATHER, Some(r#""sometimes""#));
        refused(
            WEATHER,
            Some(r#"{"type":"function","function":{"name":"other"}}"#),
        );
        refused("null", Some(r#""required""#));
    }

    #[test]
    fn calls_render_as_openai_shapes_them() {
        let calls = [ToolCall::new(
            "call_1",
            "get_weather",
            r#"{"city":"Paris"}"#,
        )];
        assert_eq!(
            message_calls(&calls)[0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert_eq!(delta_calls(&calls)[0]["index"], 0);
        assert_eq!(delta_calls(&calls)[0]["type"], "function");
    }
}
