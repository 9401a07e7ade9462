"""End-to-end tests of the desktop app, driven through tauri-driver and
WebKitWebDriver (W3C WebDriver) with Selenium, under Xvfb.

Run by `cargo xtask e2e`, which builds the programs, starts nothing else and
passes their paths in the environment:

  HEARTH_E2E_APP       the built hearth-desktop binary
  HEARTH_E2E_CLI       the built hearth binary (to prepare the data directory)
  HEARTH_E2E_STANDIN   the Hugging Face stand-in binary (hf-standin)
  HEARTH_E2E_PROVIDER  the OpenAI-compatible provider stand-in (provider-standin)
  HEARTH_E2E_MODEL     the SmolLM2 test model (.gguf)
  HEARTH_E2E_EMBED_MODEL the all-MiniLM-L6-v2 folder (the documents step)
  HEARTH_E2E_ARTIFACTS where screenshots go
  HEARTH_E2E_DRIVER    tauri-driver
  HEARTH_E2E_AXE       optional: axe-core's axe.min.js (default: the one
                       ui/node_modules has, pinned in ui/package.json)
  HEARTH_E2E_STEPS     optional: run only the steps whose names contain one of
                       these comma-separated words (the first step always runs)
  HEARTH_TEST_MCP_DIR  where .ci/run installed mcp-server-time (default
                       ~/.cache/hearth/mcp; the tools step needs it under CI)

Each step is one check a user would make; a failure names it and keeps a
screenshot. Waits are bounded; nothing here measures time.
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.file_detector import UselessFileDetector
from selenium.webdriver.support.ui import Select, WebDriverWait

APP = os.environ["HEARTH_E2E_APP"]
CLI = os.environ["HEARTH_E2E_CLI"]
STANDIN = os.environ["HEARTH_E2E_STANDIN"]
PROVIDER = os.environ["HEARTH_E2E_PROVIDER"]
MODEL = os.environ["HEARTH_E2E_MODEL"]
EMBED_MODEL = os.environ.get("HEARTH_E2E_EMBED_MODEL")
ARTIFACTS = Path(os.environ.get("HEARTH_E2E_ARTIFACTS", "e2e-artifacts"))
DRIVER = os.environ.get("HEARTH_E2E_DRIVER", "tauri-driver")
AXE = Path(
    os.environ.get("HEARTH_E2E_AXE")
    or Path(__file__).resolve().parents[2] / "ui/node_modules/axe-core/axe.min.js"
)
PASSPHRASE = "e2e passphrase, not a secret"
WAIT = 120  # seconds; generous for a loaded 2-core machine

XSS = (
    "Here you go: <img src=x onerror=\"window.__xss='img'\"> "
    "<script>window.__xss='script'</script> "
    "[click](javascript:window.__xss='link') "
    "<svg onload=\"window.__xss='svg'\"></svg> "
    "<div style=\"position:fixed;top:0;left:0\" id=\"escaped\">outside</div>"
)


def tid(name):
    return f'[data-testid="{name}"]'


class Env:
    """The data directory, the stand-in and the app's environment."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-e2e-")
        self.home = Path(self.tmp.name) / "home"
        self.home.mkdir()
        self.standin = subprocess.Popen(
            [STANDIN, "--throttle", "20000000"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.endpoint = self.standin.stdout.readline().strip()
        assert self.endpoint.startswith("http://127.0.0.1:"), self.endpoint
        self.provider = subprocess.Popen(
            [PROVIDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.provider_url = self.provider.stdout.readline().strip()
        assert self.provider_url.startswith("http://127.0.0.1:"), self.provider_url
        self.env = dict(os.environ)
        self.env.update(
            {
                "HEARTH_HOME": str(self.home),
                "HEARTH_DB_PASSPHRASE": PASSPHRASE,
                "HF_ENDPOINT": self.endpoint,
                "HEARTH_EXTERNAL_MODELS": "0",
                "HEARTH_LOG": "warn",
            }
        )
        self.env.pop("HEARTH_MODEL", None)
        if EMBED_MODEL:
            self.env["HEARTH_EMBED_MODEL"] = EMBED_MODEL

    def script(self, line):
        """Queues the provider stand-in's next answer (`tool-call NAME JSON` or `answer TEXT`)."""
        self.provider.stdin.write(line + "\n")
        self.provider.stdin.flush()
        ack = self.provider.stdout.readline().strip()
        assert ack == "ok", f"the stand-in did not take {line!r}: {ack!r}"

    def cli(self, *args, stdin=None):
        out = subprocess.run(
            [CLI, *args], env=self.env, input=stdin, capture_output=True, text=True
        )
        assert out.returncode == 0, f"hearth {args}: {out.stderr}"
        return out.stdout

    def close(self):
        for proc in (self.standin, self.provider):
            proc.stdin.close()
            proc.wait(timeout=30)
        self.tmp.cleanup()


class Driver:
    """tauri-driver, started once; each `session()` launches the app anew."""

    def __init__(self, env):
        self.log = open(ARTIFACTS / "tauri-driver.log", "w")
        self.proc = subprocess.Popen(
            [DRIVER, "--port", "4444", "--native-port", "4445"],
            env=env.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(150):
            try:
                urllib.request.urlopen("http://127.0.0.1:4444/status", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("tauri-driver did not start")

    def session(self):
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": APP})
        d = webdriver.Remote(command_executor="http://127.0.0.1:4444", options=opts)
        # Typed text that names a file on this machine (a server's command) is
        # text, not an upload.
        d.file_detector = UselessFileDetector()
        return d

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def wait_for(d, what, check, timeout=WAIT):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2, ignored_exceptions=(WebDriverException,)).until(
            lambda d: check(d)
        )
    except Exception as e:
        raise AssertionError(f"waiting for {what}: {e}") from e


def find(d, css):
    return wait_for(d, css, lambda d: d.find_element(By.CSS_SELECTOR, css))


def shot(d, name):
    d.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def messages(d):
    return d.find_elements(By.CSS_SELECTOR, tid("message"))


def last_answer(d):
    answers = [m for m in messages(d) if m.get_attribute("data-role") == "assistant"]
    return answers[-1] if answers else None


def send(d, text):
    box = find(d, tid("composer-input"))
    box.clear()
    box.send_keys(text)
    find(d, tid("send")).click()


def answer_with_status(d, statuses):
    def check(d):
        m = last_answer(d)
        return m if m is not None and m.get_attribute("data-status") in statuses else None

    return wait_for(d, f"an answer with status {statuses}", check)


def time_server():
    """The mcp-server-time .ci/run installs, or None (a failure under CI=true)."""
    base = os.environ.get("HEARTH_TEST_MCP_DIR") or str(Path.home() / ".cache/hearth/mcp")
    path = Path(base) / "venv/bin/mcp-server-time"
    if path.exists():
        return path
    assert os.environ.get("CI") != "true", f"{path} is missing; .ci/run installs it"
    return None


def choose_cloud_model(d, prefix):
    """In the open chat: allow the cloud and pick the first model named `prefix…`."""
    Select(find(d, tid("policy-select"))).select_by_value("cloudFallback")
    picker = wait_for(
        d,
        "the stand-in's models in the cloud picker",
        lambda d: next(
            (
                p
                for p in d.find_elements(By.CSS_SELECTOR, tid("cloud-model-picker"))
                if any(o.get_attribute("value").startswith(prefix) for o in p.find_elements(By.TAG_NAME, "option"))
            ),
            None,
        ),
    )
    model = next(
        o.get_attribute("value") for o in picker.find_elements(By.TAG_NAME, "option") if o.get_attribute("value").startswith(prefix)
    )
    Select(picker).select_by_value(model)
    wait_for(d, "the cloud model chosen", lambda d: find(d, tid("cloud-model-picker")).get_attribute("value") == model)
    return model


def planted_conversation():
    """A conversation whose stored answer is an XSS attempt (hearth-export v1)."""
    now = int(time.time() * 1000)
    conv, user, answer = (secrets.token_hex(16) for _ in range(3))
    metrics = {
        "tokens_in": None,
        "tokens_out": None,
        "prompt_tokens_reused": None,
        "ttft_ms": None,
        "decode_tok_s": None,
        "latency_ms": None,
        "cost_usd": None,
    }

    def message(mid, parent, role, content):
        return {
            "id": mid,
            "conversation_id": conv,
            "parent_id": parent,
            "role": role,
            "content": content,
            "status": "complete",
            "backend": "local",
            "model": "planted",
            "metrics": metrics,
            "fallback_reason": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
        }

    return {
        "format": "hearth-export",
        "version": 1,
        "conversations": [
            {
                "id": conv,
                "title": "Planted answer",
                "created_at": now,
                "updated_at": now,
                "model": None,
                "backend": None,
                "system_prompt": None,
                "sampling": {},
                "privacy": {"policy": "local_only"},
                "archived": False,
                "active_leaf": answer,
                "preset": None,
                "messages": [
                    message(user, None, "user", "Show me a picture"),
                    message(answer, user, "assistant", XSS),
                ],
            }
        ],
    }


# The screens the accessibility check visits: (sidebar button, name).
AXE_SCREENS = (
    ("nav-chat", "chat"),
    ("nav-models", "models"),
    ("nav-providers", "cloud"),
    ("nav-usage", "usage"),
    ("nav-network", "network"),
    ("nav-server", "server"),
    ("nav-hardware", "hardware"),
    ("nav-settings", "settings"),
)

# Runs axe-core on the document; answers the serious and critical violations
# as JSON (at most five elements each).
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] })
  .then((r) => done(JSON.stringify(r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").slice(0, 240)),
    })))))
  .catch((e) => done(JSON.stringify([{ id: "axe-error", impact: "critical", help: String(e), nodes: [] }])));
"""


def axe_violations(d):
    """axe-core's serious and critical violations on the page as it is now
    (axe.min.js injected into the window the first time)."""
    if not d.execute_script("return typeof window.axe === 'object'"):
        assert AXE.is_file(), f"{AXE} is missing (npm install in ui/ brings the pinned axe-core)"
        d.execute_script(AXE.read_text())
    return json.loads(d.execute_async_script(AXE_RUN))


def accessibility(d):
    """Every main screen in the real window, checked with axe-core (contrast
    included, which only a real layout shows): no serious or critical
    violation. The findings are kept in axe.json beside the screenshots."""
    d.set_script_timeout(WAIT)
    found = {}
    for nav, name in AXE_SCREENS:
        find(d, tid(nav)).click()
        wait_for(d, f"the {name} screen", lambda d: find(d, tid(nav)).get_attribute("aria-current") == "page")
        time.sleep(0.5)  # let the screen load what it shows; nothing here is timed
        found[name] = axe_violations(d)
        if name == "models":
            for tab in ("Discover", "Downloads"):
                find(d, '[role="tab"]')
                button = next(b for b in d.find_elements(By.CSS_SELECTOR, '[role="tab"]') if b.text.startswith(tab))
                button.click()
                time.sleep(0.5)
                found[f"models: {tab.lower()}"] = axe_violations(d)
    (ARTIFACTS / "axe.json").write_text(json.dumps(found, indent=2))
    bad = {screen: v for screen, v in found.items() if v}
    assert not bad, "axe-core found serious or critical violations:\n" + json.dumps(bad, indent=2)


def main():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = Env()
    # The library has the SmolLM2 test model (by reference); the history has a
    # planted hostile answer.
    env.cli("import", MODEL)
    model_id = json.loads(env.cli("list", "--json"))["models"][0]["id"]
    planted = Path(env.tmp.name) / "planted.json"
    planted.write_text(json.dumps(planted_conversation()))
    env.cli("history", "import", str(planted))
    # A keyless OpenAI-compatible provider (the stand-in) for the cloud step.
    env.cli("provider", "add", "compat", "--name", "standin", "--base-url", env.provider_url, "--no-key")

    driver = Driver(env)
    failures = []
    d = None

    only = [w.strip() for w in os.environ.get("HEARTH_E2E_STEPS", "").split(",") if w.strip()]

    def step(name, fn):
        nonlocal d
        if only and d is not None and not any(w in name for w in only):
            print(f"-- {name}: not selected", flush=True)
            return
        print(f"-- {name}", flush=True)
        try:
            fn()
            print("   ok", flush=True)
        except Exception:
            failures.append(name)
            traceback.print_exc()
            if d is not None:
                try:
                    shot(d, f"FAILED-{name.replace(' ', '-')}")
                except Exception:
                    pass

    def start():
        nonlocal d
        d = driver.session()
        find(d, tid("new-chat"))

    def chat():
        find(d, tid("new-chat")).click()
        picker = find(d, tid("model-picker"))
        assert model_id in picker.text or picker.get_attribute("value") == model_id, picker.text
        # Greedy and short, with a system prompt: the answer is deterministic.
        find(d, tid("conversation-settings")).click()
        find(d, tid("system-prompt")).send_keys("You are a helpful assistant.")
        find(d, tid("sampling-temperature")).send_keys("0")
        find(d, tid("sampling-maxTokens")).send_keys("48")
        find(d, tid("save-conversation-settings")).click()
        find(d, tid("conversation-settings")).click()
        send(d, "What is the capital of France?")
        m = answer_with_status(d, {"complete"})
        text = m.find_element(By.CSS_SELECTOR, tid("message-content")).text
        assert "Paris" in text, text
        shot(d, "chat")

    def stop():
        find(d, tid("conversation-settings")).click()
        limit = find(d, tid("sampling-maxTokens"))
        limit.clear()
        limit.send_keys("1000")
        find(d, tid("save-conversation-settings")).click()
        find(d, tid("conversation-settings")).click()
        send(d, "Write a very long story about a lighthouse keeper, with many chapters.")
        wait_for(
            d,
            "tokens streaming",
            lambda d: last_answer(d) is not None
            and len(last_answer(d).find_element(By.CSS_SELECTOR, tid("message-content")).text) > 20,
        )
        find(d, tid("stop")).click()
        answer_with_status(d, {"cancelled"})

    def regenerate():
        find(d, tid("conversation-settings")).click()
        limit = find(d, tid("sampling-maxTokens"))
        limit.clear()
        limit.send_keys("32")
        find(d, tid("save-conversation-settings")).click()
        find(d, tid("conversation-settings")).click()
        answer = answer_with_status(d, {"complete", "cancelled"})
        answer.find_element(By.CSS_SELECTOR, tid("regenerate")).click()
        wait_for(
            d,
            "the branch switcher at 2/2",
            lambda d: any("2/2" in e.text for e in d.find_elements(By.CSS_SELECTOR, tid("branch-label"))),
        )
        answer_with_status(d, {"complete", "cancelled"})
        find(d, tid("branch-prev")).click()
        wait_for(
            d,
            "the branch switcher back at 1/2",
            lambda d: any("1/2" in e.text for e in d.find_elements(By.CSS_SELECTOR, tid("branch-label"))),
        )

    def restart():
        nonlocal d
        d.quit()
        d = None
        start()
        items = d.find_elements(By.CSS_SELECTOR, tid("conversation-item"))
        assert len(items) >= 2, [i.text for i in items]
        shot(d, "conversations")

    def search():
        box = find(d, tid("search-input"))
        box.clear()
        box.send_keys("France")
        hit = find(d, tid("search-hit"))
        assert "France" in hit.text, hit.text
        hit.click()
        wait_for(d, "the found conversation", lambda d: len(messages(d)) >= 2)
        box.clear()
        box.send_keys(Keys.ESCAPE)

    def xss():
        items = d.find_elements(By.CSS_SELECTOR, tid("conversation-item"))
        planted_item = [i for i in items if "Planted answer" in i.text]
        assert planted_item, [i.text for i in items]
        planted_item[0].click()
        m = answer_with_status(d, {"complete"})
        content = m.find_element(By.CSS_SELECTOR, tid("message-content"))
        assert "Here you go" in content.text, content.text
        assert d.execute_script("return window.__xss === undefined"), "a planted script ran"
        for tag in ("script", "img", "svg", "iframe"):
            assert not content.find_elements(By.TAG_NAME, tag), f"a <{tag}> survived"
        assert not d.find_elements(By.ID, "escaped"), "an element escaped the message"
        for link in content.find_elements(By.TAG_NAME, "a"):
            href = (link.get_attribute("href") or "").lower()
            assert not href.startswith("javascript:"), href
        shot(d, "xss-inert")

    def download():
        find(d, tid("nav-models")).click()
        for tab in d.find_elements(By.CSS_SELECTOR, '[role="tab"]'):
            if tab.text.strip() == "Discover":
                tab.click()
        box = find(d, tid("hub-search-input"))
        box.send_keys("SmolLM2" + Keys.ENTER)
        repo = wait_for(
            d,
            "the stand-in repo in the search results",
            lambda d: next(
                (r for r in d.find_elements(By.CSS_SELECTOR, tid("repo-result")) if r.text == "test-org/SmolLM2-135M-Instruct-GGUF"),
                None,
            ),
        )
        repo.click()
        find(d, tid("repo-file-download")).click()
        find(d, tid("download-progress"))
        shot(d, "download")
        wait_for(
            d,
            "the download to finish",
            lambda d: d.find_element(By.CSS_SELECTOR, tid("download-progress")).get_attribute("data-state") == "finished",
            timeout=WAIT * 2,
        )
        models = json.loads(env.cli("list", "--json"))["models"]
        assert any(m["source"].get("repo") == "test-org/SmolLM2-135M-Instruct-GGUF" for m in models), models
        for tab in d.find_elements(By.CSS_SELECTOR, '[role="tab"]'):
            if tab.text.strip() == "Library":
                tab.click()
        wait_for(d, "two library rows", lambda d: len(d.find_elements(By.CSS_SELECTOR, tid("library-row"))) >= 2)
        shot(d, "models")

    def cloud():
        # A conversation that allows cloud, answered by the stand-in: the
        # answer carries the banner, and the ledger has the connection.
        find(d, tid("new-chat")).click()
        Select(find(d, tid("policy-select"))).select_by_value("cloudFallback")
        picker = wait_for(
            d,
            "the stand-in's models in the cloud picker",
            lambda d: next(
                (
                    p
                    for p in d.find_elements(By.CSS_SELECTOR, tid("cloud-model-picker"))
                    if any(o.get_attribute("value").startswith("standin:") for o in p.find_elements(By.TAG_NAME, "option"))
                ),
                None,
            ),
        )
        cloud_model = next(
            o.get_attribute("value")
            for o in picker.find_elements(By.TAG_NAME, "option")
            if o.get_attribute("value").startswith("standin:")
        )
        Select(picker).select_by_value(cloud_model)
        wait_for(
            d,
            "the cloud model chosen",
            lambda d: find(d, tid("cloud-model-picker")).get_attribute("value") == cloud_model,
        )
        send(d, "What is the capital of France?")
        m = answer_with_status(d, {"complete"})
        assert "Paris" in m.find_element(By.CSS_SELECTOR, tid("message-content")).text, m.text
        banner = m.find_element(By.CSS_SELECTOR, tid("cloud-banner"))
        assert "standin" in banner.text, banner.text
        shot(d, "cloud-answer")
        find(d, tid("nav-network")).click()
        wait_for(d, "the provider call in the ledger", lambda d: d.find_elements(By.CSS_SELECTOR, tid("network-row")))
        shot(d, "network")
        find(d, tid("nav-providers")).click()
        find(d, tid("provider-test")).click()
        find(d, tid("provider-test-result"))
        wait_for(d, "the connection test", lambda d: "connected" in find(d, tid("provider-test-result")).text.lower())
        shot(d, "providers")

    def tools():
        # Settings → MCP servers: add the real mcp-server-time, see its tool
        # as the server describes it. Then a cloud chat with it: the stand-in
        # calls get_current_time, the dialog shows the arguments before the
        # call runs, Allow once runs it, the result is folded under the
        # answer and the final answer follows. Then the same with Deny.
        server = time_server()
        if server is None:
            print("   skipped: mcp-server-time is missing", flush=True)
            return
        find(d, tid("nav-settings")).click()
        find(d, tid("mcp-empty"))
        find(d, tid("mcp-name")).send_keys("time")
        find(d, tid("mcp-command")).send_keys(str(server))
        find(d, tid("mcp-args")).send_keys("--local-timezone=UTC")
        find(d, tid("mcp-add")).click()
        row = find(d, tid("mcp-server") + '[data-name="time"]')
        assert "mcp-server-time" in row.text, row.text
        row.find_element(By.CSS_SELECTOR, tid("mcp-show-tools")).click()
        tool = find(d, tid("mcp-tool") + '[data-name="get_current_time"]')
        description = tool.find_element(By.CSS_SELECTOR, tid("mcp-tool-description")).text
        assert "time" in description.lower(), description
        wait_for(d, "the server's status", lambda d: "ready" in find(d, tid("mcp-status")).text)
        shot(d, "mcp-servers")

        find(d, tid("new-chat")).click()
        choose_cloud_model(d, "standin:")
        find(d, tid("conversation-settings")).click()
        find(d, tid("chat-tool-server") + '[data-name="time"]').click()
        wait_for(d, "the time server picked", lambda d: find(d, tid("chat-tool-server") + '[data-name="time"]').is_selected())
        find(d, tid("conversation-settings")).click()

        env.script('tool-call get_current_time {"timezone": "Asia/Tokyo"}')
        env.script("answer It is noon in Tokyo.")
        send(d, "What time is it in Tokyo?")
        dialog = find(d, tid("tool-approval"))
        assert "get_current_time" in dialog.find_element(By.CSS_SELECTOR, tid("tool-approval-tool")).text
        args = dialog.find_element(By.CSS_SELECTOR, tid("tool-approval-arguments")).text
        assert '"timezone": "Asia/Tokyo"' in args, args
        assert "time" in dialog.find_element(By.CSS_SELECTOR, tid("tool-approval-description")).text.lower()
        assert not d.find_elements(By.CSS_SELECTOR, tid("tool-call")), "the call ran before it was allowed"
        shot(d, "tool-approval")
        find(d, tid("tool-allow-once")).click()
        call = find(d, tid("tool-call"))
        assert "get_current_time" in call.find_element(By.CSS_SELECTOR, tid("tool-call-name")).text
        assert not call.find_elements(By.CSS_SELECTOR, tid("tool-call-error")), call.text
        result = call.find_element(By.CSS_SELECTOR, tid("tool-call-result"))
        assert result.get_attribute("open") is None, "the result is folded"
        result.find_element(By.TAG_NAME, "summary").click()
        wait_for(d, "the tool's result", lambda d: "Asia/Tokyo" in find(d, tid("tool-call-result")).text)
        m = answer_with_status(d, {"complete"})
        wait_for(d, "the final answer", lambda d: "noon in Tokyo" in last_answer(d).text)
        shot(d, "tool-result")

        env.script('tool-call get_current_time {"timezone": "Europe/Paris"}')
        env.script("answer I was not allowed to check the time.")
        send(d, "And in Paris?")
        wait_for(d, "the second approval", lambda d: "Europe/Paris" in find(d, tid("tool-approval-arguments")).text)
        find(d, tid("tool-deny")).click()
        wait_for(d, "the denied call", lambda d: len(d.find_elements(By.CSS_SELECTOR, tid("tool-call"))) == 2)
        denied = d.find_elements(By.CSS_SELECTOR, tid("tool-call"))[-1]
        denied.find_element(By.TAG_NAME, "summary").click()
        wait_for(d, "the declined result", lambda d: "declined" in d.find_elements(By.CSS_SELECTOR, tid("tool-call"))[-1].text)
        answer_with_status(d, {"complete"})
        wait_for(d, "the answer after the denial", lambda d: "not allowed" in last_answer(d).text)
        shot(d, "tool-denied")

    def documents():
        # Documents: a collection made in the app, a small text file added by
        # its path and indexed with the real all-MiniLM-L6-v2; a chat using
        # the collection says how the documents went in and cites the file;
        # the citation opens the passage in a dialog that Escape closes.
        if not EMBED_MODEL:
            assert os.environ.get("CI") != "true", "HEARTH_E2E_EMBED_MODEL is not set"
            print("   skipped: no embedding model", flush=True)
            return
        notes = Path(env.tmp.name) / "lighthouse.txt"
        notes.write_text(
            "The keeper of the Skerry Island lighthouse is Ingrid Halvorsen. "
            "She lights the lamp at dusk and logs the weather at midnight.\n"
        )
        find(d, tid("nav-documents")).click()
        find(d, tid("new-collection-name")).send_keys("e2e notes")
        find(d, tid("create-collection")).click()
        find(d, tid("collection") + '[data-name="e2e notes"]')
        find(d, tid("docs-path")).send_keys(str(notes))
        find(d, tid("add-path")).click()
        wait_for(d, "the file indexed", lambda d: "1 indexed" in find(d, tid("index-summary")).text)
        wait_for(d, "the file listed", lambda d: "lighthouse.txt" in find(d, tid("doc-files")).text)
        row = find(d, tid("collection") + '[data-name="e2e notes"]')
        assert "all-MiniLM-L6-v2" in row.text, row.text
        shot(d, "documents")

        find(d, tid("new-chat")).click()
        picker = find(d, tid("chat-docs-picker"))
        wait_for(
            d,
            "the collection offered to the chat",
            lambda d: d.find_elements(By.CSS_SELECTOR, tid("chat-docs-picker") + ' option[value="e2e notes"]'),
        )
        Select(picker).select_by_value("e2e notes")
        find(d, tid("conversation-settings")).click()
        find(d, tid("sampling-temperature")).send_keys("0")
        find(d, tid("sampling-maxTokens")).send_keys("24")
        find(d, tid("save-conversation-settings")).click()
        find(d, tid("conversation-settings")).click()
        send(d, "Who keeps the Skerry Island lighthouse?")
        m = answer_with_status(d, {"complete"})
        mode = m.find_element(By.CSS_SELECTOR, tid("documents-mode")).text
        assert "e2e notes" in mode and ("whole" in mode or "retrieval" in mode), mode
        citation = m.find_element(By.CSS_SELECTOR, tid("citation"))
        assert "lighthouse.txt" in citation.text, citation.text
        citation.click()
        find(d, tid("passage-dialog"))
        wait_for(d, "the passage", lambda d: "Ingrid Halvorsen" in find(d, tid("passage-text")).text)
        assert str(notes.name) in find(d, tid("passage-path")).text
        shot(d, "passage")
        # Keyboard: focus is in the dialog (on Close); Escape closes it.
        d.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_for(d, "the dialog closed", lambda d: not d.find_elements(By.CSS_SELECTOR, tid("passage-dialog")))

    def screens():
        for nav, name in (("nav-hardware", "hardware"), ("nav-settings", "settings")):
            find(d, tid(nav)).click()
            time.sleep(0.5)
            shot(d, name)

    try:
        step("start", start)
        step("chat streams an answer", chat)
        step("stop keeps the answer as cancelled", stop)
        step("regenerate makes a branch", regenerate)
        step("restart finds the conversations", restart)
        step("search finds the conversation", search)
        step("a planted XSS answer renders inert", xss)
        step("a download shows progress and lands in the library", download)
        step("a cloud answer shows where it came from", cloud)
        step("a tool call is asked about, run, folded and answered", tools)
        step("documents are indexed, used in a chat and cited", documents)
        step("screens", screens)
        step("accessibility: axe-core on every main screen", lambda: accessibility(d))
    finally:
        if d is not None:
            d.quit()
        driver.close()
        env.close()
    if failures:
        print(f"FAILED: {failures}", flush=True)
        sys.exit(1)
    print("all end-to-end steps passed", flush=True)


if __name__ == "__main__":
    main()
