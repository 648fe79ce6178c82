/**
 * Part of `npm run bench:recovery`: reverse protection as an operator runs it,
 * with two site daemons (separate processes) and the CLI. A group with a
 * 4 GiB disk holding 1 GiB of data is protected A → B; it is failed over to
 * B, 1% of the disk (41 MiB in 64 KiB blocks spread over it) is rewritten
 * there, the failover committed and protection reversed. Measured: the time
 * from `reverse-protect` to the group protected B → A, and the bytes the
 * delta sync sent, against a full resync of the disk's data. Also the RTO of
 * `lifeline failover` at the site level (command to its disks answering).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { ROOT } from "./common.js";

const run = promisify(execFile);
const LIFELINE = path.join(ROOT, "bin/lifeline.js");
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export interface SiteRecoveryResult {
  diskBytes: number;
  dataBytes: number;
  changedBytes: number;
  failoverCommandMs: number;
  reverseToProtectedMs: number;
  deltaComparedBytes: number;
  deltaDifferingBytes: number;
}

const cli = async (args: string[]): Promise<string> => (await run(process.execPath, [LIFELINE, ...args], { env: { ...process.env, LIFELINE_LOG: "warn" }, timeout: 600_000, maxBuffer: 64 * MiB })).stdout;

async function until(what: string, check: () => Promise<boolean>, ms = 600_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function benchReverseProtection(log: (s: string) => void): Promise<SiteRecoveryResult> {
  const root = fs.mkdtempSync(path.join(process.env.LIFELINE_BENCH_DIR ?? os.tmpdir(), "lifeline-bench-sites-"));
  const dirs = { A: path.join(root, "A"), B: path.join(root, "B") };
  const daemons: ChildProcess[] = [];
  try {
    for (const [name, dir] of Object.entries(dirs)) {
      await cli(["site", "init", "--dir", dir, "--name", name, "--api-port", "0", "--nbd-port", "0", "--replication-port", "0"]);
      const child = spawn(process.execPath, [LIFELINE, "site", "start", "--dir", dir], { env: { ...process.env, LIFELINE_LOG: "warn" }, stdio: "ignore" });
      daemons.push(child);
      await until(`site ${name} to start`, async () => fs.existsSync(path.join(dir, "run.json")), 30_000);
    }
    const runOf = (d: string) => JSON.parse(fs.readFileSync(path.join(d, "run.json"), "utf8")) as { apiUrl: string; nbd: { port: number } };
    const token = (await cli(["site", "pair-token", "--dir", dirs.B])).trim();
    await cli(["pair", "--dir", dirs.A, "--peer", runOf(dirs.B).apiUrl, "--token", token]);
    const state = async (dir: string) => JSON.parse(await cli(["status", "erp", "--json", "--dir", dir])) as { state: string; role: string };

    // A 4 GiB disk file holding 1 GiB of data, protected: the initial sync sends the data.
    const disk = path.join(dirs.A, "erp-db.raw");
    fs.writeFileSync(disk, "");
    fs.truncateSync(disk, 4 * GiB);
    await run("fio", ["--name=fill", "--filename=" + disk, "--rw=write", "--bs=1M", "--size=1G", "--buffer_compress_percentage=0", "--refill_buffers", "--end_fsync=1"], { timeout: 600_000 });
    await cli(["group", "create", "erp", "--recovery-site", "B", "--dir", dirs.A]);
    await cli(["vm", "add", "erp", "erp-db", "--disk", `data:${4 * GiB}:${disk}`, "--no-wait", "--dir", dirs.A]);
    log("initial sync of 1 GiB…");
    await until("erp protected", async () => (await state(dirs.A)).state === "protected");
    await cli(["checkpoint", "add", "erp", "--tag", "before", "--dir", dirs.A]);

    const f0 = performance.now();
    await cli(["failover", "erp", "--point", "tag:before", "--dir", dirs.B]);
    const uri = `nbd://127.0.0.1:${runOf(dirs.B).nbd.port}/erp/erp-db/data`;
    await run("nbdinfo", ["--can", "read", uri]);
    const failoverCommandMs = performance.now() - f0;

    // 1% of the disk rewritten at B, in 64 KiB blocks spread over the whole disk.
    const changedBytes = Math.round((4 * GiB) / 100 / (64 * 1024)) * 64 * 1024;
    // A random map: every block written once, so exactly 1% of the disk differs.
    await run("fio", ["--name=change", "--ioengine=nbd", `--uri=${uri}`, "--rw=randwrite", "--bs=64k", `--io_size=${changedBytes}`, "--size=4G", "--randrepeat=1", "--refill_buffers"], { timeout: 600_000 });
    await cli(["commit", "erp", "--dir", dirs.B]);

    log("reverse protection (delta sync)…");
    const r0 = performance.now();
    await cli(["reverse-protect", "erp", "--dir", dirs.B]);
    await until("erp protected from B", async () => {
      const s = await state(dirs.B);
      return s.role === "protected" && s.state === "protected";
    });
    const reverseToProtectedMs = performance.now() - r0;
    const events = JSON.parse(await cli(["events", "--json", "--dir", dirs.B])) as { kind: string; data: { comparedBytes?: number; differingBytes?: number } }[];
    const delta = events.find((e) => e.kind === "delta-sync");
    return {
      diskBytes: 4 * GiB,
      dataBytes: GiB,
      changedBytes,
      failoverCommandMs,
      reverseToProtectedMs,
      deltaComparedBytes: delta?.data.comparedBytes ?? NaN,
      deltaDifferingBytes: delta?.data.differingBytes ?? NaN,
    };
  } finally {
    for (const d of daemons) d.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    fs.rmSync(root, { recursive: true, force: true });
  }
}
