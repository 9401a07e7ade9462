import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";
import App from "./App.svelte";
import { mockApi } from "./lib/mock";

const byId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (id: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const answers = () => all("message").filter((m) => m.dataset.role === "assistant");
const lastAnswer = () => answers().at(-1);

async function ready() {
  await waitFor(() => expect(byId("new-chat")).not.toBeNull());
}

async function newChatAndSend(text: string) {
  await fireEvent.click(byId("new-chat")!);
  await waitFor(() => expect(byId("composer-input")).not.toBeNull());
  const box = byId("composer-input") as HTMLTextAreaElement;
  await fireEvent.input(box, { target: { value: text } });
  await fireEvent.click(byId("send")!);
}

describe("the chat", () => {
  it("streams an answer, then shows it as sanitised Markdown", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "Paris is the **capital**. <img src=x onerror=alert(1)>" }) });
    await ready();
    await newChatAndSend("What is the capital of France?");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    const content = within(lastAnswer()!).getByTestId("message-content");
    expect(content.querySelector("strong")?.textContent).toBe("capital");
    expect(content.querySelector("img")).toBeNull();
    expect(all("message")[0]?.dataset.role).toBe("user");
  });

  it("stop keeps the answer as cancelled, and it can be continued", async () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i} `).join("");
    render(App, { api: mockApi({ tokenDelayMs: 5, answer: words }) });
    await ready();
    await newChatAndSend("Tell me a long story");
    await waitFor(() => expect(lastAnswer()?.textContent ?? "").toContain("word3"));
    await fireEvent.click(byId("stop")!);
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("cancelled"));
    expect(lastAnswer()?.textContent).not.toContain("word399");
    expect(within(lastAnswer()!).getByTestId("continue")).toBeTruthy();
  });

  it("regenerate adds a branch that the switcher can leave and return to", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "An answer." }) });
    await ready();
    await newChatAndSend("Hello");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await fireEvent.click(within(lastAnswer()!).getByTestId("regenerate"));
    await waitFor(() => expect(byId("branch-label")?.textContent).toBe("2/2"));
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await fireEvent.click(byId("branch-prev")!);
    await waitFor(() => expect(byId("branch-label")?.textContent).toBe("1/2"));
  });

  it("editing a question sends it as a new version beside the old one", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "An answer." }) });
    await ready();
    await newChatAndSend("Helo");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    const question = () => all("message").find((m) => m.dataset.role === "user")!;
    await waitFor(() => expect(within(question()).getByTestId("edit")).toBeTruthy());
    await fireEvent.click(within(question()).getByTestId("edit"));
    const editor = within(question()).getByLabelText("Edit your message") as HTMLTextAreaElement;
    expect(editor.value).toBe("Helo");
    await fireEvent.input(editor, { target: { value: "Hello" } });
    await fireEvent.click(within(question()).getByText("Send as a new version"));
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await waitFor(() => expect(within(question()).getByTestId("branch-label").textContent).toBe("2/2"));
    expect(within(question()).getByTestId("message-content").textContent).toBe("Hello");
    await fireEvent.click(within(question()).getByTestId("branch-prev"));
    await waitFor(() => expect(within(question()).getByTestId("message-content").textContent).toBe("Helo"));
  });

  it("says when older messages were left out of the context window", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "ok", droppedTurns: 4 }) });
    await ready();
    await newChatAndSend("Hello");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    expect(screen.getByRole("status").textContent).toContain("4 older messages were left out");
  });

  it("search shows a highlighted snippet as text, never as HTML", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, answer: "ok" }) });
    await ready();
    await newChatAndSend("fresh bread <img src=x onerror=alert(1)> recipe");
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("complete"));
    await fireEvent.input(byId("search-input")!, { target: { value: "bread" } });
    await waitFor(() => expect(byId("search-hit")).not.toBeNull());
    const hit = byId("search-hit")!;
    expect(hit.querySelector("mark")?.textContent).toBe("bread");
    expect(hit.querySelector("img")).toBeNull();
    expect(hit.textContent).toContain("<img src=x");
  });

  it("the model picker shows each model's fit", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("model-picker")).not.toBeNull());
    const picker = byId("model-picker") as HTMLSelectElement;
    const options = [...picker.options].map((o) => o.textContent ?? "");
    // Named from the file's metadata, not its file name.
    expect(options.some((o) => o.startsWith("SmolLM2 135M Instruct · Q4_K_M · fits"))).toBe(true);
    expect(options.some((o) => o.includes("big-70b") && o.includes("won't fit"))).toBe(true);
    // Each option says how fast it is expected to answer.
    expect(options.every((o) => o === "Choose a model…" || /tok\/s/.test(o))).toBe(true);
    // New chats pick a model that fits.
    expect(picker.value).toBe("smollm2-135m-instruct");
    expect(byId("fit-badge")?.dataset.fit).toBe("fits");
  });
});

describe("models", () => {
  it("lists own models, other apps' models read-only, and imports a file", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await fireEvent.click(byId("nav-models")!);
    await waitFor(() => expect(all("library-row").length).toBe(3));
    const external = all("library-row").find((r) => r.textContent?.includes("qwen2.5-7b-instruct"))!;
    expect(external.textContent).toContain("LM Studio");
    expect(external.textContent).toContain("read-only");
    expect(within(external).queryByText("Delete")).toBeNull();
    expect(within(external).getByTestId("fit-badge").textContent).toContain("tight~");
    await fireEvent.click(screen.getByText("Import a .gguf (copy)"));
    await waitFor(() => expect(all("library-row").length).toBe(4));
  });
});

describe("conversation settings", () => {
  it("saves the system prompt and sampling, and makes a preset from them", async () => {
    const api = mockApi({ tokenDelayMs: 1 });
    render(App, { api });
    await ready();
    await fireEvent.click(byId("new-chat")!);
    await waitFor(() => expect(byId("conversation-settings")).not.toBeNull());
    await fireEvent.click(byId("conversation-settings")!);
    await waitFor(() => expect(byId("system-prompt")).not.toBeNull());
    await fireEvent.input(byId("system-prompt")!, { target: { value: "Answer in French." } });
    await fireEvent.input(byId("sampling-temperature")!, { target: { value: "0.3" } });
    await fireEvent.click(byId("save-conversation-settings")!);
    await waitFor(() => expect(screen.getByText("Saved")).toBeTruthy());
    const [summary] = await api.listConversations();
    const view = await api.openConversation(summary!.id);
    expect(view.conversation.systemPrompt).toBe("Answer in French.");
    expect(view.conversation.sampling.temperature).toBe(0.3);

    await fireEvent.click(screen.getByText("New preset from these settings"));
    await fireEvent.input(screen.getByLabelText("Name"), { target: { value: "French" } });
    await fireEvent.click(screen.getByText("Save preset"));
    await waitFor(() => expect(screen.getByRole("option", { name: "French (v1)" })).toBeTruthy());
    const [preset] = await api.listPresets();
    expect(preset?.systemPrompt).toBe("Answer in French.");
    expect(preset?.sampling.temperature).toBe(0.3);
  });
});

describe("settings", () => {
  it("the theme follows the system until chosen by hand", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    expect(document.documentElement.dataset.theme).toBeUndefined();
    await fireEvent.click(byId("nav-settings")!);
    await waitFor(() => expect(screen.getByLabelText("dark", { exact: false })).toBeTruthy());
    await fireEvent.click(screen.getByLabelText("dark", { exact: false }));
    await waitFor(() => expect(document.documentElement.dataset.theme).toBe("dark"));
    await fireEvent.click(screen.getByLabelText("system", { exact: false }));
    await waitFor(() => expect(document.documentElement.dataset.theme).toBeUndefined());
    expect(screen.getByText("encrypted (SQLCipher)")).toBeTruthy();
  });
});

describe("discover", () => {
  it("searches Hugging Face, lists a repo's files with their fit, and downloads one into the library", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1 }) });
    await ready();
    await fireEvent.click(byId("nav-models")!);
    await fireEvent.click(screen.getByRole("tab", { name: "Discover" }));
    await fireEvent.input(byId("hub-search-input")!, { target: { value: "smollm" } });
    await fireEvent.submit(byId("hub-search-input")!.closest("form")!);
    await waitFor(() => expect(byId("repo-result")).not.toBeNull());
    await fireEvent.click(byId("repo-result")!);
    await waitFor(() => expect(all("repo-file-download").length).toBeGreaterThan(0));
    const row = byId("repo-file-download")!.closest("tr")!;
    expect(within(row).getByTestId("fit-badge").textContent).toContain("tok/s");
    await fireEvent.click(byId("repo-file-download")!);
    await waitFor(() => expect(byId("download-progress")?.dataset.state).toBe("finished"));
    await fireEvent.click(screen.getByRole("tab", { name: "Library" }));
    await waitFor(() => expect(all("library-row").length).toBe(4));
  });
});

describe("downloads", () => {
  it("pause, resume, then pause and cancel", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 20 }) });
    await ready();
    await fireEvent.click(byId("nav-models")!);
    await fireEvent.click(screen.getByRole("tab", { name: "Discover" }));
    await waitFor(() => expect(byId("catalog-download")).not.toBeNull());
    await fireEvent.click(byId("catalog-download")!);
    await waitFor(() => expect(byId("download-progress")?.dataset.state).toBe("running"));
    await fireEvent.click(screen.getByText("Pause"));
    await waitFor(() => expect(byId("download-progress")?.dataset.state).toBe("paused"));
    // Listed once: the paused download is not repeated as "interrupted".
    expect(screen.queryByText("Interrupted downloads")).toBeNull();
    await fireEvent.click(screen.getByText("Resume"));
    await waitFor(() => expect(byId("download-progress")?.dataset.state).toBe("running"));
    await fireEvent.click(screen.getByText("Pause"));
    await waitFor(() => expect(byId("download-progress")?.dataset.state).toBe("paused"));
    await fireEvent.click(byId("download-cancel")!);
    await waitFor(() => expect(byId("download-progress")).toBeNull());
    expect(screen.queryByText("Interrupted downloads")).toBeNull();
    expect(screen.getByText("No downloads.")).toBeTruthy();
  });
});

describe("keyboard", () => {
  it("Ctrl+N opens a new chat, Ctrl+K focuses search, Escape stops an answer", async () => {
    const words = Array.from({ length: 400 }, (_, i) => `word${i} `).join("");
    render(App, { api: mockApi({ tokenDelayMs: 5, answer: words }) });
    await ready();
    await fireEvent.keyDown(window, { key: "n", ctrlKey: true });
    await waitFor(() => expect(byId("composer-input")).not.toBeNull());
    await fireEvent.keyDown(window, { key: "k", metaKey: true });
    expect(document.activeElement).toBe(byId("search-input"));
    const box = byId("composer-input") as HTMLTextAreaElement;
    await fireEvent.input(box, { target: { value: "Tell me a long story" } });
    await fireEvent.keyDown(box, { key: "Enter" });
    await waitFor(() => expect(byId("stop")).not.toBeNull());
    await waitFor(() => expect(lastAnswer()?.textContent ?? "").toContain("word2"));
    await fireEvent.keyDown(window, { key: "Escape" });
    await waitFor(() => expect(lastAnswer()?.dataset.status).toBe("cancelled"));
    expect(byId("send")).not.toBeNull();
  });
});

describe("start", () => {
  it("a failed start shows an error screen, not a blank window", async () => {
    render(App, {
      api: mockApi({ startup: { kind: "failed", error: { kind: "locked", message: "the chat history is locked" } } }),
    });
    await waitFor(() => expect(byId("error-screen")).not.toBeNull());
    expect(screen.getByRole("alert").textContent).toContain("the chat history is locked");
  });

  it("a startup that throws (not a typed error) still shows the error screen", async () => {
    const api = mockApi();
    api.startup = () => Promise.reject(new Error("the Tauri bindings are not built yet"));
    render(App, { api });
    await waitFor(() => expect(byId("error-screen")).not.toBeNull());
    expect(screen.getByRole("alert").textContent).toContain("not built yet");
  });

  it("first run recommends a model, downloads it, and opens a chat with it", async () => {
    render(App, { api: mockApi({ tokenDelayMs: 1, emptyLibrary: true }) });
    await waitFor(() => expect(byId("welcome")).not.toBeNull());
    await waitFor(() => expect(byId("catalog-download")).not.toBeNull());
    expect(byId("welcome")?.textContent).toContain("SmolLM2 1.7B Instruct");
    await fireEvent.click(byId("catalog-download")!);
    await waitFor(() => expect(byId("download-progress")).not.toBeNull());
    await waitFor(() => expect(byId("composer-input")).not.toBeNull());
    expect((byId("model-picker") as HTMLSelectElement).value).not.toBe("");
  });
});
