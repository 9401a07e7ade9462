// The Api over the Tauri shell: each call is one generated command
// (../bindings.ts, written by `cargo xtask codegen`); errors become thrown
// AppErrors; streams arrive over a Channel per request. The types are the
// generated ones throughout, so nothing here is cast.

import { Channel } from "@tauri-apps/api/core";
import { open } from "@tauri-apps/plugin-dialog";
import { commands, type TurnRequest } from "../bindings";
import type { Api, AppError, ChatEvent, Consent, DownloadEvent, IndexEvent, IndexReport, Indexing, Running } from "./api";

type Outcome<T> = { status: "ok"; data: T } | { status: "error"; error: AppError };

async function call<T>(result: Promise<Outcome<T>>): Promise<T> {
  const r = await result;
  if (r.status === "error") throw r.error;
  return r.data;
}

/** A command that answers nothing (`null` on the wire). */
async function done(result: Promise<Outcome<null>>): Promise<void> {
  await call(result);
}

function requestId(): string {
  return crypto.randomUUID();
}

function running(id: string, finished: Promise<unknown>): Running {
  return {
    done: finished.then(() => undefined),
    stop: () => done(commands.stop(id)),
  };
}

function turn(t: TurnRequest, onEvent: (e: ChatEvent) => void, consent: Consent | undefined): Running {
  const id = requestId();
  const channel = new Channel<ChatEvent>(onEvent);
  return running(id, done(commands.runTurn(id, t, consent ?? null, channel)));
}

/** An indexing command with its own request id (for `stop`) and channel. */
function indexing(
  onEvent: (e: IndexEvent) => void,
  start: (id: string, channel: Channel<IndexEvent>) => Promise<Outcome<IndexReport>>,
): Indexing {
  const id = requestId();
  return { done: call(start(id, new Channel<IndexEvent>(onEvent))), stop: () => done(commands.stop(id)) };
}

export function tauriApi(): Api {
  return {
    startup: () => call(commands.startup()),
    uiReady: () => done(commands.uiReady()),
    listConversations: () => call(commands.listConversations()),
    searchConversations: (q) => call(commands.searchConversations(q)),
    createConversation: (init) => call(commands.createConversation(init)),
    openConversation: (id) => call(commands.openConversation(id)),
    updateConversation: (id, patch) => call(commands.updateConversation(id, patch)),
    deleteConversation: (id) => done(commands.deleteConversation(id)),
    exportConversation: (id, format) => call(commands.exportConversation(id, format)),
    switchBranch: (c, m) => call(commands.switchBranch(c, m)),
    send: (conversationId, text, onEvent, consent) => turn({ kind: "send", conversationId, text }, onEvent, consent),
    regenerate: (_c, messageId, onEvent, consent) => turn({ kind: "regenerate", messageId }, onEvent, consent),
    editAndResend: (_c, messageId, text, onEvent, consent) => turn({ kind: "edit", messageId, text }, onEvent, consent),
    continueAnswer: (_c, messageId, onEvent, consent) => turn({ kind: "continue", messageId }, onEvent, consent),
    clearFallback: (conversationId) => done(commands.clearFallback(conversationId)),
    listModels: () => call(commands.listModels()),
    catalog: () => call(commands.catalog()),
    searchHub: (q) => call(commands.searchHub(q)),
    repoFiles: (repo) => call(commands.repoFiles(repo)),
    pull: (spec, onEvent) => {
      const id = requestId();
      const channel = new Channel<DownloadEvent>(onEvent);
      return running(id, call(commands.pull(id, spec, channel)));
    },
    cancelDownload: (repo, file) => done(commands.cancelDownload(repo, file)),
    pendingDownloads: () => call(commands.pendingDownloads()),
    importModel: async (copy) => {
      const path = await open({
        multiple: false,
        directory: false,
        filters: [{ name: "GGUF model", extensions: ["gguf"] }],
      });
      if (typeof path !== "string") return null;
      return call(commands.importModel(path, copy));
    },
    deleteModel: (id) => done(commands.deleteModel(id)),
    revealModel: (id) => done(commands.revealModel(id)),
    loadSettings: (id) => call(commands.loadSettings(id)),
    setLoadSettings: (id, settings) => call(commands.setLoadSettings(id, settings)),
    hardware: () => call(commands.hardware()),
    listPresets: () => call(commands.listPresets()),
    savePreset: (p) => call(commands.savePreset(p)),
    deletePreset: (id) => done(commands.deletePreset(id)),
    settings: () => call(commands.settings()),
    updateSettings: (patch) => call(commands.updateSettings(patch)),
    listProviders: () => call(commands.listProviders()),
    providerKinds: () => call(commands.providerKinds()),
    // The key goes straight to the command (and the keychain); it is not kept here.
    addProvider: (p) => call(commands.addProvider(p.name, p.kind, p.baseUrl, p.key)),
    removeProvider: (name) => call(commands.removeProvider(name)),
    setProviderContextWindow: (name, tokens) => call(commands.setProviderContextWindow(name, tokens)),
    testProvider: (name) => call(commands.testProvider(name)),
    providerModels: (name) => call(commands.providerModels(name)),
    getOffline: () => call(commands.getOffline()),
    setOffline: (offline) => call(commands.setOffline(offline)),
    networkLog: (limit) => call(commands.networkLog(limit)),
    stats: (since) => call(commands.stats(since)),
    getBudget: () => call(commands.getBudget()),
    setBudget: (budget) => call(commands.setBudget(budget)),
    getPrice: (provider, model) => call(commands.getPrice(provider, model)),
    setPrice: (provider, model, price) => done(commands.setPrice(provider, model, price)),
    getRedaction: () => call(commands.getRedaction()),
    setRedaction: (settings) => call(commands.setRedaction(settings)),
    messageRedactions: (messageId) => call(commands.messageRedactions(messageId)),
    openLink: (url) => done(commands.openLink(url)),
    serverStatus: () => call(commands.serverStatus()),
    startServer: (options) => call(commands.startServer(options)),
    stopServer: () => call(commands.stopServer()),
    serverKey: () => call(commands.serverKey()),
    serverLog: (limit) => call(commands.serverLog(limit)),
    apiSettings: () => call(commands.apiSettings()),
    setApiSettings: (settings) => call(commands.setApiSettings(settings)),
    mcpServers: () => call(commands.mcpServers()),
    addMcpServer: (server) => call(commands.addMcpServer(server)),
    removeMcpServer: (name) => call(commands.removeMcpServer(name)),
    importMcpServers: async () => {
      const path = await open({
        multiple: false,
        directory: false,
        filters: [{ name: "Claude Desktop configuration", extensions: ["json"] }],
      });
      if (typeof path !== "string") return null;
      return call(commands.importMcpServers(path));
    },
    mcpTools: (server) => call(commands.mcpTools(server)),
    setToolAlwaysAllowed: (server, tool, allowed, fingerprint) =>
      call(commands.setToolAlwaysAllowed(server, tool, allowed, fingerprint ?? null)),
    chatTools: (conversationId) => call(commands.chatTools(conversationId)),
    setChatTools: (conversationId, picks) => call(commands.setChatTools(conversationId, picks)),
    answerToolCall: (approvalId, answer) => call(commands.answerToolCall(approvalId, answer)),
    collections: () => call(commands.collections()),
    createCollection: (name) => call(commands.createCollection(name)),
    renameCollection: (from, to) => call(commands.renameCollection(from, to)),
    deleteCollection: (name) => done(commands.deleteCollection(name)),
    collectionFiles: (name) => call(commands.collectionFiles(name)),
    removeDocFile: (name, source) => done(commands.removeDocFile(name, source)),
    pickDocuments: async (folder) => {
      const picked = await open({ multiple: !folder, directory: folder });
      if (picked === null) return [];
      return Array.isArray(picked) ? picked : [picked];
    },
    onFileDrop: async (onDrop) => {
      const { getCurrentWebview } = await import("@tauri-apps/api/webview");
      return getCurrentWebview().onDragDropEvent((e) => {
        if (e.payload.type === "drop" && e.payload.paths.length > 0) onDrop(e.payload.paths);
      });
    },
    indexDocs: (name, paths, onEvent) => indexing(onEvent, (id, ch) => commands.indexDocs(id, name, paths, ch)),
    refreshCollection: (name, onEvent) => indexing(onEvent, (id, ch) => commands.refreshCollection(id, name, ch)),
    resumeIndexing: (name, onEvent) => indexing(onEvent, (id, ch) => commands.resumeIndexing(id, name, ch)),
    attachFiles: (conversationId, paths, onEvent) =>
      indexing(onEvent, (id, ch) => commands.attachFiles(id, conversationId, paths, ch)),
    setChatDocs: (conversationId, collection) => done(commands.setChatDocs(conversationId, collection)),
    passage: (chunkId) => call(commands.passage(chunkId)),
  };
}
