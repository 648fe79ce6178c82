/**
 * The torture's two sites: site daemons A (protected) and B (recovery) as
 * their own processes, made and paired with the CLI as a user would. When
 * this process is root, B runs on a second host (a network namespace behind
 * a veth link, netns.ts) and its data directory is a small tmpfs that the
 * suite can fill up. B's replication port is reached through a fault proxy
 * (B advertises the proxy's address), whose far leg crosses that link.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Daemon, ok, tempDir } from "../cli/harness.js";
import { FaultProxy } from "../replication/fault-proxy.js";
import type { DiskShape } from "./history.js";
import { HostLink } from "./netns.js";
import { sleep } from "./writer.js";

export const GROUP = "erp";
const MiB = 1024 * 1024;

/** The group's VMs: the recorded ones, and one that fio writes. */
export const RECORDED_DISKS: { vm: string; disk: string; sizeBytes: number }[] = [
  { vm: "db", disk: "data", sizeBytes: 32 * MiB },
  { vm: "db", disk: "log", sizeBytes: 16 * MiB },
  { vm: "app", disk: "os", sizeBytes: 16 * MiB },
];
export const FIO_DISK = { vm: "files", disk: "scratch", sizeBytes: 64 * MiB };

export interface GroupView {
  state: string;
  reason: string;
  rpoMs: number | null;
  link: string;
  journalBytes: number | null;
}

export interface CheckpointView {
  id: string;
  seq: number;
  time: number;
  tag: string | null;
  consistent: boolean;
}

export class TortureSites {
  readonly root = tempDir();
  readonly a: Daemon;
  readonly b: Daemon;
  readonly proxy: FaultProxy;
  /** The link to B's host, when B runs on one of its own. */
  readonly link: HostLink | undefined;
  /** B's data directory, when it is a tmpfs of ours (else the full-disk fault cannot run). */
  tmpfs: string | undefined;
  readonly disks: DiskShape[] = RECORDED_DISKS.map((d) => ({ name: `${GROUP}/${d.vm}/${d.disk}`, sizeBytes: d.sizeBytes }));

  private constructor(proxy: FaultProxy, link: HostLink | undefined) {
    this.a = new Daemon(path.join(this.root, "A"));
    this.b = new Daemon(path.join(this.root, "B"), link ? { netns: link.ns } : {});
    this.proxy = proxy;
    this.link = link;
  }

  static async start(o: { tmpfsBytes: number; journalLimit: string; history: string; streamBuffer: string }): Promise<TortureSites> {
    const link = HostLink.make();
    const [hostA, hostB] = link ? [link.hostA, link.hostB] : ["127.0.0.1", "127.0.0.1"];
    const replicationPort = await freePort();
    const proxy = new FaultProxy({ host: hostB, port: replicationPort });
    const proxyPort = await proxy.listen();
    const s = new TortureSites(proxy, link);
    await ok(["site", "init", "--dir", s.a.dir, "--name", "A", "--host", hostA, "--api-port", "0", "--nbd-port", "0", "--replication-port", "0", "--stream-buffer", o.streamBuffer]);
    await ok(["site", "init", "--dir", s.b.dir, "--name", "B", "--host", hostB, "--api-port", "0", "--nbd-port", "0", "--replication-port", String(replicationPort), "--replication-advertise", `127.0.0.1:${proxyPort}`]);
    s.tmpfs = mountTmpfs(path.join(s.b.dir, "data"), o.tmpfsBytes);
    await Promise.all([s.a.start(), s.b.start()]);
    const token = (await ok(["site", "pair-token", "--dir", s.b.dir])).trim();
    await ok(["pair", "--dir", s.a.dir, "--peer", s.b.run.apiUrl, "--token", token]);
    await ok(["group", "create", GROUP, "--recovery-site", "B", "--rpo", "10s", "--journal-limit", o.journalLimit, "--history", o.history, "--dir", s.a.dir]);
    const byVm = new Map<string, string[]>();
    for (const d of [...RECORDED_DISKS, FIO_DISK]) byVm.set(d.vm, [...(byVm.get(d.vm) ?? []), "--disk", `${d.disk}:${d.sizeBytes / MiB}MiB`]);
    for (const [vm, disks] of byVm) await ok(["vm", "add", GROUP, vm, ...disks, "--no-wait", "--dir", s.a.dir]);
    return s;
  }

  /** A call to a site's API with its CLI token; rejects with the API's message. */
  async api<T>(site: Daemon, method: string, route: string, body?: unknown): Promise<T> {
    const token = fs.readFileSync(path.join(site.dir, "cli-token"), "utf8").trim();
    const res = await fetch(`${site.run.apiUrl}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route} at ${site.dir}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  group(): Promise<GroupView> {
    return this.api<GroupView>(this.a, "GET", `/groups/${GROUP}`);
  }

  /** B's durable checkpoints, oldest first. */
  checkpoints(): Promise<CheckpointView[]> {
    return this.api<CheckpointView[]>(this.b, "GET", `/groups/${GROUP}/checkpoints`);
  }

  /** Fills B's tmpfs to the last byte (a ballast file); `release` gives the space back. */
  fill(): { release(): void } {
    const file = path.join(this.tmpfs!, "ballast");
    const fd = fs.openSync(file, "w");
    const chunk = Buffer.alloc(MiB, 0xee);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    } finally {
      fs.closeSync(fd);
    }
    return { release: () => fs.rmSync(file, { force: true }) };
  }

  /** Resident memory of a daemon, in bytes (0 when it is not running). */
  rss(site: Daemon): number {
    const pid = site.pid;
    if (pid === undefined) return 0;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** Stops both daemons and removes everything, unless `keep` (a failed run's evidence; the tmpfs stays mounted). */
  async close(o: { keep?: boolean } = {}): Promise<void> {
    await Promise.all([this.a.stop("SIGKILL"), this.b.stop("SIGKILL")]);
    await this.proxy.close();
    this.link?.destroy();
    if (o.keep) return;
    if (this.tmpfs) {
      for (let i = 0; i < 20; i++) {
        try {
          execFileSync("umount", [this.tmpfs], { stdio: "pipe" });
          break;
        } catch {
          await sleep(250);
        }
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `bytes` at `dir` when this process may (root); undefined otherwise. */
function mountTmpfs(dir: string, bytes: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "lifeline-torture", dir], { stdio: "pipe" });
    return dir;
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
