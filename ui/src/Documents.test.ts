import { fireEvent, render, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { MOCK_EMBED_MODEL, mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const row = (name: string) => document.querySelector<HTMLElement>(`[data-testid="collection"][data-name="${name}"]`);
const answers = () => all("message").filter((m) => m.dataset.role === "assistant");

async function ready() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
}

async function documents() {
  await fireEvent.click(byId("nav-documents")!);
  await waitFor(() => expect(byId("documents-title") ?? byId("collections") ?? byId("no-collections")).not.toBeNull());
}

async function addPath(path: string) {
  await fireEvent.input(byId("docs-path")!, { target: { value: path } });
  await fireEvent.click(byId("add-path")!);
}

describe("the Documents screen", () => {
  it("creates a collection, indexes files with per-file outcomes, lists and removes files, renames, deletes after a confirm", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await documents();
    await waitFor(() => expect(byId("no-collections")).not.toBeNull());

    await fireEvent.input(byId("new-collection-name")!, { target: { value: "papers" } });
    await fireEvent.click(byId("create-collection")!);
    await waitFor(() => expect(row("papers")).not.toBeNull());
    expect(row("papers")!.textContent).toContain(MOCK_EMBED_MODEL);
    expect(within(row("papers")!).getByTestId("collection-files").textContent).toBe("0");
    await waitFor(() => expect(byId("no-files")).not.toBeNull());

    // One good file, a scanned PDF and a binary .txt: the errors listed per file, the rest indexed.
    await addPath("/home/you/a.md");
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("1 indexed"));
    await addPath("/home/you/scanned.pdf");
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("1 skipped"));
    expect(byId("index-errors")!.textContent).toContain("no text layer");
    await addPath("/home/you/folder");
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("2 indexed"));
    expect(all("index-file").map((f) => f.dataset.outcome)).toEqual(["indexed", "indexed"]);
    await waitFor(() => expect(all("doc-file")).toHaveLength(3));
    expect(within(row("papers")!).getByTestId("collection-files").textContent).toBe("3");
    expect(within(row("papers")!).getByTestId("collection-chunks").textContent).toBe("6");

    // Refresh: nothing changed, every file unchanged.
    await fireEvent.click(byId("refresh-collection")!);
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("3 unchanged"));
    await waitFor(() => expect(all("doc-file")).toHaveLength(3));

    await fireEvent.click(within(all("doc-file")[0]!).getByTestId("remove-file"));
    await waitFor(() => expect(all("doc-file")).toHaveLength(2));

    await fireEvent.click(byId("rename-collection")!);
    await fireEvent.input(byId("rename-input")!, { target: { value: "articles" } });
    await fireEvent.submit(byId("rename-input")!.closest("form")!);
    await waitFor(() => expect(row("articles")).not.toBeNull());
    expect(row("papers")).toBeNull();

    // Delete asks first, and says what goes.
    await fireEvent.click(byId("delete-collection")!);
    expect(byId("delete-confirm")!.textContent).toContain("chunks and vectors");
    expect(row("articles")).not.toBeNull();
    await fireEvent.click(byId("delete-confirm-yes")!);
    await waitFor(() => expect(byId("no-collections")).not.toBeNull());
  });

  it("cancels a run, keeps what was done and resumes it", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, indexHold: true }) });
    await ready();
    await documents();
    await fireEvent.input(byId("new-collection-name")!, { target: { value: "big" } });
    await fireEvent.click(byId("create-collection")!);
    await waitFor(() => expect(row("big")).not.toBeNull());
    await addPath("/home/you/one");
    await waitFor(() => expect(byId("cancel-indexing")).not.toBeNull());
    await fireEvent.click(byId("cancel-indexing")!);
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("Stopped"));
    expect(all("index-file").map((f) => f.dataset.outcome)).toEqual(["cancelled"]);
    expect(within(row("big")!).getByTestId("collection-files").textContent).toBe("0");
    await waitFor(() => expect(byId("resume-indexing")).not.toBeNull());
    await fireEvent.click(byId("resume-indexing")!);
    await waitFor(() => expect(byId("index-summary")?.textContent).toMatch(/^\s*Done/));
    expect(within(row("big")!).getByTestId("collection-files").textContent).toBe("2");
    expect(byId("resume-indexing")).toBeNull();
  });

  it("resumes on its own a run a quit cut short", async () => {
    const api = mockApi({ tokenDelayMs: 1, docsInterrupted: true });
    render(App, { api });
    await ready();
    await waitFor(async () => expect((await api.collections())[0]?.unfinished).toBeNull());
    expect((await api.collections())[0]?.files).toBe(2);
  });
});

describe("documents in a chat", () => {
  it("attaches files, shows the mode line and the citations, and opens a passage in a keyboard-usable dialog", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, docs: true }) });
    await ready();
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("attach-files")).not.toBeNull());
    await fireEvent.click(byId("attach-files")!);
    await waitFor(() => expect(byId("index-summary")?.textContent).toContain("1 indexed"));
    const picker = byId("chat-docs-picker") as HTMLSelectElement;
    await waitFor(() => expect(picker.value).toMatch(/^chat-/));

    await fireEvent.input(byId("composer-input")!, { target: { value: "What is in the file?" } });
    await fireEvent.click(byId("send")!);
    await waitFor(() => expect(answers()[0]?.dataset.status).toBe("complete"));
    const answer = answers()[0]!;
    expect(within(answer).getByTestId("documents-mode").textContent).toContain("(retrieval)");
    const citation = within(answer).getAllByTestId("citation")[0]!;
    expect(citation.textContent).toContain("[1]");
    expect(citation.textContent).toContain("picked.md");

    await fireEvent.click(citation);
    const dialog = await waitFor(() => {
      const d = byId("passage-dialog");
      expect(d).not.toBeNull();
      return d!;
    });
    expect(dialog.getAttribute("role")).toBe("dialog");
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    await waitFor(() => expect(byId("passage-text")?.textContent).toContain("The text of picked.md."));
    expect(byId("passage-after")!.textContent).toContain("More of picked.md.");
    expect(byId("passage-path")!.textContent).toContain("/home/you/notes/picked.md");
    expect(document.activeElement).toBe(byId("passage-close"));
    await fireEvent.keyDown(dialog, { key: "Escape" });
    await waitFor(() => expect(byId("passage-dialog")).toBeNull());
    expect(document.activeElement).toBe(citation);
  });

  it("uses an existing collection picked for the chat, its page and heading shown", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, docs: true }) });
    await ready();
    await fireEvent.click(byId("new-chat")!);
    const picker = await waitFor(() => {
      const p = byId("chat-docs-picker") as HTMLSelectElement | null;
      expect(p?.querySelector('option[value="notes"]')).not.toBeNull();
      return p!;
    });
    await fireEvent.change(picker, { target: { value: "notes" } });
    await fireEvent.input(byId("composer-input")!, { target: { value: "How do otters sleep?" } });
    await fireEvent.click(byId("send")!);
    await waitFor(() => expect(answers()[0]?.dataset.status).toBe("complete"));
    const citation = within(answers()[0]!).getAllByTestId("citation")[0]!;
    expect(citation.textContent).toContain("otters.md");
    expect(citation.textContent).toContain("§ Otters");
    expect(citation.textContent).toContain("Otters sleep holding hands");
  });
});
