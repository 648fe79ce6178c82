/**
 * `npm run bench:replication`: fio through a protected export that replicates
 * to a second appliance (another process, over TLS on loopback), against the
 * same export with replication off; run alternately (off, on, off, on) so
 * that drift on this machine hits both alike. Beside them, the reference:
 * bare TLS 1.3 between two processes on loopback, the most any replication
 * over TLS can carry here, and durable writes to a new file, the most the
 * journal's disk takes. Then RPO under a sustained
 * random-write load, bytes on the wire for compressible and incompressible
 * data, CPU per GiB on each side, an initial sync against nbdcopy between two
 * nbdkit servers, and a bitmap sync after a link cut.
 *
 *   node dist/bench/replication.js [--rounds 3] [--seconds 5] [--size-mib 1024] [--cut-seconds 60] [--only tls,ratio,rpo,wire,initial,cut] [--jobs seq,rand] [--profile DIR] [--recovery-root DIR]
 *
 * With --profile, each ratio job's first replicating run is CPU-profiled in both
 * appliances (after the warm-up): DIR/<job>-<role>.cpuprofile, for Chrome DevTools.
 * Node flags given to the parent go to both appliances (`node --cpu-prof --cpu-prof-dir=DIR ...`).
 *
 * The same file is the two appliances' child processes: `protected` and `receiver` roles.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import inspector from "node:inspector";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import tls from "node:tls";
import { promisify } from "node:util";
import { FileDevice, type BlockDevice } from "../src/blockdev/index.js";
import { Journal } from "../src/journal/index.js";
import { tuneProcess } from "../src/cli/process-tuning.js";
import { NbdServer, StaticExports } from "../src/nbd/index.js";
import { ProtectedGroup, Receiver, Sender, generateIdentity, journalStore, loadIdentity, type SiteIdentity } from "../src/replication/index.js";
import { tlsOptions } from "../src/replication/site-identity.js";
import { fio, freePort, median, printTable, startServer, writeResults, type FioResult } from "./common.js";

const execFileAsync = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const str = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Where the recovery site keeps its data when not beside the protected site's (--recovery-root DIR). */
const RECOVERY_ROOT = str("recovery-root", "") === "" ? "" : fs.mkdtempSync(path.join(str("recovery-root", ""), "lifeline-bench-recv-"));

// ---------------------------------------------------------------- children

type Reply = Record<string, unknown>;

/** Serves commands from the parent: one JSON line in, one JSON line out. `profile-start` and `profile-stop <file>` work in every child. */
function serveCommands(handlers: Record<string, () => Promise<Reply> | Reply>): void {
  const rl = readline.createInterface({ input: process.stdin });
  const session = new inspector.Session();
  const post = (method: string) => new Promise<unknown>((resolve, reject) => session.post(method, (err, r) => (err ? reject(err) : resolve(r))));
  rl.on("line", (line) => {
    const [cmd = "", arg] = line.trim().split(" ");
    void Promise.resolve()
      .then(async () => {
        if (cmd === "profile-start") {
          session.connect();
          await post("Profiler.enable");
          await post("Profiler.start");
          return { ok: true };
        }
        if (cmd === "profile-stop") {
          const { profile } = (await post("Profiler.stop")) as { profile: unknown };
          session.disconnect();
          fs.writeFileSync(arg!, JSON.stringify(profile));
          return { ok: true };
        }
        return handlers[cmd]?.() ?? { error: `unknown command ${cmd}` };
      })
      .then((r) => process.stdout.write(JSON.stringify(r) + "\n"));
  });
  rl.on("close", () => void Promise.resolve(handlers.exit?.()).then(() => process.exit(0)));
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function identities(dir: string): Promise<{ a: SiteIdentity; b: SiteIdentity }> {
  return {
    a: await loadIdentity("site-a", { keyFile: path.join(dir, "a.key"), certFile: path.join(dir, "a.crt") }),
    b: await loadIdentity("site-b", { keyFile: path.join(dir, "b.key"), certFile: path.join(dir, "b.crt") }),
  };
}

async function receiverChild(): Promise<void> {
  const dir = str("dir", "");
  const { a, b } = await identities(str("ids", ""));
  const jdir = path.join(dir, "journal");
  if (!fs.existsSync(jdir)) await (await Journal.create(jdir, { disks: [{ name: "vm/disk", sizeBytes: opt("size-mib", 1024) * MiB }], limitBytes: 64 * GiB })).close();
  let journal: Journal | undefined;
  const receiver = new Receiver({ identity: b, pinnedPeers: [a.fingerprint] });
  await receiver.addGroup("grp", journalStore(jdir, { onOpen: (j) => (journal = j) }));
  const { port } = await receiver.listen(0);
  serveCommands({
    ready: () => ({ port }),
    status: () => ({ cpu: cpuSeconds(), durableSeq: journal?.durableSeq ?? 0, journalBytes: journal?.sizeBytes ?? 0 }),
    exit: async () => {
      await receiver.close();
      return {};
    },
  });
}

async function protectedChild(): Promise<void> {
  const dir = str("dir", "");
  const replicate = str("replicate", "1") === "1";
  const store = await FileDevice.open(path.join(dir, "disk.raw"), { sizeBytes: opt("size-mib", 1024) * MiB });
  let device: BlockDevice = store;
  let group: ProtectedGroup | undefined;
  let sender: Sender | undefined;
  let makeSender: (() => Sender) | undefined;
  if (replicate) {
    const { a, b } = await identities(str("ids", ""));
    group = await ProtectedGroup.open({ name: "grp", disks: [{ name: "vm/disk", store }], initialSync: str("initial-sync", "0") === "1" });
    const g = group;
    makeSender = () => new Sender({ group: g, identity: a, peer: { host: "127.0.0.1", port: opt("receiver-port", 0), fingerprint: b.fingerprint } });
    sender = makeSender();
    sender.start();
    device = group.device("vm/disk");
  }
  const exportsList = new StaticExports().add({ name: "disk", device });
  const nbd = new NbdServer({ exports: exportsList });
  const port = opt("port", 0);
  await nbd.listen(port);
  serveCommands({
    ready: () => ({ port }),
    status: () => ({ cpu: cpuSeconds(), group: group?.status(), sender: sender?.status() }),
    "link-down": async () => {
      await sender?.stop();
      return { ok: true };
    },
    "link-up": () => {
      sender = makeSender?.();
      sender?.start();
      return { ok: true };
    },
    exit: async () => {
      await sender?.stop();
      await nbd.close();
      await group?.close();
      await store.close();
      return {};
    },
  });
}

/**
 * The reference: bare TLS 1.3 over loopback between two processes, with the
 * sites' own certificates, 1 MiB writes, nothing else. No replication over
 * TLS on this machine can move bytes faster or for less CPU than this.
 */
async function tlsSinkChild(): Promise<void> {
  const { b } = await identities(str("ids", ""));
  let received = 0;
  const server = tls.createServer({ ...tlsOptions(b), requestCert: true }, (socket) => socket.on("data", (c: Buffer) => (received += c.length)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serveCommands({
    ready: () => ({ port: (server.address() as { port: number }).port }),
    status: () => ({ cpu: cpuSeconds(), received }),
    exit: () => (server.close(), {}),
  });
}

async function tlsSourceChild(): Promise<void> {
  const { a } = await identities(str("ids", ""));
  const bytes = opt("gib", 4) * GiB;
  const socket = tls.connect({ ...tlsOptions(a), host: "127.0.0.1", port: opt("port", 0) });
  await new Promise<void>((resolve) => socket.once("secureConnect", resolve));
  const chunk = Buffer.alloc(MiB, 0x5a);
  const c0 = cpuSeconds();
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once("drain", resolve));
  }
  const cpu = cpuSeconds() - c0;
  serveCommands({ status: () => ({ cpu }), exit: () => (socket.destroy(), {}) });
}

// ---------------------------------------------------------------- parent side

interface Child {
  proc: ChildProcess;
  ask(cmd: string): Promise<Reply>;
  stop(): Promise<void>;
}

function startChild(role: string, childArgs: string[]): Child {
  // The parent's node flags go to the children too: `node --cpu-prof dist/bench/replication.js` profiles both appliances.
  const proc = spawn(process.execPath, [...process.execArgv, process.argv[1]!, role, ...childArgs], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, UV_THREADPOOL_SIZE: "4" },
  });
  const waiting: ((r: Reply) => void)[] = [];
  readline.createInterface({ input: proc.stdout! }).on("line", (l) => waiting.shift()?.(JSON.parse(l) as Reply));
  const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
  return {
    proc,
    ask(cmd) {
      return new Promise((resolve) => {
        waiting.push(resolve);
        proc.stdin!.write(cmd + "\n");
      });
    },
    async stop() {
      proc.stdin!.end();
      await exited;
    },
  };
}

interface Pair {
  uri: string;
  prot: Child;
  recv: Child | undefined;
  stop(): Promise<void>;
}

async function startPair(work: string, ids: string, replicate: boolean, sizeMiB: number, extra: string[] = []): Promise<Pair> {
  // With --recovery-root, the recovery site's data lives on another file system (as on another machine).
  const recvDir = RECOVERY_ROOT === "" ? path.join(work, "recv") : path.join(RECOVERY_ROOT, path.basename(work));
  fs.mkdirSync(path.join(work, "prod"), { recursive: true });
  fs.mkdirSync(recvDir, { recursive: true });
  let recv: Child | undefined;
  let recvPort = 0;
  if (replicate) {
    recv = startChild("receiver", ["--dir", recvDir, "--ids", ids, "--size-mib", String(sizeMiB)]);
    recvPort = (await recv.ask("ready")).port as number;
  }
  const port = await freePort();
  const prot = startChild("protected", ["--dir", path.join(work, "prod"), "--ids", ids, "--size-mib", String(sizeMiB), "--replicate", replicate ? "1" : "0", "--receiver-port", String(recvPort), "--port", String(port), ...extra]);
  await prot.ask("ready");
  return {
    uri: `nbd://127.0.0.1:${port}/disk`,
    prot,
    recv,
    async stop() {
      await prot.stop();
      await recv?.stop();
      if (RECOVERY_ROOT !== "") fs.rmSync(recvDir, { recursive: true, force: true });
    },
  };
}

interface GroupStatusLite {
  rpoMs: number;
  ackedSeq: number;
  lastSeq: number;
  dirtyBytes: number;
  state: { kind: string };
}
interface SenderStatusLite {
  rawBytes: number;
  wireBytes: number;
  ackedBytes: number;
  batches: number;
  records: number;
}

async function status(p: Pair): Promise<{ cpu: number; group: GroupStatusLite; sender: SenderStatusLite; recvCpu: number }> {
  const s = await p.prot.ask("status");
  const r = p.recv ? await p.recv.ask("status") : { cpu: 0 };
  return { cpu: s.cpu as number, group: s.group as GroupStatusLite, sender: s.sender as SenderStatusLite, recvCpu: r.cpu as number };
}

/** Waits until the recovery site holds everything, consistently; returns the time it took. */
async function caughtUp(p: Pair, timeoutMs = 600_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    const { group: g } = await status(p);
    if (g.state.kind === "streaming" && g.ackedSeq === g.lastSeq && g.rpoMs === 0 && g.dirtyBytes === 0) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`no catch-up in ${timeoutMs} ms: ${JSON.stringify(g)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Samples the RPO every 100 ms while `work` runs. */
async function sampleRpo<T>(p: Pair, work: Promise<T>): Promise<{ result: T; rpo: number[] }> {
  const rpo: number[] = [];
  let done = false;
  const sampling = (async () => {
    while (!done) {
      rpo.push((await status(p)).group.rpoMs);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const result = await work.finally(() => (done = true));
  await sampling;
  return { result, rpo };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const rounds = opt("rounds", 3);
  const seconds = opt("seconds", 5);
  const sizeMiB = opt("size-mib", 1024);
  const only = str("only", "tls,ratio,rpo,wire,initial,cut").split(",");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-bench-repl-"));
  const ids = path.join(root, "ids");
  fs.mkdirSync(ids);
  const [a, b] = await Promise.all([generateIdentity("site-a"), generateIdentity("site-b")]);
  for (const [n, id] of [["a", a], ["b", b]] as const) {
    fs.writeFileSync(path.join(ids, `${n}.key`), id.keyPem);
    fs.writeFileSync(path.join(ids, `${n}.crt`), id.certPem);
  }
  const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, node: process.version }, sizeMiB, rounds, seconds };
  const rows: Array<Array<string | number>> = [];
  try {
    if (only.includes("tls")) {
      await tlsCeiling(ids, results, rows);
      diskCeiling(root, results, rows);
    }
    if (only.includes("ratio")) await ratio(root, ids, sizeMiB, rounds, seconds, results, rows);
    if (only.includes("rpo")) await rpoUnderLoad(root, ids, sizeMiB, seconds, results, rows);
    if (only.includes("wire")) await wire(root, ids, results, rows);
    if (only.includes("initial")) await initialSync(root, ids, results, rows);
    if (only.includes("cut")) await cutAndResync(root, ids, opt("cut-seconds", 60), results, rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    if (RECOVERY_ROOT !== "") fs.rmSync(RECOVERY_ROOT, { recursive: true, force: true });
  }
  console.log();
  printTable(["measure", "value", "unit", "note"], rows);
  // A run of some parts only must not overwrite the whole run's figures.
  const partial = args.includes("--only") || args.includes("--jobs") || args.includes("--profile");
  console.log(`\nwrote ${writeResults(partial ? "replication.partial" : "replication", results)}`);
}

const JOBS = [
  { name: "seq write 1M qd8", args: ["--rw=write", "--bs=1M", "--iodepth=8"], metric: "mbPerSec" as const, target: 0.85 },
  { name: "rand write 4k qd32", args: ["--rw=randwrite", "--bs=4k", "--iodepth=32"], metric: "iops" as const, target: 0.7 },
];

async function tlsCeiling(ids: string, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const gib = 4;
  const sink = startChild("tls-sink", ["--ids", ids]);
  try {
    const port = (await sink.ask("ready")).port as number;
    const r0 = await sink.ask("status");
    const t0 = Date.now();
    const source = startChild("tls-source", ["--ids", ids, "--port", String(port), "--gib", String(gib)]);
    const sent = await source.ask("status");
    while (((await sink.ask("status")).received as number) < gib * GiB) await new Promise((r) => setTimeout(r, 20));
    const ms = Date.now() - t0;
    const r1 = await sink.ask("status");
    await source.stop();
    const out = { gib, mbPerSec: (gib * GiB) / 1e6 / (ms / 1000), senderCpuPerGiB: (sent.cpu as number) / gib, receiverCpuPerGiB: ((r1.cpu as number) - (r0.cpu as number)) / gib };
    results.tlsCeiling = out;
    rows.push(["reference: bare TLS 1.3 on loopback, 1 MiB writes", out.mbPerSec, "MB/s", `CPU ${out.senderCpuPerGiB.toFixed(2)} s/GiB sending, ${out.receiverCpuPerGiB.toFixed(2)} s/GiB receiving: the ceiling for replication here`]);
  } finally {
    await sink.stop();
  }
}

/**
 * The other reference: what the journal does to its disk, bare. 1 GiB into a
 * new file in 8 MiB writes, each durable when it returns (O_DSYNC), as the
 * journal appends its segments. The recovery site cannot hold data durably
 * faster than this.
 */
function diskCeiling(root: string, results: Record<string, unknown>, rows: Array<Array<string | number>>): void {
  const file = path.join(root, "disk-ceiling.raw");
  const chunk = Buffer.alloc(8 * MiB, 0x5a);
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_DSYNC);
  const t0 = performance.now();
  try {
    for (let at = 0; at < GiB; at += chunk.length) fs.writeSync(fd, chunk, 0, chunk.length, at);
  } finally {
    fs.closeSync(fd);
  }
  const mbPerSec = GiB / 1e6 / ((performance.now() - t0) / 1000);
  fs.rmSync(file);
  results.diskCeiling = { gib: 1, writeBytes: chunk.length, mbPerSec };
  rows.push(["reference: durable writes to a new file (O_DSYNC, 8 MiB)", mbPerSec, "MB/s", "what the journal's disk takes at most"]);
}

async function ratio(root: string, ids: string, sizeMiB: number, rounds: number, seconds: number, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const off = await startPair(path.join(root, "off"), ids, false, sizeMiB);
  const on = await startPair(path.join(root, "on"), ids, true, sizeMiB);
  const out: Record<string, unknown> = {};
  try {
    // Same fill for both, and warm memory (see DESIGN.md, benchmark hygiene).
    for (const p of [off, on, off, on]) await fio(p.uri, ["--rw=write", "--bs=1M", "--iodepth=8", `--size=${sizeMiB}M`]);
    await caughtUp(on);
    const jobs = str("jobs", "seq,rand").split(",");
    const profileDir = str("profile", "") === "" ? "" : path.resolve(str("profile", ""));
    if (profileDir !== "") fs.mkdirSync(profileDir, { recursive: true });
    for (const job of JOBS.filter((j) => jobs.some((k) => j.name.startsWith(k)))) {
      const r: { off: FioResult[]; on: FioResult[]; cpuPerGiB: number[]; recvCpuPerGiB: number[]; offCpuPerGiB: number[]; catchUpMs: number[]; recordsPerBatch: number[]; stateAfter: string[]; deliveredMBps: number[] } = { off: [], on: [], cpuPerGiB: [], recvCpuPerGiB: [], offCpuPerGiB: [], catchUpMs: [], recordsPerBatch: [], stateAfter: [], deliveredMBps: [] };
      const fioArgs = [...job.args, `--size=${sizeMiB}M`, "--time_based", `--runtime=${seconds}`];
      for (let i = 0; i < rounds; i++) {
        const o0 = await status(off);
        const fo = await fio(off.uri, fioArgs);
        const o1 = await status(off);
        r.off.push(fo);
        const gibOff = (fo.mbPerSec * 1e6 * seconds) / GiB;
        r.offCpuPerGiB.push((o1.cpu - o0.cpu) / gibOff);
        const s0 = await status(on);
        const profile = profileDir !== "" && i === 0;
        if (profile) await Promise.all([on.prot.ask("profile-start"), on.recv!.ask("profile-start")]);
        const fn = await fio(on.uri, fioArgs);
        // Whether the stream kept up during the run, or overflowed into a bitmap sync.
        r.stateAfter.push((await status(on)).group.state.kind);
        r.catchUpMs.push(await caughtUp(on));
        const s1 = await status(on);
        if (profile) {
          const base = path.join(profileDir, job.name.split(" ").slice(0, 2).join("-"));
          await Promise.all([on.prot.ask(`profile-stop ${base}-protected.cpuprofile`), on.recv!.ask(`profile-stop ${base}-recovery.cpuprofile`)]);
        }
        r.on.push(fn);
        const gib = (s1.sender.ackedBytes - s0.sender.ackedBytes) / GiB;
        // What reached the recovery site durably, over the run and its catch-up (a bitmap sync sends a rewritten block once).
        r.deliveredMBps.push((gib * GiB) / 1e6 / ((seconds * 1000 + r.catchUpMs.at(-1)!) / 1000));
        r.cpuPerGiB.push((s1.cpu - s0.cpu) / gib);
        r.recvCpuPerGiB.push((s1.recvCpu - s0.recvCpu) / gib);
        r.recordsPerBatch.push((s1.sender.records - s0.sender.records) / Math.max(1, s1.sender.batches - s0.sender.batches));
      }
      const ratios = r.on.map((x, i) => x[job.metric] / r.off[i]![job.metric]);
      const m = median(ratios);
      out[job.name] = { ...r, ratios, medianRatio: m, target: job.target };
      const unit = job.metric === "iops" ? "IOPS" : "MB/s";
      rows.push([`${job.name}: off`, median(r.off.map((x) => x[job.metric])), unit, ""]);
      rows.push([`${job.name}: replicating`, median(r.on.map((x) => x[job.metric])), unit, `catch-up after the run ${median(r.catchUpMs)} ms; state at the end: ${r.stateAfter.join(", ")}; ${median(r.recordsPerBatch).toFixed(1)} records a batch`]);
      rows.push([`${job.name}: ratio`, m, "x", `target >= ${job.target}`]);
      rows.push([`${job.name}: held durably at the recovery site`, median(r.deliveredMBps), "MB/s", "acknowledged bytes over the run and its catch-up; a bitmap sync sends a rewritten block once"]);
      rows.push([`${job.name}: CPU protected side`, median(r.cpuPerGiB), "s/GiB", `off: ${median(r.offCpuPerGiB).toFixed(2)} s/GiB`]);
      rows.push([`${job.name}: CPU recovery side`, median(r.recvCpuPerGiB), "s/GiB", ""]);
    }
  } finally {
    await off.stop();
    await on.stop();
  }
  results.ratio = out;
}

/**
 * RPO under random writes at rising rates: 4 KiB writes (an IOPS load: this
 * 2-core machine's replicating write path tops out near 90 MB/s of them) and
 * 64 KiB writes (the same bytes in fewer, bigger writes, as databases and
 * file systems write).
 */
async function rpoUnderLoad(root: string, ids: string, sizeMiB: number, seconds: number, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const p = await startPair(path.join(root, "rpo"), ids, true, sizeMiB);
  const ladders = [
    { bs: "4k", iodepth: 32, rates: [10, 20, 40, 60, 80, 100, 120] },
    { bs: "64k", iodepth: 8, rates: [50, 100, 150, 200, 250] },
  ];
  const out: Record<string, { runs: RpoRun[]; highestAchievedRateWithP99Under2sMBps: number }> = {};
  try {
    await fio(p.uri, ["--rw=write", "--bs=1M", "--iodepth=8", `--size=${sizeMiB}M`]);
    await caughtUp(p);
    for (const { bs, iodepth, rates } of ladders) {
      const runs: RpoRun[] = [];
      for (const rate of rates) {
        const run = fio(p.uri, ["--rw=randwrite", `--bs=${bs}`, `--iodepth=${iodepth}`, `--size=${sizeMiB}M`, "--time_based", `--runtime=${Math.max(seconds, 8)}`, `--rate=${rate}m`]);
        const { result, rpo } = await sampleRpo(p, run);
        await caughtUp(p);
        const r = { rateMBps: rate, achievedMBps: result.mbPerSec, p50Ms: percentile(rpo, 50), p99Ms: percentile(rpo, 99), maxMs: Math.max(...rpo) };
        runs.push(r);
        rows.push([`RPO at ${rate} MB/s of ${bs} random writes (achieved ${result.mbPerSec.toFixed(0)})`, r.p50Ms, "ms p50", `p99 ${r.p99Ms} ms, max ${r.maxMs} ms`]);
        if (r.p99Ms > 2000 || result.mbPerSec < rate * 0.8) break;
      }
      // The rate fio reached, not the one asked for: past what the machine sustains, fio falls short.
      const best = runs.filter((r) => r.p99Ms <= 2000).reduce((m, r) => Math.max(m, r.achievedMBps), 0);
      out[bs] = { runs, highestAchievedRateWithP99Under2sMBps: best };
      rows.push([`highest ${bs} random write rate reached with RPO p99 <= 2 s`, best, "MB/s", "target: a sustained 100 MB/s with p50 <= 1 s, p99 <= 2 s"]);
    }
  } finally {
    await p.stop();
  }
  results.rpo = out;
}

interface RpoRun {
  rateMBps: number;
  achievedMBps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function wire(root: string, ids: string, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const p = await startPair(path.join(root, "wire"), ids, true, 512);
  const out: Record<string, unknown> = {};
  try {
    for (const [name, extra] of [["incompressible", ["--refill_buffers"]], ["compressible (fio 70%)", ["--refill_buffers", "--buffer_compress_percentage=70"]]] as const) {
      const s0 = await status(p);
      await fio(p.uri, ["--rw=write", "--bs=1M", "--iodepth=8", "--size=512M", ...extra]);
      await caughtUp(p);
      const s1 = await status(p);
      const raw = s1.sender.rawBytes - s0.sender.rawBytes;
      const wireBytes = s1.sender.wireBytes - s0.sender.wireBytes;
      out[name] = { rawBytes: raw, wireBytes, ratio: raw / wireBytes };
      rows.push([`bytes on the wire, ${name}`, wireBytes / MiB, "MiB", `for ${(raw / MiB).toFixed(0)} MiB of records (${(raw / wireBytes).toFixed(2)}x)`]);
    }
  } finally {
    await p.stop();
  }
  results.wire = out;
}

/** 4 GiB disk with 1 GiB of data in 1 MiB pieces, one in four. */
async function fillSource(file: string): Promise<void> {
  const d = await FileDevice.open(file, { sizeBytes: 4 * GiB });
  const buf = Buffer.alloc(MiB);
  for (let i = 0; i < 1024; i++) {
    for (let j = 0; j < MiB; j += 4) buf.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j);
    await d.write(i * 4 * MiB, buf);
  }
  await d.flush();
  await d.close();
}

async function initialSync(root: string, ids: string, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const work = path.join(root, "initial");
  fs.mkdirSync(path.join(work, "prod"), { recursive: true });
  const src = path.join(work, "prod", "disk.raw");
  await fillSource(src);
  // nbdcopy of the same disk between two nbdkit servers.
  const dst = path.join(work, "copy.raw");
  fs.closeSync(fs.openSync(dst, "w"));
  fs.truncateSync(dst, 4 * GiB);
  const [p1, p2] = [await freePort(), await freePort()];
  const s1 = await startServer("nbdkit-src", "nbdkit", ["-f", "-r", "-i", "127.0.0.1", "-p", String(p1), "file", `file=${src}`], p1, "");
  const s2 = await startServer("nbdkit-dst", "nbdkit", ["-f", "-i", "127.0.0.1", "-p", String(p2), "file", `file=${dst}`], p2, "");
  let copyMs: number;
  try {
    const t0 = Date.now();
    await execFileAsync("nbdcopy", [`nbd://127.0.0.1:${p1}`, `nbd://127.0.0.1:${p2}`]);
    copyMs = Date.now() - t0;
  } finally {
    await s1.stop();
    await s2.stop();
    fs.rmSync(dst, { force: true });
  }
  const t0 = Date.now();
  const p = await startPair(work, ids, true, 4096, ["--initial-sync", "1"]);
  let syncMs: number;
  let cpu: { prot: number; recv: number };
  try {
    await caughtUp(p);
    syncMs = Date.now() - t0;
    const s = await status(p);
    cpu = { prot: s.cpu, recv: s.recvCpu };
  } finally {
    await p.stop();
  }
  results.initialSync = { diskGiB: 4, dataGiB: 1, syncMs, mbPerSec: GiB / 1e6 / (syncMs / 1000), nbdcopyMs: copyMs, nbdcopyMBps: GiB / 1e6 / (copyMs / 1000), cpuSeconds: cpu };
  rows.push(["initial sync, 4 GiB disk with 1 GiB data", syncMs / 1000, "s", `${(GiB / 1e6 / (syncMs / 1000)).toFixed(0)} MB/s of data, into the journal, over TLS`]);
  rows.push(["nbdcopy of the same disk, nbdkit to nbdkit", copyMs / 1000, "s", `${(GiB / 1e6 / (copyMs / 1000)).toFixed(0)} MB/s of data`]);
}

async function cutAndResync(root: string, ids: string, cutSeconds: number, results: Record<string, unknown>, rows: Array<Array<string | number>>): Promise<void> {
  const p = await startPair(path.join(root, "cut"), ids, true, 1024);
  try {
    await fio(p.uri, ["--rw=write", "--bs=1M", "--iodepth=8", "--size=1024M"]);
    await caughtUp(p);
    await p.prot.ask("link-down");
    // 30 MB/s of 64 KiB random writes while the link is down: more than the 256 MiB stream holds.
    await fio(p.uri, ["--rw=randwrite", "--bs=64k", "--iodepth=8", "--size=1024M", "--time_based", `--runtime=${cutSeconds}`, "--rate=30m"]);
    const before = await status(p);
    const t0 = Date.now();
    await p.prot.ask("link-up");
    await caughtUp(p);
    const ms = Date.now() - t0;
    const after = await status(p);
    const synced = after.sender.ackedBytes;
    results.cut = { cutSeconds, state: before.group.state, dirtyBytes: before.group.dirtyBytes, resyncMs: ms, bytesSent: synced, protectedCpuSeconds: after.cpu - before.cpu, recoveryCpuSeconds: after.recvCpu - before.recvCpu };
    rows.push([`bitmap sync after a ${cutSeconds} s cut (${(before.group.dirtyBytes / MiB).toFixed(0)} MiB dirty, state ${before.group.state.kind})`, ms / 1000, "s", `${(synced / MiB).toFixed(0)} MiB sent`]);
  } finally {
    await p.stop();
  }
}

const role = args[0];
// The appliances run as the site daemon runs them.
if (role === "protected" || role === "receiver") tuneProcess();
if (role === "protected") await protectedChild();
else if (role === "receiver") await receiverChild();
else if (role === "tls-sink") await tlsSinkChild();
else if (role === "tls-source") await tlsSourceChild();
else await main();
