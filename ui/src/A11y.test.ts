// Accessibility check of every main screen with axe-core, in jsdom, against the
// mock backend: fast, and run with the unit tests. jsdom lays nothing out, so
// colour contrast is left to the real-window check (tests/e2e/desktop.py),
// which is the one that counts.
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import axe from "axe-core";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { mockApi } from "./lib/mock";

// jsdom has no canvas; axe then treats icon fonts as text (fine here).
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);

/** The serious and critical violations on the page, one line each. */
async function violations(): Promise<string[]> {
  const results = await axe.run(document.body, {
    resultTypes: ["violations"],
    rules: { "color-contrast": { enabled: false } },
  });
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("accessibility (axe-core)", () => {
  it("has no serious or critical violations on the first-run welcome", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, emptyLibrary: true }) });
    await waitFor(() => expect(document.querySelector(".welcome")).not.toBeNull());
    expect(await violations()).toEqual([]);
  });

  it("has no serious or critical violations on any main screen", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await waitFor(() => expect(byId("new-chat")).not.toBeNull());
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("composer-input")).not.toBeNull());
    const found: Record<string, string[]> = { chat: await violations() };
    for (const page of ["models", "providers", "usage", "network", "server", "hardware", "settings"]) {
      await fireEvent.click(byId(`nav-${page}`)!);
      await waitFor(() => expect(byId(`nav-${page}`)?.getAttribute("aria-current")).toBe("page"));
      // Let the screen load what it shows.
      await new Promise((r) => setTimeout(r, 50));
      found[page] = await violations();
      if (page === "models") {
        await fireEvent.click(screen.getByRole("tab", { name: "Discover" }));
        await fireEvent.input(byId("hub-search-input")!, { target: { value: "smollm" } });
        await fireEvent.submit(byId("hub-search-input")!.closest("form")!);
        await waitFor(() => expect(byId("repo-result")).not.toBeNull());
        await fireEvent.click(byId("repo-result")!);
        await waitFor(() => expect(byId("repo-file-download")).not.toBeNull());
        found["models: discover"] = await violations();
      }
    }
    for (const [page, list] of Object.entries(found)) expect(list, page).toEqual([]);
  });
});
