import { fireEvent, render, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import type { Api } from "./lib/api";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const answers = () => all("message").filter((m) => m.dataset.role === "assistant");
const lastAnswer = () => answers().at(-1);
const KEY = "sk-proj-abcdefghijklmnopqrstuv1234";

async function ready() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
}

async function page(name: string) {
  await fireEvent.click(byId(`nav-${name}`)!);
}

async function addProvider(api: Api, name = "work", key = KEY) {
  await api.addProvider({ name, kind: "openai", baseUrl: null, key });
}

async function newChat() {
  await fireEvent.click(byId("new-chat")!);
  await waitFor(() => expect(byId("policy-select")).not.toBeNull());
}

async function type(text: string) {
  const box = byId("composer-input") as HTMLTextAreaElement;
  await fireEvent.input(box, { target: { value: text } });
  await fireEvent.click(byId("send")!);
}

async function choose(id: string, value: string) {
  const select = byId(id) as HTMLSelectElement;
  await waitFor(() => expect([...select.options].some((o) => o.value === value)).toBe(true));
  select.value = value;
  await fireEvent.change(select);
}

describe("cloud providers", () => {
  it("adds a provider with its key masked, tests it, and removes it", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    render(App, { api });
    await ready();
    await page("providers");
    await waitFor(() => expect(byId("providers-empty")).not.toBeNull());
    const key = byId("provider-key-input") as HTMLInputElement;
    expect(key.type).toBe("password");
    await fireEvent.input(byId("provider-name")!, { target: { value: "work" } });
    await fireEvent.input(key, { target: { value: KEY } });
    await fireEvent.click(byId("provider-add")!);
    await waitFor(() => expect(all("provider-row")).toHaveLength(1));
    const row = all("provider-row")[0]!;
    expect(within(row).getByTestId("provider-key").textContent).toContain("1234");
    expect(document.body.textContent).not.toContain(KEY);
    expect((byId("provider-key-input") as HTMLInputElement).value).toBe("");
    expect(within(row).getByTestId("breaker").dataset.state).toBe("closed");
    expect(row.textContent).toContain("https://api.openai.com/v1");

    await fireEvent.click(within(row).getByTestId("provider-test"));
    await waitFor(() => expect(byId("provider-test-result")?.textContent).toBe("connected, 3 models"));

    await fireEvent.click(within(row).getByTestId("provider-remove"));
    await waitFor(() => expect(all("provider-row")).toHaveLength(0));
  });

  it("a failed test shows the error", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    await addProvider(api, "broken", "sk-bad-key-000000000000");
    render(App, { api });
    await ready();
    await page("providers");
    await waitFor(() => expect(all("provider-row")).toHaveLength(1));
    await fireEvent.click(byId("provider-test")!);
    await waitFor(() => expect(byId("provider-test-result")?.textContent).toContain("refused (401)"));
    expect(byId("provider-test-result")?.className).toContain("error-text");
  });

  it("shows each provider's context window and lets the user set and clear it", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    await addProvider(api);
    render(App, { api });
    await ready();
    await page("providers");
    await waitFor(() => expect(all("provider-row")).toHaveLength(1));
    const shown = () => byId("provider-window")!;
    expect(shown().textContent).toBe("each model's own");
    expect(byId("provider-window-clear")).toBeNull();

    await fireEvent.input(byId("provider-window-input")!, { target: { value: "32000" } });
    await fireEvent.click(byId("provider-window-set")!);
    await waitFor(() => expect(shown().dataset.source).toBe("override"));
    expect(shown().textContent).toBe("32,000 tokens (set by you)");
    expect((await api.listProviders())[0]?.contextWindow).toEqual({ source: "override", tokens: 32000 });

    await fireEvent.click(byId("provider-window-clear")!);
    await waitFor(() => expect(shown().dataset.source).toBe("unknown"));
    expect((await api.listProviders())[0]?.contextWindow).toEqual({ source: "unknown" });
  });
});

describe("the conversation's policy", () => {
  it("is local only with a lock by default, and switches to cloud fallback with a chain", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    await addProvider(api);
    const update = vi.spyOn(api, "updateConversation");
    const models = vi.spyOn(api, "providerModels");
    render(App, { api });
    await ready();
    await newChat();
    expect(byId("policy-lock")).not.toBeNull();
    expect(byId("cloud-model-picker")).toBeNull();
    // Local only: no provider is contacted, not even for its model list.
    expect(models).not.toHaveBeenCalled();

    await choose("policy-select", "cloudFallback");
    await waitFor(() => expect(byId("policy-lock")).toBeNull());
    expect(update).toHaveBeenLastCalledWith(expect.any(String), { privacy: { policy: "cloudFallback", chain: [] } });

    await choose("chain-add", "work:gpt-4o-mini");
    await waitFor(() => expect(all("chain-item").map((i) => i.textContent?.trim())).toEqual([expect.stringContaining("work:gpt-4o-mini")]));
    expect(update).toHaveBeenLastCalledWith(expect.any(String), { privacy: { policy: "cloudFallback", chain: ["work:gpt-4o-mini"] } });

    await choose("cloud-model-picker", "work:gpt-4o");
    expect(update).toHaveBeenLastCalledWith(expect.any(String), { backend: "work:gpt-4o" });

    await choose("policy-select", "localOnly");
    await waitFor(() => expect(byId("policy-lock")).not.toBeNull());
    expect(update).toHaveBeenLastCalledWith(expect.any(String), { privacy: { policy: "localOnly" }, backend: null });
  });

  it("a cloud answer carries a banner with the reason, a local one none", async () => {
    const api = mockApi({ tokenDelayMs: 1, answer: "ok" });
    await addProvider(api);
    render(App, { api });
    await ready();
    await newChat();
    await type("local question");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    expect(within(lastAnswer()!).queryByTestId("cloud-banner")).toBeNull();

    // No local model and a cloud fallback: the fallback answers, and says why.
    await choose("model-picker", "");
    await choose("policy-select", "cloudFallback");
    await choose("chain-add", "work:gpt-4o-mini");
    await waitFor(() => expect(all("chain-item")).toHaveLength(1));
    await type("cloud question");
    await waitFor(() => expect(answers()).toHaveLength(2));
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    const banner = within(lastAnswer()!).getByTestId("cloud-banner");
    expect(banner.textContent).toContain("Answered by work:gpt-4o-mini");
    expect(banner.textContent).toContain("because no local model is chosen");

    // The way back: forget the fallback.
    const clear = vi.spyOn(api, "clearFallback");
    await fireEvent.click(within(lastAnswer()!).getByTestId("back-to-local"));
    await waitFor(() => expect(clear).toHaveBeenCalledTimes(1));
  });
});

describe("consent", () => {
  async function askingChat(api: Api) {
    await addProvider(api);
    render(App, { api });
    await ready();
    await newChat();
    await choose("policy-select", "askBeforeCloud");
    await waitFor(() => expect(byId("cloud-model-picker")).not.toBeNull());
    await choose("cloud-model-picker", "work:gpt-4o-mini");
    await waitFor(() => expect((byId("cloud-model-picker") as HTMLSelectElement).value).toBe("work:gpt-4o-mini"));
  }

  it("a consentNeeded error opens the dialog; Send runs the same turn with consent granted", async () => {
    const api = mockApi({ tokenDelayMs: 1, answer: "from the cloud" });
    const send = vi.spyOn(api, "send");
    await askingChat(api);
    await type("Summarise this");
    await waitFor(() => expect(byId("consent-dialog")).not.toBeNull());
    expect(byId("consent-dialog")?.textContent).toContain("Send this message to work:gpt-4o-mini?");
    expect(byId("consent-dialog")?.textContent).toContain("It leaves this machine.");
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0]?.[3]).toBeUndefined();
    // Nothing was stored while asking.
    await waitFor(() => expect(answers()).toHaveLength(0));

    await fireEvent.click(byId("consent-send")!);
    await waitFor(() => expect(byId("consent-dialog")).toBeNull());
    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.calls[1]?.[1]).toBe("Summarise this");
    expect(send.mock.calls[1]?.[3]).toBe("granted");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    expect(within(lastAnswer()!).getByTestId("cloud-banner").textContent).toContain("work:gpt-4o-mini");
  });

  it("Don't send sends nothing", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    const send = vi.spyOn(api, "send");
    await askingChat(api);
    await type("Private note");
    await waitFor(() => expect(byId("consent-dialog")).not.toBeNull());
    await fireEvent.click(byId("consent-deny")!);
    await waitFor(() => expect(byId("consent-dialog")).toBeNull());
    expect(send).toHaveBeenCalledTimes(1);
    // The policy control listed the provider's models; no message was sent.
    expect(all("message")).toHaveLength(0);
    expect((await api.networkLog(10)).filter((r) => r.purpose === "provider call")).toEqual([]);
    await waitFor(() => expect(all("message")).toHaveLength(0));
  });
});

describe("redaction", () => {
  it("a cloud answer's details list what was replaced before sending", async () => {
    const api = mockApi({ tokenDelayMs: 1, answer: "ok" });
    await addProvider(api);
    await api.setRedaction({ enabled: true, words: ["Ada"] });
    render(App, { api });
    await ready();
    await newChat();
    await choose("policy-select", "cloudFallback");
    await waitFor(() => expect(byId("cloud-model-picker")).not.toBeNull());
    await choose("cloud-model-picker", "work:gpt-4o-mini");
    await waitFor(() => expect((byId("cloud-model-picker") as HTMLSelectElement).value).toBe("work:gpt-4o-mini"));
    await type("Write to ada@example.com for Ada");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await fireEvent.click(within(lastAnswer()!).getByTestId("details"));
    await waitFor(() => expect(byId("redactions")?.textContent).toContain("[EMAIL_1]"));
    expect(byId("redactions")?.textContent).toContain("ada@example.com");
    expect(byId("redactions")?.textContent).toContain("[WORD_2]");
  });
});

describe("usage and network", () => {
  it("the usage view lists each backend with its cost, and saves a budget", async () => {
    const api = mockApi({ tokenDelayMs: 1, answer: "ok" });
    await addProvider(api);
    const c = await api.createConversation({ model: null, systemPrompt: null, presetId: null });
    await api.updateConversation(c.id, { backend: "work:gpt-4o-mini", privacy: { policy: "cloudFallback", chain: [] } });
    await api.send(c.id, "hi", () => {}).done;
    const setBudget = vi.spyOn(api, "setBudget");
    render(App, { api });
    await ready();
    await page("usage");
    await waitFor(() => expect(all("usage-row")).toHaveLength(1));
    expect(all("usage-row")[0]?.dataset.backend).toBe("work");
    expect(byId("total-cost")?.textContent).toBe("$0.0012");
    await fireEvent.input(byId("budget-daily")!, { target: { value: "2.5" } });
    await fireEvent.click(byId("save-budget")!);
    await waitFor(() => expect(setBudget).toHaveBeenCalledWith({ dailyUsd: 2.5, monthlyUsd: null }));
  });

  it("the network view shows the ledger, and the offline switch calls the API", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    await addProvider(api);
    await api.testProvider("work");
    const setOffline = vi.spyOn(api, "setOffline");
    render(App, { api });
    await ready();
    await page("network");
    await waitFor(() => expect(all("network-row")).toHaveLength(1));
    expect(all("network-row")[0]?.textContent).toContain("api.openai.com");
    expect(all("network-row")[0]?.textContent).toContain("model list");
    await fireEvent.click(byId("offline-switch")!);
    await waitFor(() => expect(setOffline).toHaveBeenCalledWith(true));
    await waitFor(() => expect(byId("offline-notice")).not.toBeNull());
    expect(await api.getOffline()).toBe(true);
    await expect(api.testProvider("work")).rejects.toMatchObject({ kind: "refused" });
  });
});
