// JSON output (issue 21): the per-chat switch, saved at once, and what it
// means for the chat's model.

import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);

async function openSettings() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
  await fireEvent.click(byId("new-chat")!);
  await waitFor(() => expect(byId("conversation-settings")).not.toBeNull());
  await fireEvent.click(byId("conversation-settings")!);
  await waitFor(() => expect(byId("json-output")).not.toBeNull());
}

describe("the JSON output switch", () => {
  it("is off by default, saves at once when switched, and says a local model is held to it", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    const update = vi.spyOn(api, "updateConversation");
    render(App, { api });
    await openSettings();
    const box = byId("json-output") as HTMLInputElement;
    expect(box.checked).toBe(false);
    expect(screen.getByLabelText(/JSON output/)).toBe(box);
    expect(byId("json-output-note")?.textContent).toContain("can only write valid JSON");

    await fireEvent.click(box);
    await waitFor(() => expect(update).toHaveBeenCalledWith(expect.any(String), { jsonOutput: true }));
    const [summary] = await api.listConversations();
    expect((await api.openConversation(summary!.id)).conversation.jsonOutput).toBe(true);
    await waitFor(() => expect((byId("json-output") as HTMLInputElement).checked).toBe(true));

    await fireEvent.click(byId("json-output")!);
    await waitFor(() => expect(update).toHaveBeenLastCalledWith(expect.any(String), { jsonOutput: false }));
    expect((await api.openConversation(summary!.id)).conversation.jsonOutput).toBe(false);
  });

  it("says Anthropic does not enforce it", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    render(App, { api });
    await waitFor(() => expect(byId("new-chat")).not.toBeNull());
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("conversation-settings")).not.toBeNull());
    const [summary] = await api.listConversations();
    await api.updateConversation(summary!.id, { backend: "anthropic:claude-3-5-haiku" });
    await fireEvent.click(byId("conversation-settings")!);
    await waitFor(() => expect(byId("json-output-note")).not.toBeNull());
    // The app holds the conversation as it opened it; the switch's answer brings the new backend's.
    await fireEvent.click(byId("json-output")!);
    await waitFor(() => expect(byId("json-output-note")?.textContent).toContain("Not enforced: Anthropic has no JSON mode"));
  });
});
