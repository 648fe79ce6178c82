/**
 * Serves the web console (web/, built by Vite into dist/web) at `/`. The
 * console routes on the client (/groups/erp, /tasks, …), so any GET that is
 * not a file of the build answers index.html — except under `/api` and at
 * `/metrics`, which keep the API's own JSON 404, so a mistyped API path is
 * never answered with a page. The console's files are public (they hold no
 * data; the data needs a token), and are sent with a strict
 * Content-Security-Policy: everything comes from this origin, nothing from a
 * CDN. Hashed assets are cached for good, index.html never, so an upgraded
 * site serves its new console at once. When the console was not built the
 * site still answers `/`, with a page that says how to build it.
 */
import fs from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Paths the console must never shadow: the API answers its own 404 there. */
function isServerPath(url: string): boolean {
  const p = url.split("?")[0]!;
  return p === "/api" || p.startsWith("/api/") || p === "/metrics" || p.startsWith("/metrics/");
}

function securityHeaders(reply: FastifyReply): void {
  reply.header("content-security-policy", CSP);
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "no-referrer");
  reply.header("x-frame-options", "DENY");
}

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Lifeline</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>Lifeline</h1><p>This site's API is running, but its web console was not built.</p>
<p>Build it with <code>npm run build</code> (or <code>npm run build:web</code>) and restart the site daemon.
The API is described at <a href="/api/docs">/api/docs</a>.</p></body></html>\n`;

export async function registerWebConsole(app: FastifyInstance, distDir: string): Promise<void> {
  const root = path.resolve(distDir);
  const built = fs.existsSync(path.join(root, "index.html"));
  // serve: false — our own routes below decide what is a file and what is the app.
  if (built) await app.register(fastifyStatic, { root, serve: false, wildcard: false });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    if (isServerPath(request.url)) return reply.callNotFound();
    securityHeaders(reply);
    if (!built) return reply.code(200).type("text/html; charset=utf-8").header("cache-control", "no-store").send(NOT_BUILT);
    let rel: string;
    try {
      rel = decodeURIComponent(request.url.split("?")[0]!).replace(/^\/+/, "");
    } catch {
      return reply.code(400).type("text/plain").send("bad path\n");
    }
    const file = rel === "" ? null : path.resolve(root, rel);
    const inside = file !== null && file.startsWith(root + path.sep);
    if (inside && rel !== "index.html" && fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      const immutable = rel.startsWith("assets/");
      return reply.sendFile(rel, { cacheControl: true, maxAge: immutable ? "365d" : 0, immutable });
    }
    // A client route (or a file that is not there, e.g. a stale asset): the app decides what to show.
    if (rel.startsWith("assets/")) return reply.code(404).type("text/plain").send("not found\n");
    reply.header("cache-control", "no-store");
    return reply.sendFile("index.html", { cacheControl: false });
  };

  const route = { config: { public: true }, schema: { hide: true } };
  app.get("/", route, handler);
  app.get("/*", route, handler);
}
