/** Numbers as operators read them: durations, bytes, rates, times, "5.7 s ago". */

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = s / 60;
  if (m < 60) return `${Math.floor(m)} min${Math.round(s % 60) ? ` ${Math.round(s % 60)} s` : ""}`;
  const h = m / 60;
  if (h < 48) return `${Math.floor(h)} h${Math.round(m % 60) ? ` ${Math.round(m % 60)} min` : ""}`;
  return `${Math.round(h / 24)} d`;
}

export function ago(ms: number): string {
  return ms < 50 ? "now" : `${duration(ms)} ago`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  // Whole bytes: a rate averaged over a window is fractional (42.666… B/s).
  return `${i === 0 ? Math.round(v) : v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[i]}`;
}

export function rate(bytesPerSec: number | null | undefined): string {
  return bytesPerSec === null || bytesPerSec === undefined ? "—" : `${bytes(bytesPerSec)}/s`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local wall-clock time to the millisecond: the precision a point is picked at. */
export function clock(ms: number, withMs = true): string {
  const d = new Date(ms);
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ms, false)}`;
}

export function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/** Parses "30s", "4h", "500ms", "2 min", "1.5 d" into milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? "s").toLowerCase();
  const scale: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };
  return Math.round(Number(m[1]) * scale[unit]!);
}

/** Parses "512MiB", "20 GiB", "100M", "4096" into bytes. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?B?|B)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] ?? "B").toUpperCase().replace(/I?B$/, "");
  const powers = ["", "K", "M", "G", "T", "P"];
  const p = powers.indexOf(unit);
  return p < 0 ? undefined : Math.round(Number(m[1]) * 1024 ** p);
}
