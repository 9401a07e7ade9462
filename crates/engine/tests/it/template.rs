//! Chat template rendering against Python jinja2 with Hugging Face's settings
//! (fixtures from tests/data/templates/generate.py), and the templates of the two
//! real test models.

use std::path::{Path, PathBuf};

use hearth_backend::{Message, Role};
use hearth_engine::gguf::GgufFile;
use hearth_engine::{ChatTemplate, EngineError, TemplateSource};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/templates")
}

fn role(name: &str) -> Role {
    match name {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => panic!("fixture role {other}"),
    }
}

fn messages(case: &Value) -> Vec<Message> {
    case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            Message::new(
                role(m["role"].as_str().unwrap()),
                m["content"].as_str().unwrap(),
            )
        })
        .collect()
}

fn load_expected() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every template × conversation × add_generation_prompt renders byte for byte as
/// jinja2 renders it, and every jinja2 exception is an error with its message.
#[test]
fn renders_like_jinja2() {
    let expected = load_expected();
    let now = expected["now"].as_i64().unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() > 200, "only {} fixture cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let name = format!(
            "{} / {} / gen={}",
            case["template"].as_str().unwrap(),
            case["conversation"].as_str().unwrap(),
            case["add_generation_prompt"]
        );
        let source =
            std::fs::read_to_string(fixture_dir().join(case["template"].as_str().unwrap()))
                .unwrap();
        let template = ChatTemplate::with_fixed_time(
            &source,
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
            now,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = template.render(
            &messages(case),
            case["add_generation_prompt"].as_bool().unwrap(),
        );
        match (case.get("output"), case.get("error"), got) {
            (Some(want), _, Ok(got)) if want.as_str() == Some(got.as_str()) => {}
            (_, Some(want), Err(EngineError::Template(msg)))
                if msg.contains(want.as_str().unwrap()) => {}
            (Some(want), _, Ok(got)) => failures.push(first_difference(
                &name,
                want.as_str().unwrap_or_default(),
                &got,
            )),
            (want_out, want_err, got) => failures.push(format!(
                "{name}:\n  want {:?}\n  got  {got:?}",
                want_out.or(want_err)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Where two renders part, with a little context either side.
fn first_difference(name: &str, want: &str, got: &str) -> String {
    let at = want
        .char_indices()
        .zip(got.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or(want.len().min(got.len()));
    let from = want[..at]
        .char_indices()
        .rev()
        .nth(30)
        .map_or(0, |(i, _)| i);
    let context = |s: &str| {
        s.get(from..)
            .unwrap_or("")
            .chars()
            .take(80)
            .collect::<String>()
    };
    format!(
        "{name}: differs at byte {at}\n  want {:?}\n  got  {:?}",
        context(want),
        context(got)
    )
}

#[test]
fn smollm2_uses_its_gguf_template() {
    let gguf = GgufFile::open(hearth_testkit::models::smollm2()).unwrap();
    let tokens = gguf.get_str_array("tokenizer.ggml.tokens").unwrap();
    let token = |key: &str| tokens[gguf.get_u64(key).unwrap() as usize];
    let template = ChatTemplate::for_gguf(
        &gguf,
        token("tokenizer.ggml.bos_token_id"),
        token("tokenizer.ggml.eos_token_id"),
    )
    .unwrap();
    assert_eq!(template.source(), TemplateSource::Gguf);
    assert_eq!(
        std::fs::read_to_string(fixture_dir().join("smollm2.jinja")).unwrap(),
        gguf.get_str("tokenizer.chat_template").unwrap(),
        "smollm2.jinja is stale: re-run generate.py"
    );
    let out = template
        .render(
            &[
                Message::system("You are a helpful assistant."),
                Message::user("What is the capital of France?"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
         <|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    let out = template.render(&[Message::user("Hi")], true).unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn gemma3_without_template_uses_the_known_one() {
    let gguf = GgufFile::open(hearth_testkit::models::gemma3()).unwrap();
    assert!(gguf.get("tokenizer.chat_template").is_none());
    let tokens = gguf.get_str_array("tokenizer.ggml.tokens").unwrap();
    let bos = tokens[gguf.get_u64("tokenizer.ggml.bos_token_id").unwrap() as usize];
    let eos = tokens[gguf.get_u64("tokenizer.ggml.eos_token_id").unwrap() as usize];
    assert_eq!((bos, eos), ("<bos>", "<eos>"));
    let template = ChatTemplate::for_gguf(&gguf, bos, eos).unwrap();
    assert_eq!(
        template.source(),
        TemplateSource::Architecture("gemma3".into())
    );
    let out = template
        .render(&[Message::user("What is the capital of France?")], true)
        .unwrap();
    assert_eq!(
        out,
        "<bos><start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"
    );

    // The same template jinja2 rendered for the fixtures (known-gemma.jinja).
    let expected = load_expected();
    let mut checked = 0;
    for case in expected["cases"].as_array().unwrap() {
        if case["template"] != "known-gemma.jinja" {
            continue;
        }
        let got = template.render(
            &messages(case),
            case["add_generation_prompt"].as_bool().unwrap(),
        );
        match (case.get("output"), got) {
            (Some(want), Ok(got)) => assert_eq!(want.as_str().unwrap(), got),
            (None, Err(EngineError::Template(msg))) => {
                assert!(msg.contains(case["error"].as_str().unwrap()), "{msg}")
            }
            (want, got) => panic!("{}: want {want:?}, got {got:?}", case["conversation"]),
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}
