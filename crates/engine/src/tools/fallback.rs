//! Tools for templates that do not render them: a system prompt lists the
//! tools and asks for Hermes-style `<tool_call>` blocks; earlier calls become
//! such blocks in the assistant's text and tool results become user turns
//! (templates without tools often know no `tool` role, and some refuse
//! roles out of turn).

use hearth_backend::{Message, Role, ToolSpec};

use super::Syntax;
use super::hermes::{CLOSE, OPEN};
use crate::error::EngineError;
use crate::template::ChatTemplate;

/// Renders `messages` with `tools` described in the system prompt (`tools`
/// empty: history only, natively when the template knows tools).
pub(super) fn render(
    template: &ChatTemplate,
    messages: &[Message],
    tools: &[ToolSpec],
) -> Result<String, EngineError> {
    if tools.is_empty() && Syntax::of_template(template).is_some() {
        return template.render_with_tools(messages, &[], true);
    }
    template.render(&rewrite(messages, tools), true)
}

/// The system prompt that shows `tools`.
fn system_prompt(tools: &[ToolSpec]) -> String {
    let mut out = String::from(
        "You can call functions to help answer. These are the functions, as JSON Schema:\n<tools>\n",
    );
    for tool in tools {
        out.push_str(&tool.to_openai().to_string());
        out.push('\n');
    }
    out.push_str(
        "</tools>\nTo call a function, answer with one block per call, and nothing else:\n",
    );
    out.push_str(OPEN);
    // No copyable placeholder for the name: small models copy it verbatim.
    out.push_str("\n{\"name\": NAME, \"arguments\": ARGUMENTS}\n");
    out.push_str(CLOSE);
    out.push_str("\nwhere NAME is one of the functions' names as a JSON string and ARGUMENTS a JSON object of its parameters.");
    out.push_str("\nThe results come back in <tool_response> blocks. When no function helps, answer directly.");
    out
}

fn rewrite(messages: &[Message], tools: &[ToolSpec]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len() + 1);
    let mut rest = messages;
    if !tools.is_empty() {
        let prompt = system_prompt(tools);
        match messages.first() {
            Some(first) if first.role == Role::System => {
                out.push(Message::system(format!("{}\n\n{prompt}", first.content)));
                rest = &messages[1..];
            }
            _ => out.push(Message::system(prompt)),
        }
    }
    for m in rest {
        let rewritten = match m.role {
            Role::Tool => {
                Message::user(format!("<tool_response>\n{}\n</tool_response>", m.content))
            }
            Role::Assistant if !m.tool_calls.is_empty() => {
                let mut text = m.content.clone();
                for call in &m.tool_calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    let arguments = serde_json::from_str::<serde_json::Value>(&call.arguments)
                        .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
                    let body = serde_json::json!({ "name": call.name, "arguments": arguments });
                    text.push_str(&format!("{OPEN}\n{body}\n{CLOSE}"));
                }
                Message::assistant(text)
            }
            _ => Message::new(m.role, m.content.clone()),
        };
        // Results of parallel calls join into one user turn.
        match out.last_mut() {
            Some(last) if m.role == Role::Tool && last.role == Role::User => {
                last.content.push('\n');
                last.content.push_str(&rewritten.content);
            }
            _ => out.push(rewritten),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tests::tools;
    use hearth_backend::ToolCall;

    #[test]
    fn tools_join_the_system_prompt_and_history_becomes_text() {
        let messages = vec![
            Message::system("Be brief."),
            Message::user("Weather in Paris and the time?"),
            Message::assistant_calls(
                "",
                vec![
                    ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#),
                    ToolCall::new("call_2", "get_time", "{}"),
                ],
            ),
            Message::tool("call_1", "sunny"),
            Message::tool("call_2", "noon"),
        ];
        let out = rewrite(&messages, &tools());
        assert_eq!(out.len(), 4);
        assert!(out[0].content.starts_with("Be brief.\n\n"));
        assert!(out[0].content.contains("\"get_weather\""));
        assert!(
            out[2]
                .content
                .contains(r#"{"arguments":{"city":"Paris"},"name":"get_weather"}"#)
                || out[2].content.contains(r#""name":"get_weather""#)
        );
        assert_eq!(out[2].content.matches(OPEN).count(), 2);
        assert_eq!(out[3].role, Role::User);
        assert!(out[3].content.contains("sunny") && out[3].content.contains("noon"));
    }

    #[test]
    fn without_tools_there_is_no_system_prompt() {
        let out = rewrite(&[Message::user("hi")], &[]);
        assert_eq!(out, [Message::user("hi")]);
    }
}
