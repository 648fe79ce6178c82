/**
 * `lifeline journal …`: look into a group's journal directory without a
 * running site: inspect it, verify every record, export a disk as it was at
 * any point, or serve point-in-time views over NBD as `<disk>@<seq|checkpoint>`.
 * All of them open the journal read-only: safe beside a running receiver.
 */
import type { Command } from "commander";
import { type Checkpoint, Journal, JournalFollower, PitView, exportImage, parsePointName, resolvePoint, verifyJournal, type PointSpec } from "../journal/index.js";
import { NbdServer, type ExportProvider, type NbdExport } from "../nbd/index.js";
import { makeLogger } from "./log.js";
import { stopOnSignal } from "./nbd.js";
import { formatBytes, parseDurationMs } from "./units.js";

export function registerJournalCommands(program: Command): void {
  const journal = program.command("journal").description("a protection group's journal at the recovery site");

  journal
    .command("inspect <DIR>")
    .description("segments, seq and time range, checkpoints, size, history covered, pins")
    .option("--json", "print JSON")
    .option("--checkpoints <N>", "list the newest N checkpoints", "10")
    .action(async (dir: string, opts: { json?: boolean; checkpoints: string }) => {
      const j = await Journal.open(dir, { readOnly: true });
      try {
        const report = inspect(j, Number(opts.checkpoints));
        if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + "\n");
        else printInspect(report);
      } finally {
        await j.close();
      }
    });

  journal
    .command("verify <DIR>")
    .description("check every record; exits non-zero with the place of the first fault")
    .option("--json", "print JSON")
    .action(async (dir: string, opts: { json?: boolean }) => {
      const v = await verifyJournal(dir);
      if (opts.json) process.stdout.write(JSON.stringify(v, null, 2) + "\n");
      else {
        process.stdout.write(`${v.segments} segments, ${v.records} records, ${formatBytes(v.bytes)}, seqs ${v.firstSeq ?? "-"}..${v.lastSeq ?? "-"}\n`);
        if (v.tornTail) process.stdout.write(`torn tail in ${v.tornTail.segment} at offset ${v.tornTail.offset} (${v.tornTail.reason}): cut at the next open\n`);
        process.stdout.write(v.fault ? `FAULT in ${v.fault.segment} at offset ${v.fault.offset}: ${v.fault.reason}\n` : "ok\n");
      }
      if (!v.ok) process.exitCode = 1;
    });

  journal
    .command("export <DIR>")
    .description("write a disk's raw image at a point in time, sparse")
    .requiredOption("--disk <NAME>", "the disk, as <vm>/<disk>")
    .option("--seq <N>", "at this seq")
    .option("--checkpoint <ID>", "at this checkpoint")
    .option("--at <TIME>", "at the newest checkpoint at or before this time (ISO 8601)")
    .option("--ago <DURATION>", "at the newest checkpoint this long ago (5.7s, 10m)")
    .requiredOption("--out <FILE>", "the image to write")
    .option("--force", "overwrite --out if it exists")
    .action(async (dir: string, opts: { disk: string; seq?: string; checkpoint?: string; at?: string; ago?: string; out: string; force?: boolean }) => {
      const j = await Journal.open(dir, { readOnly: true });
      try {
        const seq = resolvePoint(j, pointFromOptions(opts));
        const view = await PitView.open(j, opts.disk, seq);
        const bar = progressBar(`${opts.disk}@${seq}`);
        const { dataBytes } = await exportImage(view, opts.out, { overwrite: opts.force ?? false, onProgress: bar.update });
        bar.done();
        await view.close();
        process.stdout.write(`wrote ${opts.out}: ${formatBytes(view.size)} disk at seq ${seq}, ${formatBytes(dataBytes)} of data\n`);
      } finally {
        await j.close();
      }
    });

  journal
    .command("serve <DIR>")
    .description("serve point-in-time views read-only over NBD as <disk>@<seq or checkpoint id>")
    .option("--host <HOST>", "address to listen on", "127.0.0.1")
    .option("--port <PORT>", "port to listen on", "10809")
    .action(async (dir: string, opts: { host: string; port: string }) => {
      const log = makeLogger();
      // Followed, not loaded once: views of records appended after the start must open too.
      const follower = await JournalFollower.open(dir, (err) => log.warn({ err }, "cannot re-read the journal; serving what was read before"));
      const exports = new PitViewExports(follower, (name, err) => log.warn({ export: name, err }, "cannot open this point-in-time view"));
      const server = new NbdServer({ exports, logger: log });
      const { port } = await server.listen(Number(opts.port), opts.host);
      const j = await follower.current();
      process.stdout.write(`serving ${j.disks.map((d) => `nbd://${opts.host}:${port}/${d.name}@${j.lastSeq}`).join(" ")} (any <disk>@<seq|checkpoint>)\n`);
      await stopOnSignal(async () => {
        await server.close();
        await follower.close();
      });
    });
}

/**
 * Opens a PIT view per client for names `<disk>@<seq|checkpoint id>` (a bare
 * disk name: the newest seq). Each lookup asks the follower for the journal as
 * it is now, so seqs and checkpoints appended since the server started resolve.
 */
export class PitViewExports implements ExportProvider {
  readonly #follower: JournalFollower;
  readonly #onError: (name: string, err: unknown) => void;
  /** The journal each open view reads, held until its client is gone. */
  readonly #journals = new Map<NbdExport, Journal>();

  /** `onError` hears why a name could not be opened (the client only sees "unknown export"). */
  constructor(follower: JournalFollower, onError: (name: string, err: unknown) => void) {
    this.#follower = follower;
    this.#onError = onError;
  }

  async list(): Promise<string[]> {
    const j = await this.#follower.current();
    const newest = j.checkpoints.list().slice(-10);
    return j.disks.flatMap((d) => [`${d.name}@${j.lastSeq}`, ...newest.map((c) => `${d.name}@${c.id}`)]);
  }

  async open(name: string): Promise<NbdExport | undefined> {
    const j = await this.#follower.acquire();
    const at = name.lastIndexOf("@");
    const disk = at < 0 ? name : name.slice(0, at);
    try {
      if (!j.disks.some((d) => d.name === disk)) {
        await this.#follower.release(j);
        return undefined;
      }
      const seq = at < 0 ? j.lastSeq : resolvePoint(j, parsePointName(name.slice(at + 1)));
      const exp: NbdExport = { name, description: `${disk} at seq ${seq}`, device: await PitView.open(j, disk, seq) };
      this.#journals.set(exp, j);
      return exp;
    } catch (err) {
      await this.#follower.release(j);
      this.#onError(name, err);
      return undefined;
    }
  }

  async release(exp: NbdExport): Promise<void> {
    try {
      await exp.device.close();
    } finally {
      const j = this.#journals.get(exp);
      this.#journals.delete(exp);
      if (j) await this.#follower.release(j);
    }
  }
}

function pointFromOptions(opts: { seq?: string; checkpoint?: string; at?: string; ago?: string }): PointSpec {
  const given = [opts.seq, opts.checkpoint, opts.at, opts.ago].filter((x) => x !== undefined).length;
  if (given !== 1) throw new Error("give exactly one of --seq, --checkpoint, --at, --ago");
  if (opts.seq !== undefined) {
    if (!/^\d+$/.test(opts.seq)) throw new Error(`--seq ${opts.seq} is not a seq`);
    return { seq: Number(opts.seq) };
  }
  if (opts.checkpoint !== undefined) return { checkpoint: opts.checkpoint };
  if (opts.at !== undefined) {
    const atMs = Date.parse(opts.at);
    if (Number.isNaN(atMs)) throw new Error(`--at ${opts.at} is not a time (try 2026-12-03T14:02:10Z)`);
    return { atMs };
  }
  return { agoMs: parseDurationMs(opts.ago!) };
}

interface InspectReport {
  dir: string;
  disks: { name: string; sizeBytes: number }[];
  appliedThroughSeq: number;
  lastSeq: number;
  oldestTime: string | undefined;
  newestTime: string | undefined;
  historyCoveredMs: number;
  sizeBytes: number;
  limitBytes: number;
  historyWindowMs: number;
  segments: { name: string; firstSeq: number; lastSeq: number; sizeBytes: number }[];
  checkpointCount: number;
  checkpoints: (Checkpoint & { time: string })[];
  pins: { id: string; seq: number; owner: string; kind: string }[];
  tornTail: string | undefined;
}

function inspect(j: Journal, newest: number): InspectReport {
  const first = j.appliedThroughSeq + 1;
  const oldestMs = j.timeOf(first);
  const newestMs = j.timeOf(j.lastSeq);
  const all = j.checkpoints.list();
  const tt = j.openReport.tornTail;
  return {
    dir: j.dir,
    disks: j.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes })),
    appliedThroughSeq: j.appliedThroughSeq,
    lastSeq: j.lastSeq,
    oldestTime: oldestMs === undefined ? undefined : new Date(oldestMs).toISOString(),
    newestTime: newestMs === undefined ? undefined : new Date(newestMs).toISOString(),
    historyCoveredMs: oldestMs === undefined || newestMs === undefined ? 0 : newestMs - oldestMs,
    sizeBytes: j.sizeBytes,
    limitBytes: j.config.limitBytes,
    historyWindowMs: j.config.historyWindowMs,
    segments: j.segments,
    checkpointCount: all.length,
    checkpoints: all.slice(-newest).map((c) => ({ ...c, time: new Date(c.timeMs).toISOString() })),
    pins: j.pins.map((p) => ({ id: p.id, seq: p.seq, owner: p.owner, kind: p.kind })),
    tornTail: tt ? `${tt.segment} at offset ${tt.offset}: ${tt.reason} (${tt.bytes} bytes, cut at the next writable open)` : undefined,
  };
}

function printInspect(r: InspectReport): void {
  const out: string[] = [];
  out.push(`journal ${r.dir}`);
  out.push(`  disks       ${r.disks.map((d) => `${d.name} (${formatBytes(d.sizeBytes)})`).join(", ")}`);
  out.push(`  seqs        replica at ${r.appliedThroughSeq}, journal ${r.appliedThroughSeq + 1}..${r.lastSeq}`);
  out.push(`  time        ${r.oldestTime ?? "-"} .. ${r.newestTime ?? "-"}`);
  out.push(`  history     ${(r.historyCoveredMs / 1000).toFixed(1)} s covered (window ${(r.historyWindowMs / 3_600_000).toFixed(1)} h)`);
  out.push(`  size        ${formatBytes(r.sizeBytes)} of ${formatBytes(r.limitBytes)} limit (${((100 * r.sizeBytes) / r.limitBytes).toFixed(1)}%)`);
  out.push(`  segments    ${r.segments.length}`);
  for (const s of r.segments) out.push(`    ${s.name}  seqs ${s.firstSeq}..${s.lastSeq}  ${formatBytes(s.sizeBytes)}`);
  out.push(`  checkpoints ${r.checkpointCount}${r.checkpointCount > r.checkpoints.length ? ` (newest ${r.checkpoints.length})` : ""}`);
  for (const c of r.checkpoints) out.push(`    ${c.id}  seq ${c.seq}  ${c.time}${c.tag ? `  tag ${c.tag}` : ""}${c.consistent ? "" : "  INCONSISTENT"}`);
  out.push(`  pins        ${r.pins.length === 0 ? "none" : ""}`);
  for (const p of r.pins) out.push(`    ${p.kind} ${p.owner} at seq ${p.seq} (${p.id})`);
  if (r.tornTail) out.push(`  torn tail   ${r.tornTail}`);
  process.stdout.write(out.join("\n") + "\n");
}

/** A progress bar on stderr when it is a terminal; silent otherwise. */
function progressBar(label: string): { update: (done: number, total: number) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (!tty || (now - last < 100 && done < total)) return;
      last = now;
      const width = 30;
      const filled = Math.round((width * done) / Math.max(1, total));
      process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${((100 * done) / Math.max(1, total)).toFixed(0)}% ${formatBytes(done)}/${formatBytes(total)}`);
    },
    done: () => {
      if (tty) process.stderr.write("\n");
    },
  };
}
