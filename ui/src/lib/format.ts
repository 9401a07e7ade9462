// Small display helpers.

import type { Fit } from "./api";

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "?";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}

export function count(n: number): string {
  if (!n) return "?";
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${Math.round(n / 1e6)}M`;
}

export function ago(unixMillis: number | null | undefined): string {
  if (!unixMillis) return "never";
  const s = Math.max(0, (Date.now() - unixMillis) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

export function errorMessage(e: unknown): string {
  if (e && typeof e === "object" && "message" in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** "fits" / "tight" / "won't fit", with `~` when estimated without the file header. */
export function fitLabel(fit: Fit): string {
  const verdict = fit.fit === "fits" ? "fits" : fit.fit === "tight" ? "tight" : "won't fit";
  return verdict + (fit.approximate ? "~" : "");
}

/** Expected decode speed; `≤` marks an upper bound (not yet measured on this machine). */
export function fitSpeed(fit: Fit): string {
  return fit.decodeTokS === null ? "" : `${fit.measured ? "" : "≤"}${Math.round(fit.decodeTokS)} tok/s`;
}
