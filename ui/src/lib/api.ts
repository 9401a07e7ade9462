// The contract between the UI and the Tauri shell.
//
// Every screen talks to the backend only through `Api`. In the app the
// implementation wraps the generated `../bindings.ts` (tauri-specta, written by
// `cargo xtask codegen`); in component tests and the browser preview it is
// `mockApi()` (./mock.ts). Field names are camelCase, as the Rust side
// serialises them. Times are Unix milliseconds; sizes are bytes.

export type Role = "system" | "user" | "assistant";
export type MessageStatus = "complete" | "streaming" | "partial" | "cancelled" | "error";

/** Errors cross IPC as a tagged enum; switch on `kind`, show `message`. */
export interface AppError {
  kind:
    | "notFound"
    | "invalid"
    | "tooLong"
    | "noModel"
    | "model"
    | "hub"
    | "store"
    | "locked"
    | "keychain"
    | "internal"
    | "cloud"
    | "consentNeeded"
    | "refused";
  message: string;
  /** With `consentNeeded`: where the message would go (`provider:model`) and why. */
  consent?: ConsentRequest;
}

export interface ConsentRequest {
  backend: string;
  reason: string | null;
}

/** The user's answer to a consent dialog, sent with the same turn again. */
export type Consent = "notAsked" | "granted" | "denied";

/** Where a conversation's messages may be sent; chain entries are `provider:model`. */
export type Privacy =
  | { policy: "localOnly" }
  | { policy: "askBeforeCloud"; chain: string[] }
  | { policy: "cloudFallback"; chain: string[] };

export interface Sampling {
  temperature: number | null;
  topK: number | null;
  topP: number | null;
  minP: number | null;
  repeatPenalty: number | null;
  seed: number | null;
  maxTokens: number | null;
}

export interface ConversationSummary {
  id: string;
  title: string;
  model: string | null;
  pinned: boolean;
  updatedAt: number;
}

export interface Conversation {
  id: string;
  title: string;
  /** Library id or path of the local model. */
  model: string | null;
  systemPrompt: string | null;
  sampling: Sampling;
  presetId: string | null;
  pinned: boolean;
  /** A chosen cloud model (`provider:model`); null: the local `model`. */
  backend: string | null;
  privacy: Privacy;
  createdAt: number;
  updatedAt: number;
}

export interface MessageMetrics {
  tokensIn: number | null;
  tokensOut: number | null;
  promptTokensReused: number | null;
  ttftMs: number | null;
  decodeTokS: number | null;
  latencyMs: number | null;
}

export interface ChatMessage {
  id: string;
  parentId: string | null;
  role: Role;
  content: string;
  status: MessageStatus;
  backend: string | null;
  model: string | null;
  metrics: MessageMetrics;
  error: string | null;
  /** Why a fallback answered in place of the chosen backend. */
  fallbackReason: string | null;
  createdAt: number;
  /** Ids of this message's versions (itself included), oldest first. */
  siblings: string[];
}

/** A conversation with the messages of its active branch, root first. */
export interface ConversationView {
  conversation: Conversation;
  messages: ChatMessage[];
}

export interface SearchHit {
  conversationId: string;
  messageId: string;
  title: string;
  /** Matched words are wrapped in [[ and ]]; render them as <mark>, never as HTML. */
  snippet: string;
  at: number;
}

/** Streamed while an answer is produced (over a tauri Channel). */
export type ChatEvent =
  | {
      kind: "started";
      userMessage: string | null;
      assistantMessage: string;
      /** Older turns left out to fit the context window (show a notice when > 0). */
      droppedTurns: number;
      promptTokens: number;
    }
  | { kind: "token"; text: string }
  | { kind: "finished"; message: ChatMessage }
  | { kind: "failed"; error: AppError };

export type FitVerdict = "fits" | "tight" | "wont_fit";

export interface Fit {
  fit: FitVerdict;
  /** Bytes needed: weights + KV cache + overhead. */
  total: number;
  /** Expected decode tokens/s (an upper bound unless `measured`). */
  decodeTokS: number | null;
  /** Estimated without the GGUF header. */
  approximate: boolean;
  measured: boolean;
}

export type ModelSource =
  | { kind: "downloaded"; repo: string }
  | { kind: "imported"; copied: boolean }
  | { kind: "external"; app: "hugging_face_cache" | "lm_studio" | "ollama"; label: string };

export interface LibraryModel {
  id: string;
  name: string | null;
  architecture: string;
  parameters: number;
  quant: string | null;
  contextLength: number | null;
  size: number;
  hasChatTemplate: boolean;
  source: ModelSource;
  /** Whether Hearth may delete it (downloaded or copied). */
  owned: boolean;
  path: string;
  addedAt: number;
  lastUsed: number | null;
  fit: Fit;
}

export interface CatalogModel {
  name: string;
  repo: string;
  file: string;
  quant: string;
  size: number;
  parameters: number;
  context: number;
  license: string;
  fit: Fit;
  recommended: boolean;
}

export interface RepoSummary {
  id: string;
  downloads: number;
  likes: number;
  updated: string | null;
  license: string | null;
  gated: boolean;
}

export interface RemoteFile {
  /** File name, or a split model's common base name. */
  name: string;
  quant: string | null;
  size: number;
  parts: number;
  fit: Fit;
}

export interface RepoFiles {
  repo: string;
  gated: boolean;
  license: string | null;
  files: RemoteFile[];
}

export interface PendingDownload {
  repo: string;
  file: string;
  done: number;
  size: number;
}

/** Streamed during a pull (over a tauri Channel). */
export type DownloadEvent =
  | { kind: "started"; model: string; total: number; done: number }
  | { kind: "progress"; done: number; total: number; bytesPerSec: number; etaSecs: number | null }
  | { kind: "retrying"; attempt: number; reason: string; waitMs: number }
  | { kind: "verifying" }
  | { kind: "finished"; id: string }
  | { kind: "paused" }
  | { kind: "cancelled" }
  | { kind: "failed"; error: AppError };

export interface Hardware {
  cpu: string;
  cores: number;
  ramTotal: number;
  ramAvailable: number;
  gpu: string | null;
  vram: number | null;
  /** The device models run on: "cpu", "cuda:0", "metal". */
  device: string;
  /** Measured memory bandwidth, bytes/s. */
  bandwidth: number;
}

export interface Preset {
  id: string;
  version: number;
  name: string;
  systemPrompt: string | null;
  sampling: Sampling;
}

export interface Settings {
  dataDir: string;
  /** The history database is encrypted (SQLCipher) — always true unless opened plaintext. */
  encrypted: boolean;
  keyInKeychain: boolean;
  theme: "system" | "light" | "dark";
  defaultSampling: Sampling;
}

/** What the app shows at start: ready, or a clear error screen (never blank). */
export type Startup =
  | { kind: "ready"; firstRun: boolean }
  | { kind: "failed"; error: AppError };

export interface NewConversation {
  model: string | null;
  systemPrompt: string | null;
  presetId: string | null;
}

export interface ConversationPatch {
  title?: string;
  model?: string | null;
  systemPrompt?: string | null;
  sampling?: Sampling;
  presetId?: string | null;
  pinned?: boolean;
  /** A cloud model (`provider:model`), or null for the local model. */
  backend?: string | null;
  privacy?: Privacy;
}

export type Breaker =
  | { state: "closed"; failures: number }
  | { state: "open"; retryInMs: number }
  | { state: "halfOpen" };

/** A configured cloud provider; `key` is only ever masked (`sk-…1234`). */
export interface Provider {
  name: string;
  kind: string;
  kindLabel: string;
  baseUrl: string;
  key: string | null;
  breaker: Breaker;
}

export interface ProviderKindInfo {
  kind: string;
  label: string;
  defaultBaseUrl: string | null;
  needsKey: boolean;
}

export interface NewProvider {
  name: string;
  kind: string;
  baseUrl: string | null;
  /** Sent once to the keychain, never shown again. */
  key: string | null;
}

export interface ProviderModel {
  id: string;
  name: string | null;
}

/** One outbound connection Hearth made. */
export interface NetworkRecord {
  at: number;
  host: string;
  purpose: string;
  detail: string | null;
  bytesSent: number;
  bytesReceived: number;
  status: number | null;
  ok: boolean;
}

export interface BackendStats {
  backend: string;
  model: string;
  requests: number;
  errors: number;
  errorsByKind: Partial<Record<string, number>>;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  tokSP50: number | null;
  tokSP95: number | null;
  fallbacks: number;
  retries: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
}

export interface Stats {
  since: number | null;
  backends: BackendStats[];
  totalCostUsd: number;
}

/** Spending caps in US dollars; null is no cap. */
export interface Budget {
  dailyUsd: number | null;
  monthlyUsd: number | null;
}

/** US dollars per million tokens. */
export interface Price {
  input: number;
  output: number;
}

export interface Redaction {
  enabled: boolean;
  words: string[];
}

export interface MessageRedaction {
  kind: string;
  placeholder: string;
  original: string;
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

  // Machine, presets, settings
  hardware(): Promise<Hardware>;
  listPresets(): Promise<Preset[]>;
  savePreset(preset: Omit<Preset, "id" | "version"> & { id: string | null }): Promise<Preset>;
  deletePreset(id: string): Promise<void>;
  settings(): Promise<Settings>;
  updateSettings(patch: Partial<Pick<Settings, "theme" | "defaultSampling">>): Promise<Settings>;

  // Cloud providers, the network ledger, usage
  listProviders(): Promise<Provider[]>;
  providerKinds(): Promise<ProviderKindInfo[]>;
  /** Adds or replaces a provider; the answer has the key masked. */
  addProvider(provider: NewProvider): Promise<Provider>;
  removeProvider(name: string): Promise<boolean>;
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
}

export interface ApiSettings {
  /** Configured cloud providers' models can be used (and are listed) as `provider:model`. */
  cloudModels: boolean;
  /** API requests and answers are kept in the chat history. */
  storeConversations: boolean;
}

export interface ServerStatus {
  running: boolean;
  /** `http://127.0.0.1:11435` while running. */
  address: string | null;
  port: number | null;
  /** Clients must send `Authorization: Bearer KEY`. */
  keyRequired: boolean;
  /** The key with all but its ends hidden, once one exists. */
  maskedKey: string | null;
  /** Browser origins that get CORS headers (the running server's). */
  corsOrigins: string[];
  /** How other devices reach an exposed server, when the address is known. */
  lanAddress: string | null;
}

export interface StartServer {
  port: number;
  /** Listen on every interface (then a key is required), else 127.0.0.1 only. */
  expose: boolean;
  corsOrigins: string[];
}

/** One request the server answered (never its body or key). */
export interface ServerRequest {
  atMs: number;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  model: string | null;
}
