/**
 * The site's event stream, where it offers one (`GET /api/v1/events/stream`,
 * server-sent events, each `data:` a LifelineEvent): an event makes the
 * console poll at once instead of at the next tick. EventSource cannot send
 * an Authorization header, so this reads the stream with fetch. Polling
 * stays the source of truth; the stream only makes it prompt. A site
 * without the route (404) is asked again every minute.
 */
import type { LifelineEvent } from "../api/types";

const RETRY_MS = 3000;
const ABSENT_RETRY_MS = 60_000;

function parseBlock(block: string): LifelineEvent | undefined {
  const data = block
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trimStart())
    .join("\n");
  if (!data) return undefined;
  try {
    return JSON.parse(data) as LifelineEvent;
  } catch {
    return undefined;
  }
}

export function followEvents(token: string, onEvent: (e: LifelineEvent) => void): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const abort = new AbortController();

  const again = (ms: number) => {
    if (!stopped) timer = setTimeout(() => void connect(), ms);
  };

  const connect = async () => {
    let res: Response;
    try {
      res = await fetch("/api/v1/events/stream", { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, signal: abort.signal, cache: "no-store" });
    } catch {
      return again(RETRY_MS);
    }
    if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      return again(res.status === 404 ? ABSENT_RETRY_MS : RETRY_MS);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const e = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (e) onEvent(e);
        }
      }
    } catch {
      // the connection dropped: reconnect below
    }
    again(RETRY_MS);
  };

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    abort.abort();
  };
}
