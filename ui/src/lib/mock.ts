// An in-memory backend with the same contract as the Tauri shell: the UI runs
// in a plain browser (`npm run dev`) and in component tests with it.

import type {
  Api,
  AppError,
  CatalogModel,
  ChatEvent,
  ChatMessage,
  Conversation,
  ConversationView,
  DownloadEvent,
  LibraryModel,
  PendingDownload,
  Preset,
  Running,
  Sampling,
  SearchHit,
  Settings,
  Startup,
} from "./api";

export interface MockOptions {
  /** Milliseconds between streamed tokens (0: as fast as timers allow). */
  tokenDelayMs?: number;
  /** What `startup()` answers. */
  startup?: Startup;
  /** Start with an empty library (first run). */
  emptyLibrary?: boolean;
  /** The words of every answer. */
  answer?: string;
  /** How many older turns every answer reports as left out of the context window. */
  droppedTurns?: number;
}

const noSampling: Sampling = {
  temperature: null,
  topK: null,
  topP: null,
  minP: null,
  repeatPenalty: null,
  seed: null,
  maxTokens: null,
};

const fit = (verdict: "fits" | "tight" | "wont_fit", total: number, tokS: number) => ({
  fit: verdict,
  total,
  decodeTokS: tokS,
  approximate: false,
  measured: false,
});

function model(id: string, size: number, verdict: "fits" | "tight" | "wont_fit"): LibraryModel {
  return {
    id,
    name: id,
    architecture: "llama",
    parameters: size * 1.6,
    quant: "Q4_K_M",
    contextLength: 8192,
    size,
    hasChatTemplate: true,
    source: { kind: "downloaded", repo: `example/${id}-GGUF` },
    owned: true,
    path: `/models/${id}.gguf`,
    addedAt: Date.now() - 86_400_000,
    lastUsed: null,
    fit: fit(verdict, size * 1.5, 30_000_000_000 / size),
  };
}

const notFound = (what: string): AppError => ({ kind: "notFound", message: `no ${what}` });

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function mockApi(options: MockOptions = {}): Api {
  const delay = options.tokenDelayMs ?? 40;
  const answerText =
    options.answer ??
    "Here is an answer with **bold** text, a list:\n\n- one\n- two\n\n```rust\nfn main() {}\n```\n";
  let seq = 0;
  const id = () => (++seq).toString(16).padStart(32, "0");

  const conversations = new Map<string, Conversation>();
  const messages = new Map<string, ChatMessage>();
  const leaf = new Map<string, string | null>();
  let library: LibraryModel[] = options.emptyLibrary
    ? []
    : [
        model("smollm2-135m-instruct", 98_000_000, "fits"),
        model("big-70b", 40_000_000_000, "wont_fit"),
        // A model another app owns: read in place, never deleted; fit estimated without the header.
        {
          ...model("qwen2.5-7b-instruct", 4_700_000_000, "tight"),
          source: { kind: "external", app: "lm_studio", label: "lmstudio-community/Qwen2.5-7B-Instruct-GGUF" },
          owned: false,
          path: "/home/you/.lmstudio/models/lmstudio-community/Qwen2.5-7B-Instruct-GGUF/qwen2.5-7b-instruct-q4_k_m.gguf",
          fit: { ...fit("tight", 6.5e9, 6), approximate: true },
        },
      ];
  const pending: PendingDownload[] = [];
  let presets: Preset[] = [];
  let settings: Settings = {
    dataDir: "/home/you/.local/share/hearth",
    encrypted: true,
    keyInKeychain: true,
    theme: "system",
    defaultSampling: { ...noSampling },
  };

  const children = (parent: string | null, conv: string) =>
    [...messages.values()].filter((m) => m.parentId === parent && conversations.has(conv) && convOf.get(m.id) === conv);
  const convOf = new Map<string, string>();

  function siblingsOf(m: ChatMessage): string[] {
    const conv = convOf.get(m.id) ?? "";
    return children(m.parentId, conv).map((s) => s.id);
  }

  function path(conv: string): ChatMessage[] {
    const out: ChatMessage[] = [];
    let at = leaf.get(conv) ?? null;
    while (at) {
      const m = messages.get(at);
      if (!m) break;
      out.unshift({ ...m, siblings: siblingsOf(m) });
      at = m.parentId;
    }
    return out;
  }

  function view(convId: string): ConversationView {
    const conversation = conversations.get(convId);
    if (!conversation) throw notFound("conversation");
    return { conversation: { ...conversation }, messages: path(convId) };
  }

  function add(conv: string, parent: string | null, role: ChatMessage["role"], content: string): ChatMessage {
    const m: ChatMessage = {
      id: id(),
      parentId: parent,
      role,
      content,
      status: role === "assistant" ? "streaming" : "complete",
      backend: role === "assistant" ? "local" : null,
      model: role === "assistant" ? conversations.get(conv)?.model ?? null : null,
      metrics: { tokensIn: null, tokensOut: null, promptTokensReused: null, ttftMs: null, decodeTokS: null, latencyMs: null },
      error: null,
      createdAt: Date.now(),
      siblings: [],
    };
    messages.set(m.id, m);
    convOf.set(m.id, conv);
    leaf.set(conv, m.id);
    const c = conversations.get(conv);
    if (c) c.updatedAt = Date.now();
    return m;
  }

  function stream(
    conv: string,
    answer: ChatMessage,
    userMessage: string | null,
    onEvent: (e: ChatEvent) => void,
  ): Running {
    let stopped = false;
    const done = (async () => {
      onEvent({ kind: "started", userMessage, assistantMessage: answer.id, droppedTurns: options.droppedTurns ?? 0, promptTokens: 12 });
      const words = answerText.split(/(?<=\s)/);
      let n = 0;
      for (const w of words) {
        if (stopped) break;
        await sleep(delay);
        if (stopped) break;
        answer.content += w;
        n++;
        onEvent({ kind: "token", text: w });
      }
      answer.status = stopped ? "cancelled" : "complete";
      answer.metrics = { tokensIn: 12, tokensOut: n, promptTokensReused: 0, ttftMs: 80, decodeTokS: 42.5, latencyMs: 900 };
      onEvent({ kind: "finished", message: { ...answer, siblings: siblingsOf(answer) } });
      void conv;
    })();
    return {
      done,
      stop: async () => {
        stopped = true;
      },
    };
  }

  const api: Api = {
    startup: async () => options.startup ?? { kind: "ready", firstRun: library.length === 0 },
    uiReady: async () => {},
    listConversations: async () =>
      [...conversations.values()]
        .sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.updatedAt - a.updatedAt)
        .map((c) => ({ id: c.id, title: c.title, model: c.model, pinned: c.pinned, updatedAt: c.updatedAt })),
    searchConversations: async (query) => {
      const q = query.trim().toLowerCase();
      if (!q) return [];
      const hits: SearchHit[] = [];
      for (const m of messages.values()) {
        const at = m.content.toLowerCase().indexOf(q);
        if (at < 0) continue;
        const conv = conversations.get(convOf.get(m.id) ?? "");
        if (!conv) continue;
        const snippet =
          m.content.slice(Math.max(0, at - 20), at) +
          "[[" +
          m.content.slice(at, at + q.length) +
          "]]" +
          m.content.slice(at + q.length, at + q.length + 30);
        hits.push({ conversationId: conv.id, messageId: m.id, title: conv.title, snippet, at: m.createdAt });
      }
      return hits;
    },
    createConversation: async (init) => {
      const c: Conversation = {
        id: id(),
        title: "New chat",
        model: init.model,
        systemPrompt: init.systemPrompt,
        sampling: { ...settings.defaultSampling },
        presetId: init.presetId,
        pinned: false,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      };
      conversations.set(c.id, c);
      leaf.set(c.id, null);
      return { ...c };
    },
    openConversation: async (convId) => view(convId),
    updateConversation: async (convId, patch) => {
      const c = conversations.get(convId);
      if (!c) throw notFound("conversation");
      Object.assign(c, patch);
      return { ...c };
    },
    deleteConversation: async (convId) => {
      conversations.delete(convId);
    },
    exportConversation: async (convId, format) =>
      format === "json" ? JSON.stringify(view(convId)) : `# ${view(convId).conversation.title}\n`,
    switchBranch: async (convId, messageId) => {
      // Follow the newest descendants down to a leaf.
      let at = messageId;
      for (;;) {
        const next = children(at, convId).at(-1);
        if (!next) break;
        at = next.id;
      }
      leaf.set(convId, at);
      return view(convId);
    },
    send: (convId, text, onEvent) => {
      const parent = leaf.get(convId) ?? null;
      const user = add(convId, parent, "user", text);
      const c = conversations.get(convId);
      if (c && c.title === "New chat") c.title = text.slice(0, 40);
      const answer = add(convId, user.id, "assistant", "");
      return stream(convId, answer, user.id, onEvent);
    },
    regenerate: (convId, assistantId, onEvent) => {
      const old = messages.get(assistantId);
      const answer = add(convId, old?.parentId ?? null, "assistant", "");
      return stream(convId, answer, null, onEvent);
    },
    editAndResend: (convId, userId, text, onEvent) => {
      const old = messages.get(userId);
      const user = add(convId, old?.parentId ?? null, "user", text);
      const answer = add(convId, user.id, "assistant", "");
      return stream(convId, answer, user.id, onEvent);
    },
    continueAnswer: (convId, assistantId, onEvent) => {
      const answer = messages.get(assistantId);
      if (!answer) throw notFound("message");
      answer.status = "streaming";
      return stream(convId, answer, null, onEvent);
    },
    listModels: async () => library.map((m) => ({ ...m })),
    catalog: async () => {
      const entries: CatalogModel[] = [
        { name: "SmolLM2 135M Instruct", repo: "bartowski/SmolLM2-135M-Instruct-GGUF", file: "SmolLM2-135M-Instruct-Q4_K_M.gguf", quant: "Q4_K_M", size: 105e6, parameters: 135e6, context: 8192, license: "apache-2.0", fit: fit("fits", 400e6, 250), recommended: false },
        { name: "SmolLM2 1.7B Instruct", repo: "bartowski/SmolLM2-1.7B-Instruct-GGUF", file: "SmolLM2-1.7B-Instruct-Q4_K_M.gguf", quant: "Q4_K_M", size: 1.1e9, parameters: 1.7e9, context: 8192, license: "apache-2.0", fit: fit("fits", 2e9, 26), recommended: true },
        { name: "Qwen 2.5 7B Instruct", repo: "bartowski/Qwen2.5-7B-Instruct-GGUF", file: "Qwen2.5-7B-Instruct-Q4_K_M.gguf", quant: "Q4_K_M", size: 4.7e9, parameters: 7.6e9, context: 32768, license: "apache-2.0", fit: fit("tight", 6e9, 6), recommended: false },
      ];
      return entries;
    },
    searchHub: async (query) => [
      { id: `example/${query || "model"}-GGUF`, downloads: 1234, likes: 56, updated: "2026-10-01T00:00:00Z", license: "apache-2.0", gated: false },
    ],
    repoFiles: async (repo) => ({
      repo,
      gated: false,
      license: "apache-2.0",
      files: [
        { name: "model-Q4_K_M.gguf", quant: "Q4_K_M", size: 98e6, parts: 1, fit: fit("fits", 400e6, 250) },
        { name: "model-Q8_0.gguf", quant: "Q8_0", size: 180e6, parts: 1, fit: fit("fits", 500e6, 160) },
      ],
    }),
    pull: (spec, onEvent) => {
      let stopped = false;
      const total = 50_000_000;
      const [repo = spec, file = "model.gguf"] = spec.split(":");
      // Resuming picks up the partial file: it is no longer "interrupted".
      const at = pending.findIndex((p) => p.repo === repo && p.file === file);
      const from = at >= 0 ? Math.round(((pending[at]?.done ?? 0) / total) * 10) : 0;
      if (at >= 0) pending.splice(at, 1);
      const done = (async () => {
        onEvent({ kind: "started", model: spec, total, done: (from * total) / 10 });
        for (let i = from + 1; i <= 10; i++) {
          await sleep(delay * 2);
          if (stopped) {
            onEvent({ kind: "paused" } satisfies DownloadEvent);
            pending.push({ repo, file, done: ((i - 1) * total) / 10, size: total });
            throw { kind: "hub", message: "download paused; run the same pull again to resume" } satisfies AppError;
          }
          onEvent({ kind: "progress", done: (i * total) / 10, total, bytesPerSec: 25e6, etaSecs: (10 - i) * 0.2 });
        }
        onEvent({ kind: "verifying" });
        const id = spec.split("/").at(-1)?.split(":")[0]?.toLowerCase() ?? "model";
        library = [...library, model(id, total, "fits")];
        onEvent({ kind: "finished", id });
      })();
      return { done, stop: async () => void (stopped = true) };
    },
    cancelDownload: async (repo, file) => {
      const at = pending.findIndex((p) => p.repo === repo && p.file === file);
      if (at >= 0) pending.splice(at, 1);
    },
    pendingDownloads: async () => [...pending],
    importModel: async (copy) => {
      // Stands in for the file dialog: always "picks" the same file.
      const m: LibraryModel = {
        ...model(`imported-${library.length}`, 250_000_000, "fits"),
        source: { kind: "imported", copied: copy },
        owned: copy,
      };
      library = [...library, m];
      return m;
    },
    deleteModel: async (modelId) => {
      library = library.filter((m) => m.id !== modelId);
    },
    revealModel: async () => {},
    hardware: async () => ({
      cpu: "Example CPU",
      cores: 8,
      ramTotal: 16e9,
      ramAvailable: 10e9,
      gpu: null,
      vram: null,
      device: "cpu",
      bandwidth: 30e9,
    }),
    listPresets: async () => presets.map((p) => ({ ...p })),
    savePreset: async (p) => {
      const existing = presets.find((x) => x.id === p.id);
      const saved: Preset = {
        id: p.id ?? id(),
        version: existing ? existing.version + 1 : 1,
        name: p.name,
        systemPrompt: p.systemPrompt,
        sampling: p.sampling,
      };
      presets = [...presets.filter((x) => x.id !== saved.id), saved];
      return saved;
    },
    deletePreset: async (presetId) => {
      presets = presets.filter((p) => p.id !== presetId);
    },
    settings: async () => ({ ...settings }),
    updateSettings: async (patch) => {
      settings = { ...settings, ...patch };
      return { ...settings };
    },
  };
  return api;
}
