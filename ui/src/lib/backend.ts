// Picks the backend: the Tauri shell when running in the app, else the
// in-memory mock (browser preview, component tests).

import type { Api } from "./api";

export async function backend(): Promise<Api> {
  if (typeof window !== "undefined" && "__TAURI_INTERNALS__" in window) {
    const { tauriApi } = await import("./tauri");
    return tauriApi();
  }
  const { mockApi } = await import("./mock");
  return mockApi();
}
