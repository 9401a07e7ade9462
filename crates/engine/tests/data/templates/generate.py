#!/usr/bin/env python3
"""Writes expected.json: chat templates rendered by Python jinja2 the way Hugging
Face transformers renders them (its `_compile_jinja_template` environment).

Not run in CI. Re-run after changing a template or a conversation:

    pip install jinja2 gguf
    python3 crates/engine/tests/data/templates/generate.py

Inputs:
- the *.jinja files in this directory (model templates written from each
  family's published chat template, plus pyisms.jinja and
  chatml-generation.jinja, which exercise jinja2/Python details);
- smollm2.jinja, read from the SmolLM2 test GGUF when it is present;
- known-*.jinja, extracted from the `const ...: &str = r#"..."#` templates in
  crates/engine/src/template.rs, so the known templates are checked too.
"""

import datetime
import json
import os
import re
import sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = Path(__file__).resolve().parent
ENGINE_SRC = HERE.parents[2] / "src" / "template.rs"
MODELS = Path(os.environ.get("HEARTH_TEST_MODELS_DIR", Path.home() / ".cache/hearth/test-models"))

# strftime_now is pinned to this instant (UTC) in both renderers.
NOW = 1741183629  # 2025-03-05 14:07:09 UTC

# (bos_token, eos_token) per template file stem.
SPECIAL_TOKENS = {
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "qwen2.5": ("", "<|im_end|>"),
    "qwen3": ("", "<|im_end|>"),
    "llama3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "mistral-v0.3": ("<s>", "</s>"),
    "phi3": ("<s>", "<|endoftext|>"),
    "zephyr": ("<s>", "</s>"),
    "pyisms": ("<BOS>", "<EOS>"),
    "chatml-generation": ("", "<|im_end|>"),
    "known-chatml": ("", ""),
    "known-gemma": ("<bos>", "<eos>"),
    "known-llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "known-llama2": ("<s>", "</s>"),
    "known-phi3": ("<s>", "<|endoftext|>"),
}

CONVERSATIONS = {
    "single_user": [("user", "Hello!")],
    "system_user": [
        ("system", "You are a helpful assistant."),
        ("user", "What is the capital of France?"),
    ],
    "multi_turn": [
        ("system", "Answer briefly."),
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("user", "Tell me a joke."),
    ],
    "multi_turn_no_system": [
        ("user", "One"),
        ("assistant", "Two"),
        ("user", "Three"),
    ],
    "unicode": [
        ("user", "Ça va? 日本語 😀👩‍👩‍👧 — ünïcödé \"quotes\" 'single' \\ backslash </s> <|im_end|> nbsp\u00a0zwsp\u200b\x7f"),
    ],
    "whitespace": [
        ("system", "  padded system \n"),
        ("user", "\n\n  lead and trail  \n\t"),
        ("assistant", " answer \n"),
        ("user", "last\n"),
    ],
    "thinking": [
        ("user", "2+2?"),
        ("assistant", "<think>\nadd them\n</think>\n\n4"),
        ("user", "and 3+3?"),
    ],
    "ends_with_assistant": [
        ("user", "Ping"),
        ("assistant", "Pong"),
    ],
    "empty_content": [("user", "")],
    # Error cases for templates that check alternation.
    "double_user": [("user", "a"), ("user", "b")],
    "assistant_first": [("assistant", "a"), ("user", "b")],
    "system_in_middle": [("user", "a"), ("system", "b"), ("user", "c")],
}


class GenerationBlock(jinja2.ext.Extension):
    """transformers' `{% generation %}` tag outside training: renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body", []), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def environment():
    """transformers' chat template environment (`_compile_jinja_template`), with
    strftime_now pinned and the generation tag rendering its body."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def write_known_templates():
    source = ENGINE_SRC.read_text(encoding="utf-8")
    for name, body in re.findall(r'const (\w+): &str = r#"(.*?)"#;', source, re.S):
        stem = "known-" + name.lower()
        (HERE / f"{stem}.jinja").write_text(body, encoding="utf-8")


def write_smollm2_template():
    path = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        print(f"note: {path} missing, keeping smollm2.jinja as it is", file=sys.stderr)
        return
    from gguf import GGUFReader

    field = GGUFReader(str(path)).fields["tokenizer.chat_template"]
    text = bytes(field.parts[field.data[0]]).decode("utf-8")
    (HERE / "smollm2.jinja").write_text(text, encoding="utf-8")


def main():
    write_known_templates()
    write_smollm2_template()
    env = environment()
    cases = []
    for path in sorted(HERE.glob("*.jinja")):
        stem = path.stem
        bos, eos = SPECIAL_TOKENS[stem]
        template = env.from_string(path.read_text(encoding="utf-8"))
        for conv_name, turns in CONVERSATIONS.items():
            messages = [{"role": r, "content": c} for r, c in turns]
            for add_generation_prompt in (True, False):
                case = {
                    "template": path.name,
                    "conversation": conv_name,
                    "messages": messages,
                    "add_generation_prompt": add_generation_prompt,
                    "bos_token": bos,
                    "eos_token": eos,
                }
                try:
                    case["output"] = template.render(
                        messages=messages,
                        tools=None,
                        documents=None,
                        add_generation_prompt=add_generation_prompt,
                        bos_token=bos,
                        eos_token=eos,
                    )
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    out = {"now": NOW, "cases": cases}
    (HERE / "expected.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    errors = sum("error" in c for c in cases)
    print(f"{len(cases)} cases ({errors} errors) from {len(list(HERE.glob('*.jinja')))} templates")


if __name__ == "__main__":
    main()
