import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
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

describe("a model's load settings (issues 17 and 21)", () => {
  it("sets the context and KV cache type, shows the new memory need, refuses a bad context", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await waitFor(() => expect(byId("nav-models")).not.toBeNull());
    await fireEvent.click(byId("nav-models")!);
    await waitFor(() => expect(all("library-row").length).toBe(3));
    await fireEvent.click(screen.getByRole("button", { name: "Load settings of SmolLM2 135M Instruct · Q4_K_M" }));
    const form = await screen.findByRole("form", { name: "Load settings of SmolLM2 135M Instruct · Q4_K_M" });
    await waitFor(() => expect(within(form).getByTestId("load-kv-type")).toBeTruthy());

    await fireEvent.input(within(form).getByTestId("load-context"), { target: { value: "100" } });
    await fireEvent.submit(form);
    expect((await within(form).findByRole("alert")).textContent).toContain("256");

    await fireEvent.input(within(form).getByTestId("load-context"), { target: { value: "16384" } });
    expect(form.textContent).toContain("past that, answers may degrade");
    await fireEvent.change(within(form).getByTestId("load-kv-type"), { target: { value: "q8_0" } });
    await fireEvent.submit(form);
    const saved = await within(form).findByTestId("load-saved");
    // 98 MB × 1.2 + 16384 tokens × 53,125 bytes (the mock's q8_0 cache).
    expect(saved.textContent).toContain("Memory needed");
    expect(within(form).queryByRole("alert")).toBeNull();

    // Opened again, it shows what was saved.
    await fireEvent.click(screen.getByRole("button", { name: "Load settings of SmolLM2 135M Instruct · Q4_K_M" }));
    await fireEvent.click(screen.getByRole("button", { name: "Load settings of SmolLM2 135M Instruct · Q4_K_M" }));
    const again = await screen.findByRole("form", { name: "Load settings of SmolLM2 135M Instruct · Q4_K_M" });
    await waitFor(() => expect((within(again).getByTestId("load-context") as HTMLInputElement).value).toBe("16384"));
    expect((within(again).getByTestId("load-kv-type") as HTMLSelectElement).value).toBe("q8_0");
  });

  it("sets the CPU threads, says when they take effect, refuses a bad count and stores nothing", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    const stored = vi.spyOn(api, "setLoadSettings");
    render(App, { api });
    await waitFor(() => expect(byId("nav-models")).not.toBeNull());
    await fireEvent.click(byId("nav-models")!);
    await waitFor(() => expect(all("library-row").length).toBe(3));
    const name = "Load settings of SmolLM2 135M Instruct · Q4_K_M";
    await fireEvent.click(screen.getByRole("button", { name }));
    const form = await screen.findByRole("form", { name });
    await waitFor(() => expect(within(form).getByTestId("load-threads")).toBeTruthy());
    expect(within(form).getByTestId("load-threads-note").textContent).toContain("1 to 16");

    for (const bad of ["0", "17", "2.5"]) {
      await fireEvent.input(within(form).getByTestId("load-threads"), { target: { value: bad } });
      await fireEvent.submit(form);
      expect((await within(form).findByRole("alert")).textContent).toContain("Threads: a whole number from 1 to 16");
    }
    expect(stored).not.toHaveBeenCalled();

    await fireEvent.input(within(form).getByTestId("load-threads"), { target: { value: "4" } });
    await fireEvent.submit(form);
    const saved = await within(form).findByTestId("load-saved");
    expect(saved.textContent).toContain("Threads take effect when Hearth next starts");
    expect(stored).toHaveBeenCalledWith("smollm2-135m-instruct", expect.objectContaining({ threads: 4 }));
  });
});
