use hearth_backend::{Message, ToolChoice, ToolSpec};
use serde_json::json;

use super::*;

pub(crate) fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec::new(
            "get_weather",
            "The weather in a city",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ),
        ToolSpec::new(
            "get_time",
            "The time now",
            json!({"type": "object", "properties": {}}),
        ),
    ]
}

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A Qwen-like template that renders `tools` and `tool_calls`.
const QWENISH: &str = "{% if tools %}<|im_start|>system\n<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools> Call with <tool_call>.<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{% if m.tool_calls is defined %}{% for c in m.tool_calls %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn template(source: &str) -> ChatTemplate {
    ChatTemplate::new(source, "<s>", "</s>").unwrap()
}

#[test]
fn syntax_is_read_from_the_template() {
    assert_eq!(
        Syntax::of_template(&template(QWENISH)),
        Some(Syntax::Hermes)
    );
    assert_eq!(Syntax::of_template(&template(CHATML)), None);
    assert_eq!(
        Syntax::of_template(&template("{{ '[TOOL_CALLS]' }}{{ tools }}")),
        Some(Syntax::Mistral)
    );
    assert_eq!(
        Syntax::of_template(&template("{{ '<|python_tag|>' }}")),
        Some(Syntax::Llama3)
    );
    assert_eq!(
        Syntax::of_template(&template("{{ '<|tool|>' }}")),
        Some(Syntax::Phi4)
    );
}

#[test]
fn native_templates_get_the_tools_variable() {
    let msgs = [Message::user("Weather?")];
    let p = ToolPlan::prompt(&template(QWENISH), &msgs, &tools(), &ToolChoice::Auto).unwrap();
    assert_eq!(p.plan.syntax, Syntax::Hermes);
    assert!(p.text.contains(r#""type": "function""#), "{}", p.text);
    assert!(p.text.contains("get_weather"));
    assert!(!p.text.contains("You can call functions"));
    assert_eq!((p.marker, p.opening.as_str()), ("", ""));
}

#[test]
fn templates_without_tools_get_the_fallback_prompt() {
    let msgs = [Message::user("Weather?")];
    let p = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &ToolChoice::Auto).unwrap();
    assert!(
        p.text
            .starts_with("<|im_start|>system\nYou can call functions")
    );
    assert!(p.text.contains("get_time"));
}

#[test]
fn choice_none_shows_no_tools_and_reads_no_calls() {
    let msgs = [Message::user("Weather?")];
    let p = ToolPlan::prompt(&template(QWENISH), &msgs, &tools(), &ToolChoice::None).unwrap();
    assert!(!p.text.contains("get_weather"));
    let read = p
        .plan
        .read("<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>")
        .unwrap();
    assert!(read.calls.is_empty());
}

#[test]
fn forced_calls_open_the_call_for_json_mode() {
    let msgs = [Message::user("Weather?")];
    let named = ToolChoice::Function("get_weather".into());
    let p = ToolPlan::prompt(&template(QWENISH), &msgs, &tools(), &named).unwrap();
    assert_eq!(p.marker, "<tool_call>");
    assert_eq!(p.opening, "\n{\"name\": \"get_weather\", \"arguments\": ");
    assert!(p.plan.is_forced());
    let read = p.plan.read(r#" {"city": "Paris"}"#).unwrap();
    assert_eq!(read.calls[0].name, "get_weather");
    assert_eq!(read.calls[0].arguments, r#"{"city":"Paris"}"#);
    assert!(p.plan.read("[1]").is_err());

    let any = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &ToolChoice::Required).unwrap();
    assert_eq!((any.marker, any.opening.as_str()), ("<tool_call>", "\n"));
    let read = any
        .plan
        .read(r#"{"name": "get_time", "arguments": {}}"#)
        .unwrap();
    assert_eq!(read.calls[0].name, "get_time");
    let err = any
        .plan
        .read(r#"{"name": "nope", "arguments": {}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("nope"));
}

#[test]
fn required_with_several_tools_asks_for_a_name_first() {
    let msgs = [Message::user("x")];
    let p = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &ToolChoice::Required).unwrap();
    let probe = p.name_probe().unwrap();
    assert_eq!(probe.opening, "\n{\"name\": \"");
    assert_eq!(p.plan.closest_tool("get_time"), "get_time");
    assert_eq!(p.plan.closest_tool("get_ti"), "get_time");
    assert_eq!(p.plan.closest_tool("Paris"), "get_weather");
    let named = ToolChoice::Function("get_time".into());
    let p = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &named).unwrap();
    assert!(p.name_probe().is_none());
}

#[test]
fn forcing_needs_tools_and_a_known_name() {
    let msgs = [Message::user("x")];
    let t = template(CHATML);
    assert!(ToolPlan::prompt(&t, &msgs, &[], &ToolChoice::Required).is_err());
    let unknown = ToolChoice::Function("nope".into());
    let err = ToolPlan::prompt(&t, &msgs, &tools(), &unknown)
        .err()
        .unwrap();
    assert!(err.to_string().contains("nope"));
}

#[test]
fn the_gate_streams_text_until_a_call_starts() {
    let msgs = [Message::user("x")];
    let plan = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &ToolChoice::Auto)
        .unwrap()
        .plan;
    let mut gate = plan.gate();
    let mut shown = String::new();
    for piece in [
        "Let me ",
        "check.<tool",
        "_call>{\"name\"",
        ": 1}</tool_call>",
    ] {
        shown.push_str(&gate.push(piece));
    }
    assert_eq!(shown, "Let me check.");
    // A partial marker that turns out to be text is shown.
    let mut gate = plan.gate();
    let shown: String = ["a <to", "ol> b"].iter().map(|p| gate.push(p)).collect();
    assert_eq!(shown, "a <tool> b");
}

#[test]
fn the_llama_gate_holds_an_answer_that_starts_as_json() {
    let plan = ToolPlan {
        syntax: Syntax::Llama3,
        tools: tools(),
        forced: None,
    };
    let mut gate = plan.gate();
    let shown: String = [" ", "{\"name\"", "}"]
        .iter()
        .map(|p| gate.push(p))
        .collect();
    assert_eq!(shown, "");
    let mut gate = plan.gate();
    let shown: String = [" ", "Hi", "!"].iter().map(|p| gate.push(p)).collect();
    assert_eq!(shown, " Hi!");
}

#[test]
fn forced_answers_stream_nothing() {
    let msgs = [Message::user("x")];
    let plan = ToolPlan::prompt(&template(CHATML), &msgs, &tools(), &ToolChoice::Required)
        .unwrap()
        .plan;
    let mut gate = plan.gate();
    assert_eq!(gate.push("{\"name\""), "");
}

#[test]
fn calls_are_held_to_the_tools_schemas_in_every_syntax_issue_22() {
    let plan = |syntax, forced| ToolPlan {
        syntax,
        tools: tools(),
        forced,
    };
    let named = plan(Syntax::Hermes, Some(Forced::Function("get_weather".into())));
    let Constraint::Json(mut json) = named.constraint() else {
        panic!("a forced call is JSON mode");
    };
    assert!(!json.takes(br#"{"town""#));
    assert!(json.start_with(br#"{"city": "Paris"}"#) && json.complete());
    let Constraint::Json(json) = plan(Syntax::Hermes, Some(Forced::Any)).constraint() else {
        panic!("a forced call is JSON mode");
    };
    assert!(json.takes(br#"{"name": "get_time", "arguments": {}}"#));
    assert!(!json.takes(br#"{"name": "get_tim""#));
    assert!(matches!(
        ToolPlan {
            tools: Vec::new(),
            ..plan(Syntax::Hermes, None)
        }
        .constraint(),
        Constraint::Free
    ));

    // Auto: free until the marker, then the call under its tool's schema.
    for (syntax, prefix, ok, bad) in [
        (
            Syntax::Hermes,
            "I will check.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"",
            "city\": \"Paris\"}}",
            "town",
        ),
        (
            Syntax::Llama3,
            " {\"name\": \"get_time\", \"",
            "parameters\": {}}",
            "arguments",
        ),
        (
            Syntax::Mistral,
            "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {",
            "}}]",
            "\"x",
        ),
        (
            Syntax::Phi4,
            "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {",
            "\"city\": \"x\"}}]",
            "}",
        ),
    ] {
        let Constraint::Lazy(mut lazy) = plan(syntax, None).constraint() else {
            panic!("{syntax:?}: auto is lazy");
        };
        lazy.accept(prefix.as_bytes());
        assert!(lazy.is_active(), "{syntax:?}");
        assert!(!lazy.takes(bad.as_bytes()), "{syntax:?}");
        assert!(lazy.takes(ok.as_bytes()), "{syntax:?}");
        lazy.accept(ok.as_bytes());
        assert!(!lazy.is_active(), "{syntax:?}: free again after the call");
    }
}
