/**
 * The site's live stream (`GET /api/v1/live`, server-sent events): status,
 * alerts, tasks, events and one-second samples pushed as they change.
 *
 * Read with fetch() and a stream reader, not EventSource: EventSource cannot
 * send the Authorization header, and putting the token in the URL would
 * leave it in logs. The reconnecting EventSource would do is done here, with
 * a watchdog: the site ticks every second, so hearing nothing for a few
 * seconds means the stream is stuck (a half-open connection) even when no
 * error came. The caller falls back to polling while the stream is down.
 */
import type { LiveMessage } from "../api/types";

const RETRY_MS = 3000;
/** A site without the route (an older one) is asked again this rarely; polling serves meanwhile. */
const ABSENT_RETRY_MS = 60_000;
/** Ticks come every second: this long without one and the stream is taken for dead. */
const SILENT_MS = 5000;

export interface LiveHandlers {
  /** The stream is open (its `hello` arrived). */
  onUp(): void;
  onMessage(m: LiveMessage): void;
  /** The stream is closed or could not open; it is tried again after a while. */
  onDown(reason: string): void;
  /** The site refused the token (401). Nothing more is tried. */
  onUnauthenticated(): void;
}

const EVENTS = new Set<LiveMessage["event"]>(["hello", "site", "groups", "alerts", "tasks", "event", "tick"]);

/** One server-sent event block (`event:` and `data:` lines) as a message; undefined for comments, retry hints and unknown events. */
export function parseBlock(block: string): LiveMessage | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length || !EVENTS.has(event as LiveMessage["event"])) return undefined;
  try {
    return { event, data: JSON.parse(data.join("\n")) } as LiveMessage;
  } catch {
    return undefined;
  }
}

export function followLive(token: string, h: LiveHandlers): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let abort: AbortController | undefined;

  const again = (ms: number) => {
    if (!stopped) timer = setTimeout(() => void connect(), ms);
  };

  const connect = async () => {
    abort = new AbortController();
    const mine = abort;
    let res: Response;
    try {
      res = await fetch("/api/v1/live", { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, signal: mine.signal, cache: "no-store" });
    } catch (err) {
      if (stopped) return;
      h.onDown(`the live stream could not connect (${err instanceof Error ? err.message : String(err)})`);
      return again(RETRY_MS);
    }
    if (res.status === 401) return h.onUnauthenticated();
    if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      void res.body?.cancel();
      h.onDown(`the live stream is not available (HTTP ${res.status})`);
      return again(res.status === 404 ? ABSENT_RETRY_MS : RETRY_MS);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let silent: ReturnType<typeof setTimeout> | undefined;
    let why = "the site ended the live stream";
    const watch = () => {
      clearTimeout(silent);
      silent = setTimeout(() => {
        why = `no word from the site for ${SILENT_MS / 1000} s`;
        mine.abort();
      }, SILENT_MS);
    };
    watch();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watch();
        buffer += value.replace(/\r\n?/g, "\n");
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const m = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!m) continue;
          if (m.event === "hello") h.onUp();
          h.onMessage(m);
        }
      }
    } catch (err) {
      if (why === "the site ended the live stream") why = `the live stream broke (${err instanceof Error ? err.message : String(err)})`;
    } finally {
      clearTimeout(silent);
    }
    if (stopped) return;
    h.onDown(why);
    again(RETRY_MS);
  };

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    abort?.abort();
  };
}
