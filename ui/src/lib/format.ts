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

/**
 * The one decode speed to expect: "~150 tok/s" measured by this machine's recent answers with the
 * model, else "up to 177 tok/s", the bound memory bandwidth sets (not measured here yet).
 */
export function fitSpeed(fit: Fit): string {
  if (fit.decodeTokS === null || !Number.isFinite(fit.decodeTokS)) return "";
  const n = fit.decodeTokS >= 10 ? Math.round(fit.decodeTokS) : Math.round(fit.decodeTokS * 10) / 10;
  return fit.measured ? `~${n} tok/s` : `up to ${n} tok/s`;
}

/** What the speed means, for a tooltip. */
export function fitSpeedNote(fit: Fit): string {
  if (fit.decodeTokS === null) return "";
  return fit.measured
    ? "measured: the typical decode speed of your recent answers with this model on this machine"
    : "an upper bound from this machine's memory bandwidth; the speed is measured after your first answers";
}
