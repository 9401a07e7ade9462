// Reasoning models (issue 22, item 6): the thinking folded above the answer,
// and the per-chat thinking switch where the model's template has one.

import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import Thinking from "./components/Thinking.svelte";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const answers = () => [...document.querySelectorAll<HTMLElement>('[data-testid="message"]')].filter((m) => m.dataset.role === "assistant");
const lastAnswer = () => answers().at(-1);

async function ready() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
}

async function newChatAndSend(text: string) {
  await fireEvent.click(byId("new-chat")!);
  await waitFor(() => expect(byId("composer-input")).not.toBeNull());
  await fireEvent.input(byId("composer-input")!, { target: { value: text } });
  await fireEvent.click(byId("send")!);
}

describe("a reasoning model's thinking", () => {
  it("is folded above the answer, collapsed, and counted in words", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, reasoning: "The user wants a city. France: Paris.", answer: "Paris." }) });
    await ready();
    await newChatAndSend("Capital of France?");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    const answer = lastAnswer()!;
    const fold = within(answer).getByTestId("thinking") as HTMLDetailsElement;
    expect(fold.tagName).toBe("DETAILS");
    expect(fold.open).toBe(false);
    const summary = within(answer).getByTestId("thinking-summary");
    expect(summary.textContent).toBe("Thought for 7 words");
    // Labelled for screen readers, and a <summary>: reachable and toggled by keyboard.
    expect(summary.getAttribute("aria-label")).toContain("the model's reasoning");
    expect(within(answer).getByTestId("thinking-text").textContent).toBe("The user wants a city. France: Paris.");
    // The answer is only the answer, and comes after the fold.
    const content = within(answer).getByTestId("message-content");
    expect(content.textContent?.trim()).toBe("Paris.");
    expect(fold.compareDocumentPosition(content) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
  });

  it("is open while the model is still thinking", async () => {
    render(Thinking, { text: "Let me see", streaming: true });
    const fold = byId("thinking") as HTMLDetailsElement;
    expect(fold.open).toBe(true);
    expect(byId("thinking-summary")?.textContent).toBe("Thinking…");
  });

  it("is not shown for an answer without any", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "Paris." }) });
    await ready();
    await newChatAndSend("Capital of France?");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    expect(within(lastAnswer()!).queryByTestId("thinking")).toBeNull();
  });
});

describe("the thinking switch", () => {
  async function openSettings() {
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("conversation-settings")).not.toBeNull());
    await fireEvent.click(byId("conversation-settings")!);
    await waitFor(() => expect(byId("system-prompt")).not.toBeNull());
  }

  it("is offered when the model supports it, and saved with the chat", async () => {
    const api = mockApi({ tokenDelayMs: 1, supportsThinking: true });
    render(App, { api });
    await ready();
    await openSettings();
    const select = byId("thinking-switch") as HTMLSelectElement;
    expect(select.value).toBe("default");
    expect(screen.getByLabelText(/Thinking/)).toBe(select);
    await fireEvent.change(select, { target: { value: "off" } });
    await fireEvent.click(byId("save-conversation-settings")!);
    await waitFor(() => expect(screen.getByText("Saved")).toBeTruthy());
    const [summary] = await api.listConversations();
    const view = await api.openConversation(summary!.id);
    expect(view.conversation.sampling.thinking).toBe(false);
  });

  it("is not offered when the model has no switch", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await openSettings();
    expect(byId("thinking-switch")).toBeNull();
  });
});
