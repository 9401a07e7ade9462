//! `enable_thinking`: the switch Qwen3-style templates read (issue 22, item 6).

use hearth_backend::Message;

use super::*;

/// Written for this test in the shape of Qwen3's template: ChatML turns,
/// earlier answers' reasoning dropped, and with thinking off an empty
/// `<think>` block opening the answer.
const QWEN3_STYLE: &str = r#"{%- for m in messages -%}
{%- if m.role == "assistant" and "</think>" in m.content -%}
{%- set content = m.content.split("</think>")[-1].lstrip("\n") -%}
{%- else -%}
{%- set content = m.content -%}
{%- endif -%}
{{ "<|im_start|>" + m.role + "\n" + content + "<|im_end|>\n" }}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{ "<|im_start|>assistant\n" }}
{%- if enable_thinking is defined and enable_thinking is false -%}
{{ "<think>\n\n</think>\n\n" }}
{%- endif -%}
{%- endif -%}"#;

#[test]
fn enable_thinking_reaches_templates_that_read_it() {
    let template = ChatTemplate::new(QWEN3_STYLE, "", "<|im_end|>").unwrap();
    assert!(template.supports_thinking());
    let messages = [Message::user("Hi")];
    let default = template.render(&messages, true).unwrap();
    assert_eq!(
        default,
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let on = template.with_thinking(Some(true));
    assert_eq!(on.render(&messages, true).unwrap(), default);
    let off = template.with_thinking(Some(false));
    assert_eq!(
        off.render(&messages, true).unwrap(),
        format!("{default}<think>\n\n</think>\n\n")
    );
    // With tools too (the path chats with tools take).
    assert!(
        off.render_with_tools(&messages, &[], true)
            .unwrap()
            .ends_with("<think>\n\n</think>\n\n")
    );
    // The switch is per render: the model's own template is unchanged.
    assert_eq!(template.render(&messages, true).unwrap(), default);
}

#[test]
fn templates_without_the_switch_say_so_and_ignore_it() {
    let chatml = ChatTemplate::new(CHATML, "", "<|im_end|>").unwrap();
    assert!(!chatml.supports_thinking());
    let messages = [Message::user("Hi")];
    assert_eq!(
        chatml
            .with_thinking(Some(false))
            .render(&messages, true)
            .unwrap(),
        chatml.render(&messages, true).unwrap()
    );
    assert!(supports_thinking("{% if enable_thinking %}"));
    assert!(!supports_thinking("{{ messages }}"));
}
