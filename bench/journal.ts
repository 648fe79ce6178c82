/**
 * `npm run bench:journal`: the journal against the plain file system, on the
 * same file system, in one run, A and B alternately (ratios reported):
 *
 *   append        4 KiB and 1 MiB records, group-committed, against a plain
 *                 sequential writev of the same bytes + fdatasync per batch
 *   view open     PitView.open on a journal of 1M records, 1 GiB and 1 TiB disk
 *   view reads    random 4 KiB reads, PitView against a FileDevice holding the same disk
 *   journal open  with and without the index snapshot, 1M records
 *   memory        index bytes per record
 *
 *   node dist/bench/journal.js [--records 1000000] [--rounds 3] [--append-rounds 7]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { FileDevice, type BlockDevice } from "../src/blockdev/index.js";
import { Journal, PitView } from "../src/journal/index.js";
import { median, printTable, writeResults } from "./common.js";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const RECORDS = opt("records", 1_000_000);
const ROUNDS = opt("rounds", 3);
// Appends are short and the noisiest on these machines: more rounds, the median ratio.
const APPEND_ROUNDS = opt("append-rounds", 7);
const dir = fs.mkdtempSync(path.join(process.env.LIFELINE_BENCH_DIR ?? os.tmpdir(), "lifeline-bench-journal-"));
const log = (s: string) => process.stderr.write(`${s}\n`);
const GiB = 1024 ** 3;

// ---- append against raw ----

interface AppendCase {
  name: string;
  recordBytes: number;
  batch: number;
  totalBytes: number;
}

const APPEND_CASES: AppendCase[] = [
  { name: "append 4 KiB, batches of 32", recordBytes: 4096, batch: 32, totalBytes: 128 << 20 },
  { name: "append 1 MiB, batches of 8", recordBytes: 1 << 20, batch: 8, totalBytes: 512 << 20 },
];

function buffers(c: AppendCase): Buffer[] {
  return Array.from({ length: c.batch }, (_, i) => Buffer.alloc(c.recordBytes, i + 1));
}

/** MB/s of writev + fdatasync per batch, sequentially into a new file. */
async function rawRun(c: AppendCase, file: string): Promise<number> {
  const fd = fs.openSync(file, "w");
  const bufs = buffers(c);
  const batches = c.totalBytes / (c.recordBytes * c.batch);
  const t0 = performance.now();
  let pos = 0;
  for (let b = 0; b < batches; b++) {
    const n = await new Promise<number>((resolve, reject) => fs.writev(fd, bufs, pos, (err, w) => (err ? reject(err) : resolve(w))));
    pos += n;
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }
  const ms = performance.now() - t0;
  fs.closeSync(fd);
  fs.rmSync(file);
  return c.totalBytes / 1e6 / (ms / 1000);
}

/** MB/s of journal appends, `batch` at a time, each batch awaited (its group commit). */
async function journalRun(c: AppendCase, jdir: string): Promise<number> {
  fs.rmSync(jdir, { recursive: true, force: true });
  const j = await Journal.create(jdir, { disks: [{ name: "d", sizeBytes: 64 * GiB }] });
  const bufs = buffers(c);
  const batches = c.totalBytes / (c.recordBytes * c.batch);
  let seq = 0;
  let offset = 0;
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const appends: Promise<void>[] = [];
    for (const data of bufs) {
      appends.push(j.append({ type: "write", seq: ++seq, timeMs: Date.now(), disk: "d", offset, data }));
      offset = (offset + c.recordBytes) % (64 * GiB);
    }
    await Promise.all(appends);
  }
  const ms = performance.now() - t0;
  await j.close({ snapshot: false });
  fs.rmSync(jdir, { recursive: true, force: true });
  return c.totalBytes / 1e6 / (ms / 1000);
}

// ---- a journal of RECORDS records ----

async function buildJournal(name: string, diskBytes: number, mirror: boolean): Promise<{ dir: string; mirror: string | undefined; buildMs: number }> {
  const jdir = path.join(dir, name);
  await (await Journal.create(jdir, { disks: [{ name: "d", sizeBytes: diskBytes }], limitBytes: 1024 * GiB })).close();
  const j = await Journal.open(jdir, { promoteEveryMs: 0 });
  const mirrorPath = mirror ? path.join(dir, `${name}-mirror.raw`) : undefined;
  const m = mirrorPath ? await FileDevice.open(mirrorPath, { sizeBytes: diskBytes }) : undefined;
  const pool = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4096, i * 3 + 1));
  const blocks = Math.floor(diskBytes / 4096);
  let x = 12345;
  const t0 = performance.now();
  for (let seq = 1; seq <= RECORDS; ) {
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 256 && seq <= RECORDS; i++, seq++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      if (seq % 1000 === 0) {
        appends.push(j.append({ type: "checkpoint", seq, timeMs: Date.now(), id: `c${seq}` }));
        continue;
      }
      const offset = (Math.floor((x / 2 ** 32) * blocks) % blocks) * 4096;
      const data = pool[seq % pool.length]!;
      appends.push(j.append({ type: "write", seq, timeMs: Date.now(), disk: "d", offset, data }));
      if (m) appends.push(m.write(offset, data));
    }
    await Promise.all(appends);
  }
  const buildMs = performance.now() - t0;
  await j.close();
  await m?.close();
  return { dir: jdir, mirror: mirrorPath, buildMs };
}

async function timeOpen(jdir: string, useSnapshot: boolean): Promise<{ ms: number; journal: Journal }> {
  const t0 = performance.now();
  // No promotion timer: the index measured must hold every record.
  const journal = await Journal.open(jdir, { useSnapshot, promoteEveryMs: 0 });
  return { ms: performance.now() - t0, journal };
}

async function viewOpenMs(j: Journal): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const seq = j.appliedThroughSeq + Math.floor(((i * 7919) % 1000) / 1000 * (j.lastSeq - j.appliedThroughSeq));
    const t0 = performance.now();
    const view = await PitView.open(j, "d", seq);
    await view.read(0, 4096);
    times.push(performance.now() - t0);
    await view.close();
  }
  return median(times);
}

/** Random 4 KiB reads per second, 32 in flight. */
async function randomReads(dev: BlockDevice, count: number): Promise<number> {
  const blocks = Math.floor(dev.size / 4096);
  let x = 777;
  let issued = 0;
  const t0 = performance.now();
  const worker = async () => {
    const buf = Buffer.allocUnsafe(4096);
    while (issued < count) {
      issued++;
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const offset = Math.floor((x / 2 ** 32) * blocks) * 4096;
      if (dev.readInto) await dev.readInto(buf, 0, offset, 4096);
      else await dev.read(offset, 4096);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return count / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const rows: Array<Array<string | number>> = [];
  // Other work on the machine skews absolute figures (ratios less so): record the load.
  const json: Record<string, unknown> = { records: RECORDS, rounds: ROUNDS, appendRounds: APPEND_ROUNDS, loadAverageAtStart: os.loadavg(), cpus: os.cpus().length };

  log("warming up (1 GiB of plain writes)...");
  await rawRun({ name: "warmup", recordBytes: 1 << 20, batch: 16, totalBytes: 1024 << 20 }, path.join(dir, "warmup.raw"));
  for (const c of APPEND_CASES) {
    const raw: number[] = [];
    const jr: number[] = [];
    for (let r = 0; r < APPEND_ROUNDS; r++) {
      log(`${c.name}: round ${r + 1}/${APPEND_ROUNDS}`);
      raw.push(await rawRun(c, path.join(dir, "raw.bin")));
      jr.push(await journalRun(c, path.join(dir, "append")));
    }
    const ratio = median(jr.map((v, i) => v / raw[i]!));
    rows.push([c.name, `${median(jr).toFixed(0)} MB/s`, `${median(raw).toFixed(0)} MB/s (raw)`, ratio.toFixed(2), "≥ 0.80"]);
    json[c.name] = { journalMBps: jr, rawMBps: raw, ratio };
  }

  for (const [name, size] of [["1 GiB", GiB], ["1 TiB", 1024 * GiB]] as const) {
    log(`building a journal of ${RECORDS} records on a ${name} disk...`);
    const built = await buildJournal(name.replace(" ", ""), size, size === GiB);
    const withSnap = await timeOpen(built.dir, true);
    const mem = withSnap.journal.indexMemory;
    const viewMs = await viewOpenMs(withSnap.journal);
    await withSnap.journal.close({ snapshot: false });
    const noSnap = await timeOpen(built.dir, false);
    rows.push([`PitView open, ${name} disk`, `${viewMs.toFixed(3)} ms`, "", "", "< 1000 ms, same for both"]);
    rows.push([`journal open, ${name}, snapshot`, `${withSnap.ms.toFixed(0)} ms`, `${noSnap.ms.toFixed(0)} ms (headers)`, (noSnap.ms / withSnap.ms).toFixed(1) + "× faster", ""]);
    rows.push([`index memory, ${name}`, `${(mem.bytes / mem.records).toFixed(1)} B/record`, `${mem.records} records`, "", "≤ 64 B"]);
    json[`${name} disk`] = { buildMs: built.buildMs, viewOpenMs: viewMs, journalOpenSnapshotMs: withSnap.ms, journalOpenHeadersMs: noSnap.ms, indexBytes: mem.bytes, records: mem.records, bytesPerRecord: mem.bytes / mem.records };
    if (built.mirror) {
      const view = await PitView.open(noSnap.journal, "d", noSnap.journal.lastSeq);
      const file = await FileDevice.open(built.mirror, { readOnly: true });
      const pv: number[] = [];
      const fd: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        log(`random 4 KiB reads: round ${r + 1}/${ROUNDS}`);
        pv.push(await randomReads(view, 100_000));
        fd.push(await randomReads(file, 100_000));
      }
      const ratio = median(pv.map((v, i) => v / fd[i]!));
      rows.push(["random 4 KiB reads, 1 GiB, qd32", `${(median(pv) / 1000).toFixed(1)} k/s`, `${(median(fd) / 1000).toFixed(1)} k/s (FileDevice)`, ratio.toFixed(2), "≥ 0.50"]);
      json["random 4 KiB reads"] = { pitViewPerSec: pv, fileDevicePerSec: fd, ratio };
      await view.close();
      await file.close();
    }
    await noSnap.journal.close({ snapshot: false });
    fs.rmSync(built.dir, { recursive: true, force: true });
    if (built.mirror) fs.rmSync(built.mirror, { force: true });
  }

  json.loadAverageAtEnd = os.loadavg();
  console.log();
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")} on ${os.cpus().length} CPUs (other work skews absolute figures; ratios less so)`);
  printTable(["measure", "journal", "reference", "ratio", "target"], rows);
  const file = writeResults("journal", json);
  console.log(`\nresults in ${file}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
