import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import type { Fit } from "./lib/api";
import { fitSpeed, fitSpeedNote } from "./lib/format";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

const fit = (decodeTokS: number | null, measured: boolean): Fit => ({
  fit: "fits",
  total: 300_000_000,
  decodeTokS,
  approximate: false,
  measured,
});

describe("the decode speed shown (issue 21)", () => {
  it("is the measured speed when there is one, else the bandwidth's bound as 'up to'", () => {
    expect(fitSpeed(fit(151.4, true))).toBe("~151 tok/s");
    expect(fitSpeed(fit(177.2, false))).toBe("up to 177 tok/s");
    expect(fitSpeed(fit(3.26, true))).toBe("~3.3 tok/s");
    expect(fitSpeed(fit(null, false))).toBe("");
    expect(fitSpeedNote(fit(151, true))).toContain("measured");
    expect(fitSpeedNote(fit(177, false))).toContain("upper bound");
  });
});

describe("the models screen", () => {
  it("shows the name from the header on one line, the id in the tooltip", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await waitFor(() => expect(byId("nav-models")).not.toBeNull());
    await fireEvent.click(byId("nav-models")!);
    await waitFor(() => expect(all("library-row").length).toBe(3));
    const name = all("model-name").find((n) => n.textContent === "SmolLM2 135M Instruct · Q4_K_M")!;
    expect(name).toBeTruthy();
    expect(name.classList.contains("ellipsis")).toBe(true);
    expect(name.title).toContain("smollm2-135m-instruct");
  });

  it("puts the fit hint next to each download of a Hub repo", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await waitFor(() => expect(byId("nav-models")).not.toBeNull());
    await fireEvent.click(byId("nav-models")!);
    await fireEvent.click(screen.getByRole("tab", { name: "Discover" }));
    await fireEvent.input(byId("hub-search-input")!, { target: { value: "smollm" } });
    await fireEvent.submit(byId("hub-search-input")!.closest("form")!);
    await waitFor(() => expect(byId("repo-result")).not.toBeNull());
    await fireEvent.click(byId("repo-result")!);
    await waitFor(() => expect(all("repo-file-download").length).toBeGreaterThan(0));
    for (const button of all("repo-file-download")) {
      const cell = button.parentElement!;
      expect(within(cell).getByTestId("fit-badge").textContent).toMatch(/tok\/s/);
    }
  });
});
