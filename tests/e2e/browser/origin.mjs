// `hearth serve` attacked from web pages in headless Chromium (issue 19).
//
// Run by `cargo xtask e2e-browser`, which builds `hearth`, installs this
// folder's playwright-core and sets HEARTH_E2E_CLI (the `hearth` binary),
// HEARTH_E2E_MODEL (SmolLM2's .gguf) and HEARTH_E2E_CHROMIUM (Debian's
// /usr/bin/chromium unless told otherwise). Everything runs in a temporary
// data folder on 127.0.0.1.
//
// One page is served under two names, both resolving to 127.0.0.1 inside
// the browser: http://evil.test:PORT (any site the user visits) and
// http://allowed.test:PORT (the one page given to `--cors-origin`). From
// each, the page fires what a browser lets any site send to the loopback:
// fetch with a text/plain body (no CORS preflight), with JSON (preflight),
// a form post, a text/plain beacon, a read of /v1/models.
//
// What must hold:
// - every request from evil.test reaches the server (its log names each one)
//   and is refused with 403 before anything runs;
// - from allowed.test, JSON works (the control: the harness can deliver and
//   read requests), and the form post, the text/plain fetch and the beacon
//   are refused with 415;
// - exactly one generation ran (`hearth stats`): the allowed JSON request.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CLI = process.env.HEARTH_E2E_CLI;
const MODEL = process.env.HEARTH_E2E_MODEL;
const CHROMIUM = process.env.HEARTH_E2E_CHROMIUM || "/usr/bin/chromium";
if (!CLI || !MODEL) {
  throw new Error("HEARTH_E2E_CLI and HEARTH_E2E_MODEL must be set (cargo xtask e2e-browser)");
}

// The attack page: does nothing until the test calls window.attack().
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>A page on the web</title>
<iframe name="sink" id="sink"></iframe>
<script>
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function outcome(request) {
  try {
    const response = await request;
    if (response.type === "opaque") return "sent (opaque answer)";
    return "status " + response.status + " " + (await response.text());
  } catch (err) {
    return "blocked: " + err.name;
  }
}
function formPost(url, enctype, name, value) {
  return new Promise((resolve) => {
    const sink = document.getElementById("sink");
    sink.onload = () => resolve("form submitted");
    const form = document.createElement("form");
    form.method = "POST";
    form.action = url;
    form.enctype = enctype;
    form.target = "sink";
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  });
}
window.attack = async ({ api, model }) => {
  const chat = api + "/v1/chat/completions";
  const body = JSON.stringify({
    model,
    messages: [{ role: "user", content: "Say hello." }],
    max_tokens: 4,
    temperature: 0,
  });
  const results = {};
  results.fetchTextPlainNoCors = await outcome(
    fetch(chat, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body }),
  );
  results.fetchTextPlain = await outcome(
    fetch(chat, { method: "POST", headers: { "content-type": "text/plain" }, body }),
  );
  results.fetchJson = await outcome(
    fetch(chat, { method: "POST", headers: { "content-type": "application/json" }, body }),
  );
  results.beacon = String(navigator.sendBeacon(chat, new Blob([body], { type: "text/plain" })));
  // A text/plain form sends "name=value": this one spells the JSON body.
  results.formTextPlain = await Promise.race([
    formPost(chat, "text/plain", body.slice(0, -1) + ', "x":"', '"}'),
    sleep(15000).then(() => "form did not load"),
  ]);
  results.formUrlencoded = await Promise.race([
    formPost(chat, "application/x-www-form-urlencoded", "q", body),
    sleep(15000).then(() => "form did not load"),
  ]);
  results.readModels = await outcome(fetch(api + "/v1/models"));
  return results;
};
</script>`;

function log(...args) {
  console.log("[browser e2e]", ...args);
}

/** Lines the server wrote to stderr so far. */
const serverLines = [];

/** Waits until `predicate(serverLines)` holds, for at most a minute. */
async function waitForLog(what, predicate) {
  for (let i = 0; i < 600; i++) {
    if (predicate(serverLines)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server log never showed ${what}:\n${serverLines.join("\n")}`);
}

/** Server log lines of refusals `what` for `method path`. */
function refusals(lines, what, method, path) {
  return lines.filter(
    (l) => l.includes(what) && l.includes(`method=${method}`) && l.includes(`path="${path}"`),
  ).length;
}

const ORIGIN_REFUSED = "request from a web page refused";
const NOT_JSON = "the body is not sent as JSON";

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  const home = mkdtempSync(join(tmpdir(), "hearth-browser-e2e-"));
  const env = { ...process.env, HEARTH_HOME: home, HEARTH_DB_PASSPHRASE: "e2e only", HEARTH_LOG: "warn" };
  delete env.HEARTH_MODEL;
  let server;
  let pages;
  let browser;
  try {
    const imported = execFileSync(CLI, ["import", MODEL], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const model = /as (\S+)/.exec(imported)[1];

    pages = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(PAGE);
    });
    await new Promise((r) => pages.listen(0, "127.0.0.1", r));
    const pagePort = pages.address().port;
    const allowed = `http://allowed.test:${pagePort}`;
    const evil = `http://evil.test:${pagePort}`;

    server = spawn(CLI, ["serve", "--port", "0", "--cors-origin", allowed], { env, stdio: ["ignore", "ignore", "pipe"] });
    let buffered = "";
    server.stderr.setEncoding("utf8");
    server.stderr.on("data", (chunk) => {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      // Without colour codes, which the log has on a terminal or not.
      serverLines.push(...lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, "")));
    });
    await waitForLog("the listening address", (lines) => lines.some((l) => /Listening on http:\/\/127\.0\.0\.1:\d+/.test(l)));
    const api = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverLines.join("\n"))[1];
    log("server at", api, "pages at port", pagePort);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP evil.test 127.0.0.1, MAP allowed.test 127.0.0.1",
      ],
    });
    const context = await browser.newContext();

    // From any other site: everything refused with 403, each one logged.
    const attacker = await context.newPage();
    await attacker.goto(`${evil}/page.html`);
    const fromEvil = await attacker.evaluate((args) => window.attack(args), { api, model });
    log("from evil.test:", fromEvil);
    await waitForLog("every request from evil.test refused", (lines) =>
      refusals(lines, ORIGIN_REFUSED, "POST", "/v1/chat/completions") >= 5 &&
      refusals(lines, ORIGIN_REFUSED, "OPTIONS", "/v1/chat/completions") >= 1 &&
      refusals(lines, ORIGIN_REFUSED, "GET", "/v1/models") >= 1,
    );
    check(fromEvil.fetchTextPlain.startsWith("blocked"), `the page read an answer: ${fromEvil.fetchTextPlain}`);
    check(fromEvil.fetchJson.startsWith("blocked"), `the page read an answer: ${fromEvil.fetchJson}`);
    check(fromEvil.readModels.startsWith("blocked"), `the page read the model list: ${fromEvil.readModels}`);
    check(fromEvil.beacon === "true", `the beacon was not even queued: ${fromEvil.beacon}`);

    // From the allowed page: JSON works, the rest is not JSON and gets 415.
    const friend = await context.newPage();
    await friend.goto(`${allowed}/page.html`);
    const fromAllowed = await friend.evaluate((args) => window.attack(args), { api, model });
    log("from allowed.test:", fromAllowed);
    check(fromAllowed.fetchJson.startsWith("status 200"), `JSON from the allowed page failed: ${fromAllowed.fetchJson}`);
    check(JSON.parse(fromAllowed.fetchJson.slice("status 200 ".length)).choices[0].message.content !== undefined, "no answer");
    check(fromAllowed.fetchTextPlain.startsWith("status 415"), `text/plain was not refused: ${fromAllowed.fetchTextPlain}`);
    check(fromAllowed.readModels.startsWith("status 200"), `the allowed page cannot list models: ${fromAllowed.readModels}`);
    await waitForLog("the allowed page's form posts and beacon refused as not JSON", (lines) =>
      refusals(lines, NOT_JSON, "POST", "/v1/chat/completions") >= 5,
    );

    // Exactly one generation ran: the allowed page's JSON request.
    const stats = JSON.parse(execFileSync(CLI, ["stats", "--json"], { env, encoding: "utf8" }));
    const requests = stats.backends.reduce((sum, b) => sum + b.requests, 0);
    check(requests === 1, `expected 1 generation, the usage records show ${requests}: ${JSON.stringify(stats)}`);
    log("ok: 403 for every request from another page, 415 for form posts, text/plain fetches and beacons, one generation in all");
  } finally {
    if (browser) await browser.close();
    if (pages) pages.close();
    if (server) {
      server.kill("SIGINT");
      await new Promise((r) => server.once("exit", r));
    }
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
