//! Issue 19: chat templates written to take the machine down. Each must stop
//! with `TemplateTooExpensive` (never hang, abort or eat the memory), while
//! real templates with long conversations still render. How long each bomb
//! takes to stop is printed (`--nocapture`), not asserted: timings are not
//! tests.

use std::path::Path;
use std::time::Instant;

use hearth_backend::Message;
use hearth_engine::{ChatTemplate, EngineError};

/// (name, template): each one is stopped.
const BOMBS: &[(&str, &str)] = &[
    (
        "issue 19: a string doubled in two nested range(100000) loops",
        "{% set ns = namespace(s='x') %}{% for i in range(100000) %}{% for j in range(100000) %}\
         {% set ns.s = ns.s + ns.s %}{% endfor %}{% endfor %}{{ ns.s }}",
    ),
    (
        "doubling with ~",
        "{% set ns = namespace(s='x') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ ns.s %}\
         {% endfor %}{{ ns.s|length }}",
    ),
    (
        "no loop: a 100 MB repeat doubled",
        "{% set a = 'x' * 100000000 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c|length }}",
    ),
    (
        "constants the compiler would fold: 100 MB repeats concatenated",
        "{{ ('x' * 100000000 ~ 'x' * 100000000) ~ ('x' * 100000000 ~ 'x' * 100000000) }}",
    ),
    (
        "doubling through macro recursion",
        "{% macro f(s, n) %}{% if n > 0 %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}\
         {% endmacro %}{{ f('x', 60) }}",
    ),
    (
        "doubling through captured output",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set t %}{{ ns.s }}{{ ns.s }}\
         {% endset %}{% set ns.s = t %}{% endfor %}{{ ns.s|length }}",
    ),
    (
        "a list whose halves are shared, compared",
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}\
         {% endfor %}{{ ns.l == ns.l }}",
    ),
    (
        "shared namespaces, printed",
        "{% set ns = namespace(cur=1) %}{% for i in range(64) %}{% set n = namespace() %}\
         {% set n.a = ns.cur %}{% set n.b = ns.cur %}{% set ns.cur = n %}{% endfor %}{{ ns.cur }}",
    ),
    (
        "shared namespaces, compared",
        "{% set ns = namespace(cur=1) %}{% for i in range(64) %}{% set n = namespace() %}\
         {% set n.a = ns.cur %}{% set n.b = ns.cur %}{% set ns.cur = n %}{% endfor %}\
         {{ ns.cur == 1 }}",
    ),
    (
        "lists nested 100000 deep",
        "{% set ns = namespace(l=1) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}\
         {% endfor %}{{ ns.l }}",
    ),
    (
        "nesting through batch",
        "{% set ns = namespace(l=[1]) %}{% for i in range(100000) %}\
         {% set ns.l = ns.l|batch(1) %}{% endfor %}{{ ns.l|length }}",
    ),
    (
        "a namespace that holds itself, printed",
        "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
    ),
    (
        "ten billion empty iterations",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    ),
    (
        "endless recursion",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    ),
    ("a format width", "{{ '%0999999999999d'|format(1) }}"),
    ("a str.format width", "{{ '{:>999999999999}'.format('x') }}"),
    ("an indent width", "{{ 'a\nb'|indent(999999999999) }}"),
    (
        "a tojson indent",
        "{{ messages|tojson(indent=999999999999) }}",
    ),
    (
        "replace amplifying in a loop",
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(100) %}\
         {% set ns.s = ns.s|replace('x', 'xx') %}{% endfor %}{{ ns.s|length }}",
    ),
    (
        "join of a repeated list",
        "{{ (['x' * 1000000] * 1000)|join }}",
    ),
    (
        "a 100 MB string copied in a loop",
        "{% set s = 'x' * 10000000 %}{% for i in range(100000) %}{% set t = s|upper %}\
         {% endfor %}",
    ),
    (
        "a 10 MB string indexed from the end in a loop",
        "{% set s = 'x' * 10000000 %}{% for i in range(100000) %}{% set t = s[-1] %}\
         {% endfor %}",
    ),
    (
        "printing in a loop",
        "{% set s = 'x' * 1000 %}{% for i in range(100000) %}{% for j in range(100000) %}{{ s }}\
         {% endfor %}{% endfor %}",
    ),
];

fn conversation(turns: usize) -> Vec<Message> {
    let mut messages = vec![Message::system("You are a helpful assistant.")];
    for i in 0..turns {
        messages.push(Message::user(format!(
            "Question {i}: what is the capital of a country whose name is {}?",
            "long ".repeat(20)
        )));
        messages.push(Message::assistant(format!(
            "Answer {i}: {}",
            "It is a fine city. ".repeat(10)
        )));
    }
    messages.push(Message::user("And the last one?"));
    messages
}

#[test]
fn template_bombs_are_stopped() {
    let messages = conversation(2);
    let mut failures = Vec::new();
    for (name, source) in BOMBS {
        let started = Instant::now();
        let outcome =
            ChatTemplate::new(source, "<s>", "</s>").and_then(|t| t.render(&messages, true));
        let took = started.elapsed();
        println!("{:>8.1} ms  {name}", took.as_secs_f64() * 1000.0);
        match outcome {
            Err(EngineError::TemplateTooExpensive(why)) => {
                println!("            ({why})");
            }
            other => failures.push(format!("{name}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "not stopped:\n{}", failures.join("\n"));
}

#[test]
fn the_error_says_the_template_is_too_expensive() {
    let err = ChatTemplate::new(BOMBS[0].1, "", "")
        .unwrap()
        .render(&[Message::user("hi")], true)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("this model's chat template is too expensive"),
        "{text}"
    );
}

/// The real templates of the fixtures, with 500 turns each: well inside the
/// limits.
#[test]
fn real_templates_render_long_conversations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/templates");
    let messages = conversation(500);
    let mut rendered = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "jinja") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let template = ChatTemplate::new(&source, "<s>", "</s>").unwrap();
        let started = Instant::now();
        match template.render(&messages, true) {
            Ok(text) => {
                assert!(text.contains("And the last one?"), "{}", path.display());
                rendered += 1;
            }
            // Some templates refuse system messages or need alternation;
            // what matters is that no limit was hit.
            Err(EngineError::Template(_)) => {}
            Err(e) => panic!("{}: {e}", path.display()),
        }
        println!(
            "{:>8.1} ms  {}",
            started.elapsed().as_secs_f64() * 1000.0,
            path.display()
        );
    }
    assert!(rendered >= 8, "only {rendered} templates rendered");
}
