/**
 * Browser tests of the web console against real site daemons: sites made
 * and started with the `lifeline` CLI in a temp dir on free ports, the
 * console served as the daemon serves it (src/api/web-console.ts), and
 * Debian's chromium driven by playwright-core. The daemon serves the
 * console itself; a site that answers `/` without it (an older build) gets a
 * small fastify in this process that serves the build and passes /api
 * through to the daemon.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyInstance } from "fastify";
import { chromium, type Browser, type Page } from "playwright-core";
import { registerWebConsole } from "../../src/api/web-console.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const WEB_DIST = path.join(ROOT, "dist/web");
export const ARTIFACTS = process.env.LIFELINE_ARTIFACTS ?? path.join(ROOT, "dist/test-artifacts/web");
const LIFELINE = path.join(ROOT, "bin/lifeline.js");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export function lifeline(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [LIFELINE, ...args], { env: { ...process.env, LIFELINE_LOG: "warn" }, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`lifeline ${args.join(" ")}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Builds the console once if this checkout has no build yet (npm run build makes it). */
export function ensureBuilt(): void {
  if (fs.existsSync(path.join(WEB_DIST, "index.html"))) return;
  execFileSync(process.execPath, [path.join(ROOT, "node_modules/vite/bin/vite.js"), "build", "--config", path.join(ROOT, "web/vite.config.ts"), "--logLevel", "warn"], { cwd: ROOT, stdio: "inherit" });
}

export class SiteDaemon {
  readonly dir: string;
  readonly name: string;
  adminToken = "";
  #child: ChildProcess | undefined;
  #exit: Promise<void> | undefined;
  stderr = "";

  constructor(root: string, name: string) {
    this.dir = path.join(root, name);
    this.name = name;
  }

  get apiUrl(): string {
    return (JSON.parse(fs.readFileSync(path.join(this.dir, "run.json"), "utf8")) as { apiUrl: string }).apiUrl;
  }

  /** `apiPort` 0: any free port, chosen again at each start. */
  async init(apiPort = 0): Promise<void> {
    const out = JSON.parse(await lifeline(["site", "init", "--dir", this.dir, "--name", this.name, "--api-port", String(apiPort), "--nbd-port", "0", "--replication-port", "0", "--peer-port", "0", "--json"])) as { adminToken: string };
    this.adminToken = out.adminToken;
  }

  async start(): Promise<void> {
    fs.rmSync(path.join(this.dir, "run.json"), { force: true });
    const child = spawn(process.execPath, [LIFELINE, "site", "start", "--dir", this.dir], { env: { ...process.env, LIFELINE_LOG: "warn" }, stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    let exited = false;
    this.#exit = new Promise((resolve) => child.once("exit", () => ((exited = true), resolve())));
    while (!fs.existsSync(path.join(this.dir, "run.json"))) {
      if (exited) throw new Error(`lifeline site start --dir ${this.dir} exited: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const c = this.#child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill("SIGTERM");
    await this.#exit;
  }
}

/** Passes /api/* through to the daemon, as if the daemon served the console itself. */
async function proxyApi(app: FastifyInstance, target: () => string): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.route({
    method: ["GET", "POST", "PATCH", "PUT", "DELETE"],
    url: "/api/*",
    handler: async (req, reply) => {
      const headers: Record<string, string> = {};
      for (const h of ["authorization", "content-type", "accept"]) {
        const v = req.headers[h];
        if (typeof v === "string") headers[h] = v;
      }
      try {
        const res = await fetch(`${target()}${req.url}`, { method: req.method, headers, body: Buffer.isBuffer(req.body) && req.body.length ? req.body : null });
        reply.code(res.status);
        const type = res.headers.get("content-type");
        if (type) reply.type(type);
        // Streamed, not buffered: the event stream never ends.
        return reply.send(res.body ? Readable.fromWeb(res.body as import("node:stream/web").ReadableStream) : null);
      } catch {
        return reply.code(502).type("application/json").send({ error: { code: "unreachable", message: "the site does not answer" } });
      }
    },
  });
}

export interface ConsoleServer {
  url: string;
  /** True when the daemon itself serves the console. */
  native: boolean;
  close(): Promise<void>;
}

export async function serveConsole(site: SiteDaemon): Promise<ConsoleServer> {
  const apiUrl = site.apiUrl;
  const own = await fetch(`${apiUrl}/`).then((r) => r.text(), () => "");
  if (own.includes('id="root"')) return { url: apiUrl, native: true, close: async () => {} };
  const app = Fastify({ logger: false });
  await proxyApi(app, () => apiUrl);
  await registerWebConsole(app, WEB_DIST);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, native: false, close: () => app.close() };
}

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

/** Headless chromium with a fresh profile (playwright makes one per launch and removes it at close). */
export async function launch(): Promise<Browser> {
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  return chromium.launch({ executablePath: CHROMIUM, args, timeout: 60_000 });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A port free now (for a site that must come back on the same address after a restart). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-web-"));
}
