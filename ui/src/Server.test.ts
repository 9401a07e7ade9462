import { fireEvent, render, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import { MOCK_BUSY_PORT, MOCK_SERVER_KEY, mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

async function openServerPage(api = mockApi({ tokenDelayMs: 1 })) {
  render(App, { api });
  await waitFor(() => expect(byId("nav-server")).not.toBeNull());
  await fireEvent.click(byId("nav-server")!);
  await waitFor(() => expect(byId("server-switch")).not.toBeNull());
  return api;
}

async function setSwitch(on: boolean) {
  const box = byId("server-switch") as HTMLInputElement;
  await waitFor(() => expect(box.disabled).toBe(false));
  box.checked = on;
  await fireEvent.change(box);
}

function stubClipboard() {
  const writeText = vi.fn(async (_text: string) => {});
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
  return writeText;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the API server page", () => {
  it("switching on shows the address and the log; off hides them", async () => {
    await openServerPage();
    expect((byId("server-port") as HTMLInputElement).value).toBe("11435");
    expect(byId("server-address")).toBeNull();
    await setSwitch(true);
    await waitFor(() => expect(byId("server-address")?.textContent).toBe("http://127.0.0.1:11435/v1"));
    await waitFor(() => expect(all("server-log-row").length).toBeGreaterThan(0));
    const row = all("server-log-row")[0]!;
    expect(row.textContent).toContain("POST");
    expect(row.textContent).toContain("/v1/chat/completions");
    expect(row.textContent).toContain("200");
    expect(row.textContent).toContain("812");
    // Not exposed: no key is needed or shown.
    expect(byId("server-key")).toBeNull();
    await setSwitch(false);
    await waitFor(() => expect(byId("server-address")).toBeNull());
    expect(all("server-log-row")).toHaveLength(0);
  });

  it("reachable from other devices warns that a key is needed; copy puts the full key on the clipboard", async () => {
    const writeText = stubClipboard();
    await openServerPage();
    expect(byId("server-key-warning")).toBeNull();
    await fireEvent.click(byId("server-expose")!);
    await waitFor(() => expect(byId("server-key-warning")).not.toBeNull());
    expect(byId("server-key-warning")!.textContent).toContain("key is required");
    await setSwitch(true);
    await waitFor(() => expect(byId("server-address")?.textContent).toContain("0.0.0.0"));
    // Shown masked, never in full.
    await waitFor(() => expect(byId("server-key")?.textContent).toContain("cdef"));
    expect(document.body.textContent).not.toContain(MOCK_SERVER_KEY);
    await fireEvent.click(byId("server-key-copy")!);
    await waitFor(() => expect(writeText).toHaveBeenCalledWith(MOCK_SERVER_KEY));
    expect(document.body.textContent).not.toContain(MOCK_SERVER_KEY);
  });

  it("a port in use is shown as an error and the server stays off", async () => {
    await openServerPage();
    await fireEvent.input(byId("server-port")!, { target: { value: String(MOCK_BUSY_PORT) } });
    await setSwitch(true);
    await waitFor(() => expect(document.querySelector('[role="alert"]')?.textContent).toContain("already in use"));
    expect((byId("server-switch") as HTMLInputElement).checked).toBe(false);
    expect(byId("server-address")).toBeNull();
  });
});

describe("the API server page's settings", () => {
  it("passes the allowed origins and shows them again when reopened", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    const start = vi.spyOn(api, "startServer");
    await openServerPage(api);
    const field = byId("server-origins") as HTMLTextAreaElement;
    field.value = "http://localhost:5173\n\nhttps://tool.example:8443";
    await fireEvent.input(field);
    await setSwitch(true);
    await waitFor(() => expect(start).toHaveBeenCalled());
    expect(start.mock.calls[0]?.[0].corsOrigins).toEqual(["http://localhost:5173", "https://tool.example:8443"]);
    expect((await api.serverStatus()).corsOrigins).toEqual(["http://localhost:5173", "https://tool.example:8443"]);
    await waitFor(() => expect((byId("server-origins") as HTMLTextAreaElement).disabled).toBe(true));
  });

  it("refuses an origin with a path and does not start", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    const start = vi.spyOn(api, "startServer");
    await openServerPage(api);
    const field = byId("server-origins") as HTMLTextAreaElement;
    field.value = "http://localhost:5173/app";
    await fireEvent.input(field);
    await setSwitch(true);
    await waitFor(() => expect(byId("server-origins-error")?.textContent).toContain("localhost:5173/app"));
    expect(start).not.toHaveBeenCalled();
    expect((byId("server-switch") as HTMLInputElement).checked).toBe(false);
  });

  it("saves the cloud-models and history switches", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    await openServerPage(api);
    const cloud = byId("api-cloud-models") as HTMLInputElement;
    const store = byId("api-store-conversations") as HTMLInputElement;
    expect(cloud.checked).toBe(false);
    expect(store.checked).toBe(false);
    cloud.checked = true;
    await fireEvent.change(cloud);
    await waitFor(async () => expect((await api.apiSettings()).cloudModels).toBe(true));
    store.checked = true;
    await fireEvent.change(store);
    await waitFor(async () => expect(await api.apiSettings()).toEqual({ cloudModels: true, storeConversations: true }));
  });

  it("shows the network address when exposed", async () => {
    await openServerPage();
    const expose = byId("server-expose") as HTMLInputElement;
    expose.checked = true;
    await fireEvent.change(expose);
    await setSwitch(true);
    await waitFor(() => expect(byId("server-lan-address")?.textContent).toBe("http://192.168.1.20:11435/v1"));
  });
});
