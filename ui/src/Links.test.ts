import { fireEvent, render, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const lastAnswer = () =>
  [...document.querySelectorAll<HTMLElement>('[data-testid="message"]')].filter((m) => m.dataset.role === "assistant").at(-1);

describe("links in answers", () => {
  it("open through the shell's openLink, not in the app's window", async () => {
    const api = mockApi({
      tokenDelayMs: 1,
      answer: "See [the docs](https://example.com/docs?a=1) or [this](javascript:alert(1)).",
    });
    const opened: string[] = [];
    api.openLink = async (url) => {
      opened.push(url);
    };
    render(App, { api });
    await waitFor(() => expect(byId("new-chat")).not.toBeNull());
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("composer-input")).not.toBeNull());
    await fireEvent.input(byId("composer-input")!, { target: { value: "Where are the docs?" } });
    await fireEvent.click(byId("send")!);
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));

    const links = within(lastAnswer()!).getByTestId("message-content").querySelectorAll("a");
    expect(links).toHaveLength(2);
    const [docs, script] = [...links];
    // fireEvent answers false when the click's default (navigating) was prevented.
    expect(await fireEvent.click(docs!)).toBe(false);
    expect(opened).toEqual(["https://example.com/docs?a=1"]);
    // The sanitiser took the javascript: link's href; clicking it opens nothing.
    expect(await fireEvent.click(script!)).toBe(false);
    expect(opened).toEqual(["https://example.com/docs?a=1"]);
  });

  it("a refused link shows the shell's error", async () => {
    const api = mockApi({ tokenDelayMs: 1, answer: "[a link](https://example.com)" });
    api.openLink = async () => {
      throw { kind: "invalid", message: "Hearth opens only web (http, https) and email (mailto) links from answers" };
    };
    render(App, { api });
    await waitFor(() => expect(byId("new-chat")).not.toBeNull());
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("composer-input")).not.toBeNull());
    await fireEvent.input(byId("composer-input")!, { target: { value: "A link?" } });
    await fireEvent.click(byId("send")!);
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await fireEvent.click(within(lastAnswer()!).getByTestId("message-content").querySelector("a")!);
    await waitFor(() => expect(document.body.textContent).toContain("Hearth opens only web"));
  });
});
