import { fireEvent, render, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import { MOCK_TIME_DESCRIPTION, MOCK_TIME_FINGERPRINT, MOCK_TIME_RESULT, mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const answers = () => all("message").filter((m) => m.dataset.role === "assistant");

async function ready() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
}

async function settings() {
  await fireEvent.click(byId("nav-settings")!);
  await waitFor(() => expect(byId("mcp-servers")).not.toBeNull());
}

/** A new chat with the `time` server picked in its settings. */
async function chatWithTime() {
  await fireEvent.click(byId("new-chat")!);
  await waitFor(() => expect(byId("conversation-settings")).not.toBeNull());
  await fireEvent.click(byId("conversation-settings")!);
  const box = await waitFor(() => {
    const b = document.querySelector<HTMLInputElement>('[data-testid="chat-tool-server"][data-name="time"]');
    expect(b).not.toBeNull();
    return b!;
  });
  await fireEvent.click(box);
  await waitFor(() => expect(box.checked).toBe(true));
  await fireEvent.click(byId("conversation-settings")!);
}

async function type(text: string) {
  await fireEvent.input(byId("composer-input")!, { target: { value: text } });
  await fireEvent.click(byId("send")!);
}

describe("MCP servers in Settings", () => {
  it("adds a stdio and an HTTP server (the token never shown), lists tools as the server wrote them, removes", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    render(App, { api });
    await ready();
    await settings();
    await waitFor(() => expect(byId("mcp-empty")).not.toBeNull());
    await fireEvent.input(byId("mcp-name")!, { target: { value: "files" } });
    await fireEvent.input(byId("mcp-command")!, { target: { value: "npx" } });
    await fireEvent.input(byId("mcp-args")!, { target: { value: "-y\n@modelcontextprotocol/server-filesystem\n/tmp" } });
    await fireEvent.input(byId("mcp-env")!, { target: { value: "API_KEY=very-secret-value" } });
    await fireEvent.click(byId("mcp-add")!);
    await waitFor(() => expect(all("mcp-server")).toHaveLength(1));
    const row = all("mcp-server")[0]!;
    expect(row.textContent).toContain("npx -y @modelcontextprotocol/server-filesystem /tmp");
    expect(row.textContent).toContain("env: API_KEY");
    expect(document.body.textContent).not.toContain("very-secret-value");
    expect(within(row).getByTestId("mcp-status").textContent).toContain("not started");

    await fireEvent.click(document.querySelector('input[name="mcp-kind"][value="http"]')!);
    await waitFor(() => expect(byId("mcp-url")).not.toBeNull());
    expect((byId("mcp-token") as HTMLInputElement).type).toBe("password");
    await fireEvent.input(byId("mcp-name")!, { target: { value: "remote" } });
    await fireEvent.input(byId("mcp-url")!, { target: { value: "http://127.0.0.1:3001/mcp" } });
    await fireEvent.input(byId("mcp-token")!, { target: { value: "bearer-secret-123" } });
    await fireEvent.click(byId("mcp-add")!);
    await waitFor(() => expect(all("mcp-server")).toHaveLength(2));
    expect(all("mcp-server")[1]!.textContent).toContain("(with a token)");
    expect(document.body.textContent).not.toContain("bearer-secret-123");

    await fireEvent.click(within(all("mcp-server")[0]!).getByTestId("mcp-remove"));
    await waitFor(() => expect(all("mcp-server")).toHaveLength(1));
  });

  it("shows a tool's description exactly as sent and keeps the always-allow choice", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    render(App, { api });
    await ready();
    await settings();
    const row = await waitFor(() => all("mcp-server")[0]!);
    await fireEvent.click(within(row).getByTestId("mcp-show-tools"));
    const tool = await waitFor(() => all("mcp-tool")[0]!);
    expect(within(tool).getByTestId("mcp-tool-description").textContent).toBe(MOCK_TIME_DESCRIPTION);
    await waitFor(() => expect(within(all("mcp-server")[0]!).getByTestId("mcp-status").textContent).toContain("ready, 1 tool"));
    const always = within(tool).getByTestId("mcp-always-allow") as HTMLInputElement;
    expect(always.checked).toBe(false);
    await fireEvent.click(always);
    await waitFor(async () => expect((await api.mcpTools("time"))[0]?.alwaysAllowed).toBe(true));
  });

  it("imports a Claude Desktop file and says what it added", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await settings();
    await fireEvent.click(byId("mcp-import")!);
    await waitFor(() => expect(byId("mcp-note")?.textContent).toContain("Added fetch"));
    expect(all("mcp-server")).toHaveLength(1);
  });
});

describe("tools in a chat", () => {
  it("asks before a call with its arguments and description; Allow once runs it, folded under the answer", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true, answer: "It is noon in Tokyo." });
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it in Tokyo?");
    const dialog = await waitFor(() => byId("tool-approval")!);
    expect(within(dialog).getByTestId("tool-approval-tool").textContent).toBe("get_current_time");
    expect(within(dialog).getByTestId("tool-approval-server").textContent).toBe("time");
    expect(within(dialog).getByTestId("tool-approval-arguments").textContent).toBe('{\n  "timezone": "Asia/Tokyo"\n}');
    expect(within(dialog).getByTestId("tool-approval-description").textContent).toBe(MOCK_TIME_DESCRIPTION);
    expect(document.activeElement).toBe(byId("tool-allow-once"));
    // Nothing ran yet.
    expect(all("tool-call")).toHaveLength(0);
    await fireEvent.click(byId("tool-allow-once")!);
    await waitFor(() => expect(byId("tool-approval")).toBeNull());
    const call = await waitFor(() => all("tool-call")[0]!);
    expect(within(call).getByTestId("tool-call-name").textContent).toBe("get_current_time");
    expect(within(call).getByTestId("tool-call-arguments").textContent).toContain('"timezone": "Asia/Tokyo"');
    const result = within(call).getByTestId("tool-call-result") as HTMLDetailsElement;
    expect(result.open).toBe(false);
    expect(result.textContent).toContain(MOCK_TIME_RESULT);
    expect(within(call).queryByTestId("tool-call-error")).toBeNull();
    await waitFor(() => expect(answers().at(-1)?.dataset.status).toBe("complete"));
    expect(answers().at(-1)?.textContent).toContain("It is noon in Tokyo.");
  });

  it("Deny (or Escape) does not run the call; the model is told", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    const dialog = await waitFor(() => byId("tool-approval")!);
    await fireEvent.keyDown(dialog, { key: "Escape" });
    const call = await waitFor(() => all("tool-call")[0]!);
    expect(call.textContent).toContain("declined");
    expect(call.textContent).not.toContain(MOCK_TIME_RESULT);
    await waitFor(() => expect(answers().at(-1)?.dataset.status).toBe("complete"));
  });

  it("Stop while a call waits closes the dialog and denies it", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    const answer = vi.spyOn(api, "answerToolCall");
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await waitFor(() => expect(byId("tool-approval")).not.toBeNull());
    await fireEvent.click(byId("stop")!);
    await waitFor(() => expect(byId("tool-approval")).toBeNull());
    await waitFor(() => expect(byId("send")).not.toBeNull());
    expect(answer).not.toHaveBeenCalled();
    expect(all("tool-call")[0]?.textContent).toContain("declined");
  });

  it("a tool on the always-allow list runs without asking", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    await api.setToolAlwaysAllowed("time", "get_current_time", true);
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await waitFor(() => expect(all("tool-call")).toHaveLength(1));
    expect(byId("tool-approval")).toBeNull();
    expect(all("tool-call")[0]?.textContent).toContain(MOCK_TIME_RESULT);
  });

  it("an error result is marked, and the round cap shows a notice", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    const send = api.send.bind(api);
    api.send = (conv, text, onEvent, consent) =>
      send(conv, text, (e) => {
        if (e.kind === "toolResult") {
          onEvent({ kind: "toolResult", message: { ...e.message, status: "error", content: "error: the server died" } });
          onEvent({ kind: "toolLimit", rounds: 8 });
        } else onEvent(e);
      }, consent);
    await api.setToolAlwaysAllowed("time", "get_current_time", true);
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await waitFor(() => expect(byId("tool-limit")).not.toBeNull());
    expect(byId("tool-limit")?.textContent).toContain("8 times");
    const call = all("tool-call")[0]!;
    expect(call.classList.contains("failed")).toBe(true);
    expect(within(call).getByTestId("tool-call-error")).not.toBeNull();
    expect(within(call).getByTestId("tool-call-result").textContent).toContain("Error");
  });

  it("an answer that only called tools shows the calls, not an empty bubble", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true, answer: "Noon." });
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await fireEvent.click(await waitFor(() => byId("tool-allow-once")!));
    await waitFor(() => expect(answers().at(-1)?.dataset.status).toBe("complete"));
    await waitFor(() => expect(answers().at(-1)?.textContent).toContain("Noon."));
    const [calling, final] = answers();
    // The answer that called the tool: no text bubble at all, its call named.
    expect(within(calling!).queryByTestId("message-content")).toBeNull();
    expect(within(calling!).getByTestId("message-tool-calls").textContent).toContain("get_current_time");
    expect(calling!.classList.contains("tools-only")).toBe(true);
    // The final answer is text as usual, with no call line.
    expect(within(final!).getByTestId("message-content").textContent).toContain("Noon.");
    expect(within(final!).queryByTestId("message-tool-calls")).toBeNull();
    // The call itself, folded, between them.
    expect(all("tool-call")).toHaveLength(1);
  });

  it("Regenerate in a chat with tools asks about the call again", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true, answer: "Noon." });
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await fireEvent.click(await waitFor(() => byId("tool-allow-once")!));
    await waitFor(() => expect(answers().at(-1)?.textContent).toContain("Noon."));
    await waitFor(() => expect(within(answers()[0]!).getByTestId("regenerate")).not.toBeNull());
    await fireEvent.click(within(answers()[0]!).getByTestId("regenerate"));
    await waitFor(() => expect(byId("tool-approval")).not.toBeNull());
    await fireEvent.click(byId("tool-allow-once")!);
    await waitFor(() => expect(byId("tool-approval")).toBeNull());
    await waitFor(() => expect(answers().at(-1)?.dataset.status).toBe("complete"));
  });

  it("a tool allowed as another version of it is asked about again, and the user is told it changed", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    // Allowed when the server described the tool differently.
    await api.setToolAlwaysAllowed("time", "get_current_time", true, "fingerprint-of-the-old-tool");
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    const dialog = await waitFor(() => byId("tool-approval")!);
    expect(within(dialog).getByTestId("tool-approval-changed").textContent).toContain("changed since you allowed it");
    await fireEvent.click(byId("tool-deny")!);
    await waitFor(() => expect(byId("tool-approval")).toBeNull());

    // Settings says so too; ticking the box again allows the tool as it is now.
    await settings();
    const row = await waitFor(() => all("mcp-server")[0]!);
    await fireEvent.click(within(row).getByTestId("mcp-show-tools"));
    const tool = await waitFor(() => all("mcp-tool")[0]!);
    expect(within(tool).getByTestId("mcp-tool-changed")).not.toBeNull();
    const box = within(tool).getByTestId("mcp-always-allow") as HTMLInputElement;
    expect(box.checked).toBe(false);
    await fireEvent.click(box);
    await waitFor(async () => expect((await api.mcpTools("time"))[0]?.alwaysAllowed).toBe(true));
    expect((await api.mcpTools("time"))[0]?.fingerprint).toBe(MOCK_TIME_FINGERPRINT);
    expect((await api.mcpTools("time"))[0]?.changed).toBe(false);
  });

  it("a tool allowed as it is listed runs without asking; the dialog shows no change", async () => {
    const api = mockApi({ tokenDelayMs: 1, mcpTime: true });
    await api.setToolAlwaysAllowed("time", "get_current_time", true, MOCK_TIME_FINGERPRINT);
    render(App, { api });
    await ready();
    await chatWithTime();
    await type("What time is it?");
    await waitFor(() => expect(all("tool-call")).toHaveLength(1));
    expect(byId("tool-approval")).toBeNull();
  });
});
