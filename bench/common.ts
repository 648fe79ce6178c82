/**
 * What every benchmark shares: child servers, fio runs parsed from JSON, RSS
 * sampling, and the table printed with ratios against a reference.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Server {
  name: string;
  child: ChildProcess;
  uri: string;
  stop(): Promise<void>;
}

export async function startServer(name: string, cmd: string, args: string[], port: number, exportName: string): Promise<Server> {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, LIFELINE_LOG: "warn" } });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  await waitForPort(port);
  return {
    name,
    child,
    uri: `nbd://127.0.0.1:${port}/${exportName}`,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export interface FioResult {
  mbPerSec: number;
  iops: number;
  p50Us: number;
  p99Us: number;
}

export async function fio(uri: string, args: string[]): Promise<FioResult> {
  const { stdout } = await execFileAsync(
    "fio",
    ["--name=bench", "--ioengine=nbd", `--uri=${uri}`, "--output-format=json", "--group_reporting", "--lat_percentiles=1", ...args],
    { maxBuffer: 64 << 20 },
  );
  const job = JSON.parse(stdout.slice(stdout.indexOf("{"))).jobs[0];
  const side = job.write.io_bytes > 0 ? job.write : job.read;
  // Total latency (submission to completion): with fio's nbd engine, completion
  // latency alone is bimodal and misleading at queue depth 1.
  const pct = side.lat_ns.percentile ?? {};
  return {
    mbPerSec: side.bw_bytes / 1e6,
    iops: side.iops,
    p50Us: (pct["50.000000"] ?? 0) / 1000,
    p99Us: (pct["99.000000"] ?? 0) / 1000,
  };
}

/** Samples a process's resident memory until stopped; returns the peak in MiB. */
export function sampleRss(pid: number): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // the process is gone
    }
  }, 100);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function printTable(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  const line = (r: Array<string | number>) => r.map((c, i) => String(c).padStart(widths[i]!)).join("  ");
  console.log(line(cells[0]!));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) console.log(line(r));
}

function formatNumber(n: number): string {
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function writeResults(name: string, data: unknown): string {
  const file = path.join(ROOT, "bench/results", `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  return file;
}
