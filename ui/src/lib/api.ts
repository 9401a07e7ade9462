// The contract between the UI and the Tauri shell.
//
// Every screen talks to the backend only through `Api`. In the app the
// implementation wraps the generated `../bindings.ts` (tauri-specta, written by
// `cargo xtask codegen` from the Rust types); in component tests and the
// browser preview it is `mockApi()` (./mock.ts). The data types below are the
// generated ones under the names the screens use, never written again by
// hand: a Rust change that breaks a screen breaks `npm run check`. Field names
// are camelCase, as the Rust side serialises them. Times are Unix
// milliseconds; sizes are bytes. A float is `number | null` (JSON has no NaN
// or infinity: serde sends them as null), so screens say "unknown" for null.

import type * as wire from "../bindings";

/** Errors cross IPC as a tagged enum; switch on `kind`, show `message`. */
export type AppError = wire.ErrorView;
/** With a `consentNeeded` error: where the message would go (`provider:model`) and why. */
export type ConsentRequest = wire.ConsentRequestView;
/** The user's answer to a consent dialog, sent with the same turn again. */
export type Consent = wire.ConsentView;
/** Where a conversation's messages may be sent; chain entries are `provider:model`. */
export type Privacy = wire.PrivacyView;

export type Role = wire.RoleView;
export type MessageStatus = wire.StatusView;
export type Sampling = wire.SamplingView;
export type ConversationSummary = wire.ConversationSummaryView;
export type Conversation = wire.ConversationInfo;
export type MessageMetrics = wire.MetricsView;
export type ChatMessage = wire.MessageView;
/** A conversation with the messages of its active branch, root first. */
export type ConversationView = wire.ConversationView;
/** Matched words in `snippet` are wrapped in [[ and ]]; render them as <mark>, never as HTML. */
export type SearchHit = wire.SearchHitView;
/** Streamed while an answer is produced (over a tauri Channel). */
export type ChatEvent = wire.ChatEventView;
export type NewConversation = wire.NewConversationView;
export type ConversationPatch = wire.ConversationPatchView;

export type FitVerdict = wire.FitVerdict;
export type Fit = wire.FitView;
export type ModelSource = wire.SourceView;
export type LibraryModel = wire.LibraryModelView;
export type CatalogModel = wire.CatalogModelView;
/** How a library model loads; `null`: the app's default. */
export type LoadSettings = wire.LoadSettingsView;
/** A model's load settings with the choices the form offers. */
export type LoadSettingsForm = wire.LoadSettingsForm;
export type RepoSummary = wire.RepoSummaryView;
export type RemoteFile = wire.RemoteFileView;
export type RepoFiles = wire.RepoFilesView;
export type PendingDownload = wire.PendingDownloadView;
/** Streamed during a pull (over a tauri Channel). */
export type DownloadEvent = wire.DownloadEventView;

export type Hardware = wire.HardwareView;
export type Preset = wire.PresetView;
export type PresetDraft = wire.PresetDraftView;
export type Theme = wire.Theme;
export type Settings = wire.SettingsView;
export type SettingsPatch = wire.SettingsPatchView;
/** What the app shows at start: ready, or a clear error screen (never blank). */
export type Startup = wire.Startup;

export type Breaker = wire.BreakerView;
/** A configured cloud provider; `key` is only ever masked (`sk-…1234`). */
export type Provider = wire.ProviderView;
export type ProviderKindInfo = wire.ProviderKindView;
export type ProviderModel = wire.ProviderModelView;
/** How many tokens a provider's models read, and who says so. */
export type ContextWindow = wire.ContextWindow;
/** One outbound connection Hearth made. */
export type NetworkRecord = wire.NetworkRecordView;
export type BackendStats = wire.BackendStatsView;
export type Stats = wire.StatsView;
/** Spending caps in US dollars; null is no cap. */
export type Budget = wire.BudgetView;
/** US dollars per million tokens. */
export type Price = wire.PriceView;
export type Redaction = wire.RedactionView;
export type MessageRedaction = wire.MessageRedactionView;

/** What API clients may do beyond local models (both off by default). */
export type ApiSettings = wire.ApiSettings;
export type ServerStatus = wire.ServerStatusView;
export type StartServer = wire.StartServerView;
/** One request the server answered (never its body or key). */
export type ServerRequest = wire.ServerRequestView;

/** A configured MCP server (environment values and tokens never come back). */
export type McpServer = wire.McpServerView;
export type NewMcpServer = wire.NewMcpServerView;
/** One tool of a server; `description` exactly as the server sent it. */
export type McpTool = wire.McpToolView;
export type McpImport = wire.McpImportView;
/** A tool call waiting for the user (a `toolApproval` turn event). */
export type PendingCall = wire.PendingCallView;
export type ToolApproval = wire.ApprovalView;
export type ToolCall = wire.ToolCallView;

/** A document collection (files, chunks, when last indexed, its embedding model). */
export type Collection = wire.CollectionView;
/** One file of a collection; `source` is its path when it was indexed. */
export type DocFile = wire.DocFileView;
/** Streamed while files are indexed (over a tauri Channel), file by file. */
export type IndexEvent = wire.IndexEventView;
export type FileOutcome = wire.FileOutcomeView;
/** How an indexing run ended: counts, and each file that could not be read and why. */
export type IndexReport = wire.IndexReportView;
/** A cited passage with the chunks around it in its file. */
export type Passage = wire.PassageView;
/** One document source an answer was given (`[n]` as the model cites it). */
export type Citation = wire.CitationView;

/** What the add-provider form collects (the command takes them as arguments). */
export interface NewProvider {
  name: string;
  kind: string;
  baseUrl: string | null;
  /** Sent once to the keychain, never shown again. */
  key: string | null;
}

/**
 * An indexing run. `done` settles with its report (rejects with an AppError
 * when the collection itself fails); `stop()` stops it after the batch being
 * embedded: what is stored stays, and running it again resumes.
 */
export interface Indexing {
  done: Promise<IndexReport>;
  stop(): Promise<void>;
}

/**
 * A running generation or download. `done` settles when the backend finished
 * (rejects with an AppError); `stop()` ends it early: a stopped answer is kept
 * as "cancelled", a stopped download is paused (resumable).
 */
export interface Running {
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface Api {
  startup(): Promise<Startup>;
  /** Tells the shell the first screen is up (for the startup benchmark). */
  uiReady(): Promise<void>;

  // Conversations
  listConversations(): Promise<ConversationSummary[]>;
  searchConversations(query: string): Promise<SearchHit[]>;
  createConversation(init: NewConversation): Promise<Conversation>;
  openConversation(id: string): Promise<ConversationView>;
  updateConversation(id: string, patch: ConversationPatch): Promise<Conversation>;
  deleteConversation(id: string): Promise<void>;
  /** Markdown or JSON text of one conversation (the UI saves it through a download link). */
  exportConversation(id: string, format: "markdown" | "json"): Promise<string>;
  /** Makes `messageId`'s branch the active one; returns the new view. */
  switchBranch(conversationId: string, messageId: string): Promise<ConversationView>;

  // Turns: each starts at once and streams ChatEvents to `onEvent`. A turn
  // that needs the user's consent (policy "ask before cloud") fails with a
  // `consentNeeded` error before anything is stored or sent; run it again
  // with the user's answer as `consent`.
  send(conversationId: string, text: string, onEvent: (e: ChatEvent) => void, consent?: Consent): Running;
  regenerate(conversationId: string, assistantMessageId: string, onEvent: (e: ChatEvent) => void, consent?: Consent): Running;
  editAndResend(conversationId: string, userMessageId: string, text: string, onEvent: (e: ChatEvent) => void, consent?: Consent): Running;
  continueAnswer(conversationId: string, assistantMessageId: string, onEvent: (e: ChatEvent) => void, consent?: Consent): Running;
  /** Forgets a conversation's fallback (back to its local model). */
  clearFallback(conversationId: string): Promise<void>;

  // Models
  listModels(): Promise<LibraryModel[]>;
  catalog(): Promise<CatalogModel[]>;
  searchHub(query: string): Promise<RepoSummary[]>;
  repoFiles(repo: string): Promise<RepoFiles>;
  /** `spec` is "owner/name" or "owner/name:QUANT_OR_FILE". `stop()` pauses (resumable). */
  pull(spec: string, onEvent: (e: DownloadEvent) => void): Running;
  cancelDownload(repo: string, file: string): Promise<void>;
  pendingDownloads(): Promise<PendingDownload[]>;
  /** Opens the native file dialog; null when the user cancelled. */
  importModel(copy: boolean): Promise<LibraryModel | null>;
  deleteModel(id: string): Promise<void>;
  revealModel(id: string): Promise<void>;
  loadSettings(id: string): Promise<LoadSettingsForm>;
  /** The model comes back with its fit as it is now set to load. */
  setLoadSettings(id: string, settings: LoadSettings): Promise<LibraryModel>;

  // Machine, presets, settings
  hardware(): Promise<Hardware>;
  listPresets(): Promise<Preset[]>;
  savePreset(preset: PresetDraft): Promise<Preset>;
  deletePreset(id: string): Promise<void>;
  settings(): Promise<Settings>;
  updateSettings(patch: SettingsPatch): Promise<Settings>;

  // Cloud providers, the network ledger, usage
  listProviders(): Promise<Provider[]>;
  providerKinds(): Promise<ProviderKindInfo[]>;
  /** Adds or replaces a provider; the answer has the key masked. */
  addProvider(provider: NewProvider): Promise<Provider>;
  removeProvider(name: string): Promise<boolean>;
  /** Sets the window of a provider's models; `null`: each model's own. */
  setProviderContextWindow(name: string, tokens: number | null): Promise<Provider>;
  /** Calls the provider once; how many models it offers. */
  testProvider(name: string): Promise<number>;
  providerModels(name: string): Promise<ProviderModel[]>;
  getOffline(): Promise<boolean>;
  setOffline(offline: boolean): Promise<boolean>;
  networkLog(limit: number): Promise<NetworkRecord[]>;
  stats(since: number | null): Promise<Stats>;
  getBudget(): Promise<Budget>;
  setBudget(budget: Budget): Promise<Budget>;
  getPrice(provider: string, model: string): Promise<Price | null>;
  setPrice(provider: string, model: string, price: Price | null): Promise<void>;
  getRedaction(): Promise<Redaction>;
  setRedaction(settings: Redaction): Promise<Redaction>;
  messageRedactions(messageId: string): Promise<MessageRedaction[]>;
  /** Opens a link from an answer in the browser (http, https, mailto only; others are refused). */
  openLink(url: string): Promise<void>;

  // The local OpenAI-compatible API server
  serverStatus(): Promise<ServerStatus>;
  /** Starts (or restarts) the server; a port in use is an `invalid` error. */
  startServer(options: StartServer): Promise<ServerStatus>;
  stopServer(): Promise<ServerStatus>;
  /** The full API key (created when missing), only for the copy button. */
  serverKey(): Promise<string>;
  /** The newest requests, newest first. */
  serverLog(limit: number): Promise<ServerRequest[]>;
  /** What API clients may do beyond local models (both off by default). */
  apiSettings(): Promise<ApiSettings>;
  /** Saves them; a running server applies them from its next request. */
  setApiSettings(settings: ApiSettings): Promise<ApiSettings>;

  // MCP servers and tools in a chat
  mcpServers(): Promise<McpServer[]>;
  /** Adds a server (an HTTP server's token is kept like an API key); returns the list. */
  addMcpServer(server: NewMcpServer): Promise<McpServer[]>;
  removeMcpServer(name: string): Promise<McpServer[]>;
  /** Opens the native file dialog for a Claude Desktop file; null when the user cancelled. */
  importMcpServers(): Promise<McpImport | null>;
  /** Starts the server if needed and lists its tools. */
  mcpTools(server: string): Promise<McpTool[]>;
  /**
   * Returns the always-allow list (`server:tool` each). `fingerprint` is the
   * tool's as listed: the approval holds only while the server describes the
   * tool that way.
   */
  setToolAlwaysAllowed(server: string, tool: string, allowed: boolean, fingerprint?: string | null): Promise<string[]>;
  /** The tools picked for a chat: `server` (all its tools) or `server:tool`. */
  chatTools(conversationId: string): Promise<string[]>;
  setChatTools(conversationId: string, picks: string[]): Promise<string[]>;
  /** The user's answer to a `toolApproval` event; false when nothing waits any more. */
  answerToolCall(approvalId: string, answer: ToolApproval): Promise<boolean>;

  // Documents: collections, indexing (file by file, stoppable, resumable), a chat's documents
  collections(): Promise<Collection[]>;
  /** An empty collection for the default embedding model (a `noModel` error without one). */
  createCollection(name: string): Promise<Collection>;
  renameCollection(from: string, to: string): Promise<Collection>;
  /** Deletes the collection with its chunks and vectors. */
  deleteCollection(name: string): Promise<void>;
  collectionFiles(name: string): Promise<DocFile[]>;
  removeDocFile(name: string, source: string): Promise<void>;
  /** Opens the native dialog for files (or one folder); [] when the user cancelled. */
  pickDocuments(folder: boolean): Promise<string[]>;
  /** Calls `onDrop` with the paths of files dropped on the window; resolves to the unsubscribe. */
  onFileDrop(onDrop: (paths: string[]) => void): Promise<() => void>;
  /** Adds files and folders to a collection (created if new). */
  indexDocs(name: string, paths: string[], onEvent: (e: IndexEvent) => void): Indexing;
  /** Indexes the collection's files again; those whose content changed are replaced. */
  refreshCollection(name: string, onEvent: (e: IndexEvent) => void): Indexing;
  /** Runs a collection's unfinished run again (files already stored are skipped). */
  resumeIndexing(name: string, onEvent: (e: IndexEvent) => void): Indexing;
  /** Indexes files into the chat's own collection and uses it in the chat. */
  attachFiles(conversationId: string, paths: string[], onEvent: (e: IndexEvent) => void): Indexing;
  /** The collection a chat uses (`null`: none). */
  setChatDocs(conversationId: string, collection: string | null): Promise<void>;
  passage(chunkId: number): Promise<Passage>;
}
