/**
 * Real `lifeline` processes for CLI tests: site daemons started in temp dirs
 * on port 0 (run.json tells where they listen), client commands run to
 * completion, and everything stopped and removed at the end.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const LIFELINE = path.join(ROOT, "bin/lifeline.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function lifeline(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LIFELINE, ...args], { env: { ...process.env, LIFELINE_LOG: "warn", ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

export async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await lifeline(args, env);
  if (r.code !== 0) throw new Error(`lifeline ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export class Daemon {
  readonly dir: string;
  #child: ChildProcess | undefined;
  #exit: Promise<number | null> | undefined;
  #stopping = false;
  stderr = "";
  /** Set when the daemon exited without `stop()` asking it to: a crash. */
  crashed: string | undefined;

  /** The network namespace the daemon runs in (a second host), if any. */
  readonly netns: string | undefined;

  constructor(dir: string, o: { netns?: string } = {}) {
    this.dir = dir;
    this.netns = o.netns;
  }

  get run(): { apiUrl: string; site: string; nbd: { host: string; port: number } } {
    return JSON.parse(fs.readFileSync(path.join(this.dir, "run.json"), "utf8"));
  }

  /** `env` adds to the daemon's environment for this run (a crash test's LIFELINE_PAUSE_AFTER_STEP). */
  async start(env: Record<string, string> = {}): Promise<void> {
    fs.rmSync(path.join(this.dir, "run.json"), { force: true });
    // `ip netns exec` execs the command in place, so the child is the daemon itself (a SIGKILL reaches it).
    const argv = [process.execPath, LIFELINE, "site", "start", "--dir", this.dir];
    const [cmd, ...args] = this.netns ? ["ip", "netns", "exec", this.netns, ...argv] : argv;
    const child = spawn(cmd!, args, { env: { ...process.env, LIFELINE_LOG: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#stopping = false;
    child.stderr.on("data", (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-64 * 1024)));
    this.#exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        if (!this.#stopping) this.crashed ??= `site daemon in ${this.dir} exited by itself (code ${code}, signal ${signal}): ${this.stderr.slice(-4000)}`;
        resolve(code);
      }),
    );
    let exited = false;
    void this.#exit.then(() => (exited = true));
    while (!fs.existsSync(path.join(this.dir, "run.json"))) {
      if (exited) throw new Error(`site start --dir ${this.dir} exited: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The running daemon's process id. */
  get pid(): number | undefined {
    const c = this.#child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  /** SIGTERM, and the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (!this.#child || this.#child.exitCode !== null || this.#child.signalCode !== null) return this.#child?.exitCode ?? null;
    this.#stopping = true;
    this.#child.kill(signal);
    return this.#exit!;
  }
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-cli-"));
}

/** Two sites A and B in `root`, started and paired: what most two-site tests begin with. */
export async function pairedSites(root: string): Promise<{ a: Daemon; b: Daemon; dirA: string; dirB: string }> {
  const dirA = path.join(root, "A");
  const dirB = path.join(root, "B");
  for (const [dir, name] of [[dirA, "A"], [dirB, "B"]] as const) {
    await ok(["site", "init", "--dir", dir, "--name", name, "--api-port", "0", "--nbd-port", "0", "--replication-port", "0"]);
  }
  const a = new Daemon(dirA);
  const b = new Daemon(dirB);
  await Promise.all([a.start(), b.start()]);
  const token = (await ok(["site", "pair-token", "--dir", dirB])).trim();
  await ok(["pair", "--dir", dirA, "--peer", b.run.apiUrl, "--token", token]);
  return { a, b, dirA, dirB };
}

/** Polls `check` until it holds, or fails naming `what`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
