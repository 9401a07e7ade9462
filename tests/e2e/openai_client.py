"""`hearth serve` through the official `openai` Python package.

Run by `cargo xtask e2e-server`, which builds `hearth`, makes the venv and sets:
HEARTH_E2E_CLI (the `hearth` binary) and HEARTH_E2E_MODEL (SmolLM2's .gguf).
The server runs in a fresh, temporary data directory; nothing else is touched.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import openai

CLI = os.environ["HEARTH_E2E_CLI"]
MODEL_FILE = os.environ["HEARTH_E2E_MODEL"]


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HEARTH_HOME=home, HEARTH_DB_PASSPHRASE="e2e only", HEARTH_LOG="warn")
        env.pop("HEARTH_MODEL", None)
        out = subprocess.run([CLI, "import", MODEL_FILE], env=env, check=True, capture_output=True, text=True)
        model = re.search(r" as (\S+)", out.stdout + out.stderr).group(1)
        server = subprocess.Popen([CLI, "serve", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
        try:
            base = None
            for line in server.stderr:
                match = re.match(r"Listening on (http://[0-9.]+:[0-9]+)", line)
                if match:
                    base = match.group(1) + "/v1"
                    break
            assert base, "hearth serve did not start"
            check(openai.OpenAI(base_url=base, api_key="unused", timeout=60, max_retries=0), model)
        finally:
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=30) == 0, "hearth serve did not stop cleanly"
    print("openai client e2e: ok")


def check(client: openai.OpenAI, model: str) -> None:
    ids = [m.id for m in client.models.list()]
    assert model in ids, ids

    answer = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=16,
    )
    assert answer.choices[0].message.content, answer
    assert answer.choices[0].finish_reason in ("stop", "length"), answer
    assert 1 <= answer.usage.completion_tokens <= 16, answer.usage

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        temperature=0,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text, chunks
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens >= 1, chunks[-1]

    cut = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=16,
        stop=[answer.choices[0].message.content[5:8]],
    )
    assert cut.choices[0].finish_reason == "stop", cut

    as_json = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        temperature=0,
        max_tokens=200,
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(as_json.choices[0].message.content), dict), as_json
    assert as_json.choices[0].finish_reason == "stop", as_json

    check_tools(client, model)

    completion = client.completions.create(model=model, prompt="The capital of France is", max_tokens=4, temperature=0)
    assert completion.choices[0].text is not None, completion

    # Logprobs, parsed into the package's own types.
    scored = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=6,
        logprobs=True,
        top_logprobs=3,
    )
    content = scored.choices[0].logprobs.content
    assert len(content) == scored.usage.completion_tokens, scored
    assert "".join(t.token for t in content) == scored.choices[0].message.content, scored
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3, t
        assert t.top_logprobs[0].token == t.token, t  # greedy picks the most likely
    streamed = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
        max_tokens=6,
        logprobs=True,
        top_logprobs=3,
        stream=True,
    )
    streamed_tokens = [t.token for c in streamed if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert streamed_tokens == [t.token for t in content], streamed_tokens
    legacy = client.completions.create(model=model, prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2)
    assert len(legacy.choices[0].logprobs.tokens) == len(legacy.choices[0].logprobs.token_logprobs), legacy

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "Hi"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as err:
        assert err.body["code"] == "model_not_found", err.body


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def check_tools(client: openai.OpenAI, model: str) -> None:
    """Issue 22: a forced call, the same streamed, and an agent loop back to an answer."""
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    called = client.chat.completions.create(
        model=model, messages=question, tools=[WEATHER], tool_choice="required", temperature=0, max_tokens=64
    )
    choice = called.choices[0]
    assert choice.finish_reason == "tool_calls", called
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id, call
    assert call.function.name == "get_weather", call
    assert isinstance(json.loads(call.function.arguments), dict), call

    stream = client.chat.completions.create(
        model=model,
        messages=question,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=64,
        stream=True,
    )
    chunks = list(stream)
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1 and deltas[0].index == 0 and deltas[0].function.name == "get_weather", chunks
    assert isinstance(json.loads(deltas[0].function.arguments), dict), deltas
    assert chunks[-1].choices[0].finish_reason == "tool_calls", chunks[-1]

    followed = client.chat.completions.create(
        model=model,
        messages=question
        + [
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"sky": "sunny", "celsius": 21})},
        ],
        tools=[WEATHER],
        tool_choice="none",
        temperature=0,
        max_tokens=32,
    )
    assert followed.choices[0].finish_reason in ("stop", "length"), followed
    assert followed.choices[0].message.content and not followed.choices[0].message.tool_calls, followed


if __name__ == "__main__":
    main()
    sys.exit(0)
