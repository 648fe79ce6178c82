/**
 * `npm run bench:recovery`: RTO, from "fail over" to the recovered disks being
 * served over NBD (an NBD client reads the first block), for a group whose
 * journal holds 1 million records, with a 1 GiB and with a 1 TiB sparse disk;
 * and the time to start and stop a failover test. RTO must not grow with the
 * disk: both sizes are measured in one run, side by side.
 *
 *   node dist/bench/recovery.js [--records 1000000] [--rounds 5]
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { Journal } from "../src/journal/index.js";
import { NbdServer, StaticExports } from "../src/nbd/index.js";
import { FailoverTest, LiveFailover, MemoryTaskStore, NoneDriver, parsePoint, resolvePoint, type RecoveryGroup } from "../src/orchestration/index.js";
import { median, printTable, writeResults } from "./common.js";
import { benchReverseProtection, type SiteRecoveryResult } from "./recovery-sites.js";

const execFileAsync = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RECORDS = opt("records", 1_000_000);
const ROUNDS = opt("rounds", 5);
const GiB = 1024 ** 3;
const dir = fs.mkdtempSync(path.join(process.env.LIFELINE_BENCH_DIR ?? os.tmpdir(), "lifeline-bench-recovery-"));
const log = (s: string) => process.stderr.write(`${s}\n`);

/** A journal of RECORDS records: 4 KiB writes at random offsets, a checkpoint every 1000. */
async function buildJournal(name: string, diskBytes: number): Promise<string> {
  const jdir = path.join(dir, name);
  await (await Journal.create(jdir, { disks: [{ name: "vm/disk", sizeBytes: diskBytes }], limitBytes: 1024 * GiB })).close();
  const j = await Journal.open(jdir);
  const pool = Array.from({ length: 16 }, (_, i) => Buffer.alloc(4096, i + 1));
  const blocks = Math.floor(diskBytes / 4096);
  let x = 4242;
  const t0 = Date.now() - 3_600_000;
  for (let seq = j.lastSeq + 1; seq <= RECORDS; ) {
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 256 && seq <= RECORDS; i++, seq++) {
      const timeMs = t0 + Math.floor((seq / RECORDS) * 3_500_000);
      if (seq % 1000 === 0) {
        appends.push(j.append({ type: "checkpoint", seq, timeMs, id: `c${seq}` }));
        continue;
      }
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      appends.push(j.append({ type: "write", seq, timeMs, disk: "vm/disk", offset: (x % blocks) * 4096, data: pool[seq % 16]! }));
    }
    await Promise.all(appends);
  }
  await j.close();
  return jdir;
}

interface Timings {
  rtoMs: number[];
  testStartMs: number[];
  testStopMs: number[];
}

async function measure(jdir: string): Promise<Timings> {
  const journal = await Journal.open(jdir);
  const exports = new StaticExports();
  const server = new NbdServer({ exports });
  const { port } = await server.listen(0);
  const group: RecoveryGroup = {
    name: "erp",
    journal,
    vms: [{ name: "vm", bootOrder: 1, bootDelayMs: 0, disks: [{ name: "disk", journalDisk: "vm/disk" }], networkMapping: { test: {}, live: {} } }],
    exports: { add: (e) => void exports.add(e), remove: (n) => void exports.remove(n), uri: (n) => `nbd://127.0.0.1:${port}/${n}` },
    driver: new NoneDriver(),
    workDir: path.join(jdir, "..", `${path.basename(jdir)}-work`),
  };
  const control = { stop: async () => {}, resume: async () => {} };
  const t: Timings = { rtoMs: [], testStartMs: [], testStopMs: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // A different point each round, spread over the journal.
      const point = resolvePoint(journal, parsePoint(`seq:${Math.floor(RECORDS * (0.2 + 0.15 * round)) - (Math.floor(RECORDS * (0.2 + 0.15 * round)) % 1000)}`));
      const store = new MemoryTaskStore();

      const t0 = performance.now();
      const failover = new LiveFailover(group, point, "bench", control);
      const task = await failover.start(store);
      if (task.state !== "succeeded") throw new Error(`failover failed: ${task.error}`);
      await execFileAsync("nbdinfo", ["--can", "read", group.exports.uri("erp/vm/disk")]);
      await execFileAsync("qemu-io", ["-f", "raw", "-r", "-c", "read 0 4k", group.exports.uri("erp/vm/disk")]);
      t.rtoMs.push(performance.now() - t0);
      await failover.rollback(store);

      const s0 = performance.now();
      const test = new FailoverTest(group, point, "bench");
      await test.start(store);
      t.testStartMs.push(performance.now() - s0);
      const s1 = performance.now();
      await test.stop(store, "pass", "");
      t.testStopMs.push(performance.now() - s1);
    }
  } finally {
    await server.close();
    await journal.close();
  }
  return t;
}

async function main(): Promise<void> {
  const cases = [
    { name: "1 GiB disk", bytes: GiB },
    { name: "1 TiB sparse disk", bytes: 1024 * GiB },
  ];
  const results: Record<string, Timings & { buildMs: number }> = {};
  try {
    for (const c of cases) {
      log(`building a journal of ${RECORDS} records for a ${c.name}...`);
      const b0 = performance.now();
      const jdir = await buildJournal(c.name.replace(/\W+/g, "-"), c.bytes);
      const buildMs = performance.now() - b0;
      log(`measuring ${c.name}...`);
      results[c.name] = { ...(await measure(jdir)), buildMs };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows = cases.map((c) => {
    const r = results[c.name]!;
    return [c.name, RECORDS, median(r.rtoMs), Math.max(...r.rtoMs), median(r.testStartMs), median(r.testStopMs)];
  });
  const [small, large] = cases.map((c) => median(results[c.name]!.rtoMs));
  console.log(`\nRTO: "fail over" to the recovered disk answering an NBD client (nbdinfo, then qemu-io reads a block); ${ROUNDS} rounds, median\n`);
  printTable(["group", "journal records", "RTO ms", "RTO max ms", "test start ms", "test stop ms"], rows);
  console.log(`\nRTO 1 TiB / 1 GiB: ${(large! / small!).toFixed(2)} (target: the same; RTO <= 2000 ms)`);

  let sites: SiteRecoveryResult | undefined;
  if (!args.includes("--no-sites")) {
    log("two site daemons: failover, 1% changed, commit, reverse protection…");
    sites = await benchReverseProtection(log);
    const s = sites;
    console.log(`\nreverse protection with two site daemons: a 4 GiB disk with 1 GiB of data, 1% rewritten at the recovery site\n`);
    printTable(["measure", "value", "note"], [
      ["lifeline failover, command to disk served", `${s.failoverCommandMs.toFixed(0)} ms`, "CLI process, task, nbdinfo answering"],
      ["reverse-protect, command to protected", `${(s.reverseToProtectedMs / 1000).toFixed(2)} s`, "includes the delta sync"],
      ["delta sync compared", `${(s.deltaComparedBytes / GiB).toFixed(2)} GiB`, "the whole disk, by hash"],
      ["delta sync sent", `${(s.deltaDifferingBytes / 1024 ** 2).toFixed(1)} MiB`, `${(s.changedBytes / 1024 ** 2).toFixed(1)} MiB rewritten; a full resync would send ${(s.dataBytes / GiB).toFixed(0)} GiB`],
    ]);
  }
  const file = writeResults("recovery", { date: new Date().toISOString(), records: RECORDS, rounds: ROUNDS, results, rtoRatioLargeToSmall: large! / small!, reverseProtection: sites });
  console.log(`written: ${path.relative(process.cwd(), file)}`);
}

await main();
