/**
 * The one small harness every end-to-end test starts from (as nbdkit's tests
 * start from tests/functions.sh): a real `lifeline` process, real clients,
 * temp dirs that clean themselves up. A client that is missing fails the test:
 * CI must never pass by skipping.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const LIFELINE = path.join(ROOT, "bin/lifeline.js");

/** The path of a required client; throws (failing the test) when it is not installed. */
export function requireTool(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`${name} is required by the end-to-end tests and is not installed (bash .ci/run installs it)`);
}

/** Runs a command; rejects with its stderr when it fails. */
export async function run(cmd: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  requireTool(cmd);
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lifeline-${prefix}-`));
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export interface Served {
  child: ChildProcess;
  port: number;
  uri(exportName: string): string;
  stderr(): string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `lifeline nbd serve` with the given arguments on a free port. */
export async function serveNbd(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [LIFELINE, "nbd", "serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LIFELINE_LOG: process.env.LIFELINE_LOG ?? "info" },
  });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
      const m = /nbd:\/\/[^:]+:(\d+)\//.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`lifeline nbd serve exited with ${code}: ${stderr}`)));
  });
  return {
    child,
    port,
    uri: (name) => `nbd://127.0.0.1:${port}/${name}`,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A file of pseudo-random bytes (deterministic for a seed), with a few holes. */
export function writePatternFile(file: string, sizeBytes: number, seed: number): void {
  const fd = fs.openSync(file, "w");
  const block = Buffer.alloc(1 << 20);
  let x = seed >>> 0 || 1;
  for (let at = 0; at < sizeBytes; at += block.length) {
    // Every fourth MiB stays a hole, so sparse handling is exercised too.
    if ((at >> 20) % 4 === 3) continue;
    for (let i = 0; i < block.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      block.writeUInt32LE(x >>> 0, i);
    }
    fs.writeSync(fd, block, 0, Math.min(block.length, sizeBytes - at), at);
  }
  fs.ftruncateSync(fd, sizeBytes);
  fs.closeSync(fd);
}
