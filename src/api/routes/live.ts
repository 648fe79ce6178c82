/**
 * The console's live feed and the history behind its charts.
 *
 * `GET /live` is server-sent events over the same bearer-token auth as every
 * other route. The console reads it with fetch() and a stream reader rather
 * than EventSource: EventSource cannot send an Authorization header, and the
 * ways around that (the token in the URL, a cookie, a ticket route) would put
 * a secret where logs and proxies keep it, or add a second way to be signed
 * in that needs its own expiry and CSRF care. fetch() keeps one credential
 * and one auth check; the console does its own reconnecting, which it needs
 * anyway to fall back to polling. The token is checked again every few
 * seconds while the stream is open, so revoking it ends the stream.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Site } from "../../site/index.js";
import { UnavailableError } from "../../manager/index.js";
import { LiveHub, type LiveMessage } from "../live-hub.js";
import { HistoryQuery, HistoryResponse } from "../live-schemas.js";
import { GroupParams } from "../schemas.js";

/** Streams at once per site; more consoles than this fall back to polling. */
const MAX_STREAMS = 100;
/** A console this far behind (a stalled network) is cut off; it reconnects and starts from the present. */
const MAX_BUFFERED_BYTES = 1 << 20;
const RECHECK_TOKEN_MS = 5000;

const LIVE_DESCRIPTION = `Server-sent events (\`text/event-stream\`), each \`event: NAME\` with \`data: JSON\`:
\`hello\` {site, tickMs, timeMs} once; then the present and every change: \`site\` (as GET /site),
\`groups\` {names, changed: GroupStatus[]} (changed groups, at most once a second; names lists every group),
\`alerts\` (open alerts, as GET /alerts), \`tasks\` (as GET /tasks), \`event\` (each new event of the log),
and \`tick\` {timeMs, samples: {group: {t, rpoMs, throughputBytesPerSec, queueBytes}}} every second, which is also
the heartbeat. Send the bearer token in the Authorization header (read the stream with fetch()).`;

export function liveRoutes(site: Site): FastifyPluginAsyncZod {
  const ctx = site.ctx;
  return async (app) => {
    const hub = new LiveHub(site);
    const ends = new Set<() => void>();
    // Open streams would keep the server from closing: end them first.
    app.addHook("preClose", async () => {
      for (const end of [...ends]) end();
      hub.close();
    });

    app.get("/live", { config: { role: "viewer" }, schema: { tags: ["live"], summary: "live status, alerts, tasks, events and samples (server-sent events)", description: LIVE_DESCRIPTION } }, (req, reply) => {
      if (hub.listeners >= MAX_STREAMS) throw new UnavailableError("too_many_streams", `site ${ctx.name} already serves ${MAX_STREAMS} live streams`, { hint: "poll the other routes instead" });
      const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")![1]!;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // A reverse proxy must pass each event on as it comes.
        "x-accel-buffering": "no",
        "x-lifeline-site": ctx.name,
      });
      res.socket?.setNoDelay(true);
      let ended = false;
      let unsubscribe = () => {};
      const recheck = setInterval(() => {
        if (!ctx.manager.tokens.verify(token)) end();
      }, RECHECK_TOKEN_MS);
      recheck.unref();
      const end = () => {
        if (ended) return;
        ended = true;
        unsubscribe();
        clearInterval(recheck);
        ends.delete(end);
        res.end();
      };
      const send = (m: LiveMessage) => {
        if (ended) return;
        if (res.writableLength > MAX_BUFFERED_BYTES) return end();
        res.write(`event: ${m.event}\ndata: ${JSON.stringify(m.data)}\n\n`);
      };
      // A client's reconnection delay, for clients that honour it.
      res.write("retry: 3000\n\n");
      unsubscribe = hub.subscribe(send);
      ends.add(end);
      req.raw.once("close", end);
      res.once("error", end);
    });

    app.get(
      "/groups/:name/history",
      {
        config: { role: "viewer" },
        schema: {
          tags: ["groups"],
          summary: "the group's RPO, throughput and queue depth, one sample a second, for the last hour",
          params: GroupParams,
          querystring: HistoryQuery,
          response: { 200: HistoryResponse },
        },
      },
      async (req) => {
        const g = ctx.manager.groups.get(req.params.name);
        const series = site.history.since(g.name, req.query.since, Date.now());
        return { group: g.name, intervalMs: site.history.intervalMs, keepMs: site.history.keepMs, ...series };
      },
    );
  };
}
