// The app's state: one object the components share. Every change goes through
// the Api; what comes back is the truth.

import type {
  Api,
  AppError,
  ChatMessage,
  Consent,
  ConversationSummary,
  ConversationView,
  DownloadEvent,
  LibraryModel,
  PendingCall,
  Running,
  SearchHit,
  ToolApproval,
} from "./api";
import { DocsState } from "./docs.svelte";
import { errorMessage } from "./format";

export type Page = "chat" | "documents" | "models" | "providers" | "usage" | "network" | "server" | "hardware" | "settings";

/** A turn waiting for the user's consent to leave the machine. */
export interface ConsentAsk {
  backend: string;
  reason: string | null;
  /** Runs the same turn again with the user's answer. */
  retry: (consent: Consent) => Promise<void>;
}

export interface Download {
  spec: string;
  model: string;
  done: number;
  total: number;
  bytesPerSec: number;
  etaSecs: number | null;
  state: "running" | "verifying" | "paused" | "failed" | "finished" | "cancelled";
  error: string | null;
  running: Running | null;
}

export class AppState {
  api: Api;
  page = $state<Page>("chat");
  conversations = $state<ConversationSummary[]>([]);
  hits = $state<SearchHit[] | null>(null);
  query = $state("");
  current = $state<ConversationView | null>(null);
  models = $state<LibraryModel[]>([]);
  /** The answer being written, if any. */
  generating = $state<Running | null>(null);
  streamingId = $state<string | null>(null);
  droppedTurns = $state(0);
  downloads = $state<Download[]>([]);
  error = $state<string | null>(null);
  /** Every `provider:model` the providers offer; null until asked for (it takes a call to each). */
  cloudModels = $state<string[] | null>(null);
  /** The consent dialog's question, when a turn is waiting for it. */
  consent = $state<ConsentAsk | null>(null);
  /** A tool call waiting for the user's approval (before it runs). */
  toolAsk = $state<PendingCall | null>(null);
  /** Set when the last answer reached the cap on rounds of tool calls. */
  toolLimit = $state<number | null>(null);

  /** Indexing runs, app-wide (they go on while another screen is shown). */
  docs: DocsState;

  constructor(api: Api) {
    this.api = api;
    this.docs = new DocsState(api);
  }

  fail(e: unknown) {
    this.error = errorMessage(e);
  }

  async refresh() {
    try {
      this.conversations = await this.api.listConversations();
      this.models = await this.api.listModels();
    } catch (e) {
      this.fail(e);
    }
  }

  async refreshModels() {
    try {
      this.models = await this.api.listModels();
    } catch (e) {
      this.fail(e);
    }
  }

  /** The model new chats use: the most recently used one that fits, else the first. */
  defaultModel(): string | null {
    const usable = this.models.filter((m) => m.fit.fit !== "wont_fit");
    const pool = usable.length > 0 ? usable : this.models;
    const sorted = [...pool].sort((a, b) => (b.lastUsed ?? 0) - (a.lastUsed ?? 0));
    return sorted[0]?.id ?? null;
  }

  async newChat(model: string | null = this.defaultModel()) {
    try {
      const c = await this.api.createConversation({ model, systemPrompt: null, presetId: null });
      this.page = "chat";
      this.current = { conversation: c, messages: [], documents: null };
      this.droppedTurns = 0;
      await this.refresh();
    } catch (e) {
      this.fail(e);
    }
  }

  async open(id: string) {
    try {
      this.current = await this.api.openConversation(id);
      this.page = "chat";
      this.droppedTurns = 0;
    } catch (e) {
      this.fail(e);
    }
  }

  async search(query: string) {
    this.query = query;
    if (!query.trim()) {
      this.hits = null;
      return;
    }
    try {
      const hits = await this.api.searchConversations(query);
      if (this.query === query) this.hits = hits;
    } catch (e) {
      this.fail(e);
    }
  }

  /** Runs a turn and keeps `current` in step with its events. */
  private async run(
    start: (onEvent: (e: import("./api").ChatEvent) => void) => Running,
    retry: (consent: Consent) => Promise<void>,
  ) {
    const conv = this.current;
    if (!conv || this.generating) return;
    const convId = conv.conversation.id;
    /** How the documents entered the turn (its event comes before `started`). */
    let documents: string | null = null;
    const onEvent = (e: import("./api").ChatEvent) => {
      const view = this.current;
      if (!view || view.conversation.id !== convId) return;
      if (e.kind === "documents") {
        documents = e.summary;
      } else if (e.kind === "started") {
        this.droppedTurns = e.droppedTurns;
        this.streamingId = e.assistantMessage;
        if (!view.messages.some((m) => m.id === e.assistantMessage)) {
          view.messages.push({ ...placeholder(e.assistantMessage), documents });
        }
      } else if (e.kind === "trimmed") {
        // The provider refused the prompt as too long; it went again without
        // these oldest turns: the same notice as turns left out to fit.
        this.droppedTurns = e.droppedTurns;
      } else if (e.kind === "token") {
        const m = view.messages.find((m) => m.id === this.streamingId);
        if (m) m.content += e.text;
      } else if (e.kind === "reasoning") {
        // A reasoning model's thinking, split from the answer by the backend.
        const m = view.messages.find((m) => m.id === this.streamingId);
        if (m) m.reasoning = (m.reasoning ?? "") + e.text;
      } else if (e.kind === "finished") {
        const at = view.messages.findIndex((m) => m.id === e.message.id);
        if (at >= 0) view.messages[at] = e.message;
        this.streamingId = null;
      } else if (e.kind === "failed") {
        this.error = e.error.message;
      } else if (e.kind === "toolApproval") {
        this.toolAsk = e.call;
      } else if (e.kind === "toolResult") {
        if (!view.messages.some((m) => m.id === e.message.id)) view.messages.push(e.message);
      } else if (e.kind === "toolLimit") {
        this.toolLimit = e.rounds;
      }
    };
    let running: Running;
    this.toolLimit = null;
    try {
      running = start(onEvent);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.generating = running;
    try {
      await running.done;
    } catch (e) {
      const err = e as Partial<AppError> | null;
      if (err && typeof err === "object" && err.kind === "consentNeeded" && err.consent) {
        // Nothing was stored or sent: ask, then run the same turn again.
        this.consent = { backend: err.consent.backend, reason: err.consent.reason, retry };
      } else {
        this.fail(e);
      }
    } finally {
      this.generating = null;
      this.streamingId = null;
      this.toolAsk = null;
      // The stored truth: ids of the user message, siblings, final statuses.
      if (this.current?.conversation.id === convId) {
        try {
          this.current = await this.api.openConversation(convId);
        } catch (e) {
          this.fail(e);
        }
      }
      await this.refresh();
    }
  }

  async send(text: string, consent?: Consent) {
    const conv = this.current;
    if (!conv || !text.trim()) return;
    conv.messages.push({ ...placeholder("pending-user"), role: "user", content: text, status: "complete" });
    await this.run(
      (onEvent) => this.api.send(conv.conversation.id, text, onEvent, consent),
      (c) => this.send(text, c),
    );
  }

  async regenerate(message: ChatMessage, consent?: Consent) {
    const conv = this.current;
    if (!conv) return;
    const at = conv.messages.findIndex((m) => m.id === message.id);
    if (at >= 0) conv.messages.splice(at);
    await this.run(
      (onEvent) => this.api.regenerate(conv.conversation.id, message.id, onEvent, consent),
      (c) => this.regenerate(message, c),
    );
  }

  async edit(message: ChatMessage, text: string, consent?: Consent) {
    const conv = this.current;
    if (!conv || !text.trim()) return;
    const at = conv.messages.findIndex((m) => m.id === message.id);
    if (at >= 0) conv.messages.splice(at, conv.messages.length - at, { ...message, id: "pending-user", content: text });
    await this.run(
      (onEvent) => this.api.editAndResend(conv.conversation.id, message.id, text, onEvent, consent),
      (c) => this.edit(message, text, c),
    );
  }

  async continueAnswer(message: ChatMessage, consent?: Consent) {
    const conv = this.current;
    if (!conv) return;
    await this.run(
      (onEvent) => this.api.continueAnswer(conv.conversation.id, message.id, onEvent, consent),
      (c) => this.continueAnswer(message, c),
    );
  }

  /**
   * Lists the providers' models once (each provider is asked, which is a
   * connection): only when a conversation lets messages leave, never for a
   * local-only one. `force` asks again.
   */
  async loadCloudModels(force = false) {
    if (this.cloudModels !== null && !force) return;
    const all: string[] = [];
    try {
      for (const p of await this.api.listProviders()) {
        try {
          for (const m of await this.api.providerModels(p.name)) all.push(`${p.name}:${m.id}`);
        } catch {
          // Offline or unreachable: its models are not offered now.
        }
      }
    } catch (e) {
      this.fail(e);
    }
    this.cloudModels = all;
  }

  /** After a fallback: forget it, so the next turn goes to the local model again. */
  async backToLocal() {
    const conv = this.current;
    if (!conv) return;
    try {
      await this.api.clearFallback(conv.conversation.id);
      if (conv.conversation.backend) {
        conv.conversation = await this.api.updateConversation(conv.conversation.id, { backend: null });
      }
    } catch (e) {
      this.fail(e);
    }
  }

  /** The user's answer to the consent dialog: "granted" sends the turn, anything else drops it. */
  async answerConsent(consent: Consent) {
    const ask = this.consent;
    this.consent = null;
    if (ask && consent === "granted") await ask.retry("granted");
  }

  /** The user's answer to the tool-call dialog. */
  async answerTool(answer: ToolApproval) {
    const ask = this.toolAsk;
    this.toolAsk = null;
    if (!ask) return;
    try {
      await this.api.answerToolCall(ask.approvalId, answer);
    } catch (e) {
      this.fail(e);
    }
  }

  async stop() {
    // Stop also answers a waiting tool call (the backend denies it).
    this.toolAsk = null;
    try {
      await this.generating?.stop();
    } catch (e) {
      this.fail(e);
    }
  }

  async switchBranch(messageId: string) {
    const conv = this.current;
    if (!conv || this.generating) return;
    try {
      this.current = await this.api.switchBranch(conv.conversation.id, messageId);
    } catch (e) {
      this.fail(e);
    }
  }

  /** Each pull's promise, so a cancel can wait until it has let go of its file. */
  private pulls = new Map<string, Promise<void>>();

  /** Stops a download (if running) and deletes what it left on disk. */
  async cancelPull(spec: string) {
    const d = this.downloads.find((x) => x.spec === spec);
    try {
      if (d?.running) await d.running.stop();
      await this.pulls.get(spec);
      const [repo, file] = spec.split(":");
      const left = (await this.api.pendingDownloads()).filter((p) => p.repo === repo && (file === undefined || p.file === file));
      for (const p of left) await this.api.cancelDownload(p.repo, p.file);
      this.downloads = this.downloads.filter((x) => x.spec !== spec);
    } catch (e) {
      this.fail(e);
    }
  }

  pull(spec: string): Promise<void> {
    const running = this.pulls.get(spec);
    if (running && this.downloads.some((d) => d.spec === spec && (d.state === "running" || d.state === "verifying"))) {
      return running;
    }
    const p = this.runPull(spec).finally(() => {
      if (this.pulls.get(spec) === p) this.pulls.delete(spec);
    });
    this.pulls.set(spec, p);
    return p;
  }

  private async runPull(spec: string) {
    if (this.downloads.some((d) => d.spec === spec && (d.state === "running" || d.state === "verifying"))) return;
    const d: Download = {
      spec,
      model: spec,
      done: 0,
      total: 0,
      bytesPerSec: 0,
      etaSecs: null,
      state: "running",
      error: null,
      running: null,
    };
    this.downloads = [d, ...this.downloads.filter((x) => x.spec !== spec)];
    const live = this.downloads[0];
    if (!live) return;
    const onEvent = (e: DownloadEvent) => {
      switch (e.kind) {
        case "started":
          live.model = e.model;
          live.total = e.total;
          live.done = e.done;
          break;
        case "progress":
          live.done = e.done;
          live.total = e.total;
          live.bytesPerSec = e.bytesPerSec ?? 0;
          live.etaSecs = e.etaSecs;
          break;
        case "verifying":
          live.state = "verifying";
          break;
        case "finished":
          live.state = "finished";
          break;
        case "paused":
          live.state = "paused";
          break;
        case "cancelled":
          live.state = "cancelled";
          break;
        case "failed":
          live.state = "failed";
          live.error = e.error.message;
          break;
        case "retrying":
          break;
      }
    };
    try {
      live.running = this.api.pull(spec, onEvent);
      await live.running.done;
      live.state = "finished";
    } catch (e) {
      if (live.state === "running" || live.state === "verifying") {
        live.state = "failed";
        live.error = errorMessage(e as AppError);
      }
    } finally {
      live.running = null;
      await this.refreshModels();
    }
  }
}

function placeholder(id: string): ChatMessage {
  return {
    id,
    parentId: null,
    role: "assistant",
    content: "",
    reasoning: null,
    status: "streaming",
    backend: null,
    model: null,
    metrics: { tokensIn: null, tokensOut: null, promptTokensReused: null, ttftMs: null, decodeTokS: null, latencyMs: null },
    error: null,
    fallbackReason: null,
    createdAt: Date.now(),
    siblings: [id],
    citations: [],
    documents: null,
    toolCalls: [],
    toolCallId: null,
  };
}
