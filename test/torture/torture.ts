/**
 * The torture run: two site daemons, a protected group written by a recording
 * writer and by fio, and faults from a seeded schedule, each followed by the
 * checks that prove nothing was lost:
 *
 * - the group converges to protected, with a durable point newer than the
 *   fault's end (the time it took is recorded);
 * - every consistent point the recovery site lists stays listed until history
 *   (the window, or the journal's limit) takes it from the old end;
 * - the newest point, and an older one, restored to images, are exactly a
 *   prefix of the writer's writes holding every write acknowledged before
 *   the point (history.ts says how an image is judged);
 * - after a SIGKILL of the protected site, production holds every write it
 *   acknowledged;
 * - no daemon exited but by the suite's hand, and memory stayed bounded.
 *
 * At the end the faults stop, the workloads pause, a tagged point is taken,
 * and every disk restored at it equals production byte for byte.
 *
 * The schedule cycles through every fault kind in a seeded order, so a short
 * run still meets each kind once; the seed reproduces a run.
 */
import fs from "node:fs";
import path from "node:path";
import { FAULT_KINDS, injectFault, type FaultKind } from "./faults.js";
import { FioLoad } from "./fio.js";
import { JudgeError, WriteHistory } from "./history.js";
import { Random } from "./random.js";
import { FIO_DISK, GROUP, RECORDED_DISKS, TortureSites, type CheckpointView, type GroupView } from "./sites.js";
import { readExport, sleep, TortureWriter, type NbdEndpoint } from "./writer.js";

const MiB = 1024 * 1024;
/** A daemon above this resident size fails the run: memory must stay bounded. */
export const RSS_LIMIT_BYTES = 1536 * MiB;
const CONVERGE_TIMEOUT_MS = 180_000;

export interface TortureOptions {
  minutes: number;
  seed: number;
  log?: (line: string) => void;
  /** Keep the sites' directories when the run fails (for a post-mortem). */
  keepOnFailure?: boolean;
}

export interface TortureSummary {
  seed: number;
  minutes: number;
  durationMs: number;
  rounds: number;
  faults: Partial<Record<FaultKind, number>>;
  writesAcked: number;
  bytesAcked: number;
  writerReconnects: number;
  imagesJudged: number;
  pointsChecked: number;
  pointsTracked: number;
  /** Points history took (the window or the journal's limit) between being listed and being restored. */
  pointsExpired: number;
  productionChecks: number;
  storageFullAlerts: number;
  /** Failover tests the journal at its limit stopped (it takes their pin back: a test never holds replication back). */
  testsStoppedByLimit: number;
  largestRpoMs: number;
  longestConvergenceMs: number;
  convergenceMs: number[];
  bitmapSyncs: string[];
  fio: { runs: number; verified: number; excused: number };
  peakRssBytes: { protected: number; recovery: number };
  finalPoint: { seq: number; writes: number } | null;
}

export class TortureFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TortureFailure";
  }
}

/** One run's state, handed to the faults. */
export class TortureRun {
  readonly random: Random;
  readonly sites: TortureSites;
  readonly writer: TortureWriter;
  readonly fio: FioLoad;
  readonly log: (line: string) => void;
  readonly summary: TortureSummary;
  /** Consistent points seen listed at the recovery site: id → seq. */
  readonly #seen = new Map<string, number>();
  readonly #verified = new Set<string>();
  #eventsSinceMs: number;

  constructor(o: { random: Random; sites: TortureSites; writer: TortureWriter; fio: FioLoad; log: (line: string) => void; summary: TortureSummary }) {
    this.random = o.random;
    this.sites = o.sites;
    this.writer = o.writer;
    this.fio = o.fio;
    this.log = o.log;
    this.summary = o.summary;
    this.#eventsSinceMs = Date.now();
  }

  /** Where the protected site serves NBD, while it runs. */
  nbdA(): NbdEndpoint | undefined {
    return nbdOf(this.sites.a);
  }

  nbdB(): NbdEndpoint | undefined {
    return nbdOf(this.sites.b);
  }

  /** A recovery operation at the recovery site, waited for; it must succeed. */
  async recover(op: string, body?: unknown): Promise<void> {
    const b = this.sites.b;
    const task = await this.sites.api<{ id: string }>(b, "POST", `/groups/${GROUP}/${op}`, body);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const t = await this.sites.api<{ state: string; error?: string }>(b, "GET", `/tasks/${task.id}`);
      if (t.state === "succeeded") return;
      if (t.state !== "running") throw new TortureFailure(`${op} ${JSON.stringify(body ?? {})}: the task ended ${t.state}: ${t.error ?? ""}`);
      if (Date.now() > deadline) throw new TortureFailure(`${op}: the task still runs after 120 s`);
      await sleep(100);
    }
  }

  /** The recovery site's consistent points, oldest first. */
  async points(): Promise<CheckpointView[]> {
    return (await this.sites.checkpoints()).filter((c) => c.consistent).sort((x, y) => x.seq - y.seq);
  }

  /** Judges the recorded disks as served by a site under `prefix` (test/ or none) as the point `cp`. */
  async judgeServed(at: NbdEndpoint, prefix: string, cp: CheckpointView, what: string): Promise<void> {
    const images = await Promise.all(this.sites.disks.map((d) => readExport(at, `${prefix}${d.name}`)));
    this.judge(images, this.writer.boundsAt(cp.time), `${what} at ${describe(cp)}`);
  }

  judge(images: Buffer[], bounds: { lo: number; hi: number }, what: string): number {
    try {
      const cut = this.writer.history.judge(images, bounds, what);
      this.summary.imagesJudged += images.length;
      return cut;
    } catch (err) {
      if (err instanceof JudgeError) throw new TortureFailure(err.message, { cause: err });
      throw err;
    }
  }

  /** Production, read from the protected site with the writer paused, holds every acknowledged write. */
  async checkProduction(what: string): Promise<void> {
    await this.writer.pause();
    try {
      const at = this.nbdA();
      if (at === undefined) throw new TortureFailure(`${what}: the protected site is not running`);
      const images = await Promise.all(this.sites.disks.map((d) => readExport(at, d.name)));
      this.judge(images, this.writer.bounds, `production ${what}`);
      this.summary.productionChecks++;
    } finally {
      this.writer.start();
    }
  }

  /** Fails the run if a daemon exited by itself or grew past the memory bound. */
  checkDaemons(): void {
    for (const [site, key] of [[this.sites.a, "protected"], [this.sites.b, "recovery"]] as const) {
      if (site.crashed) throw new TortureFailure(site.crashed);
      const rss = this.sites.rss(site);
      this.summary.peakRssBytes[key] = Math.max(this.summary.peakRssBytes[key], rss);
      if (rss > RSS_LIMIT_BYTES) throw new TortureFailure(`the ${key} site's daemon holds ${Math.round(rss / MiB)} MiB, above ${RSS_LIMIT_BYTES / MiB} MiB`);
    }
    if (this.fio.failure) throw new TortureFailure(this.fio.failure);
  }

  /** Waits until the group is protected again and a point newer than `sinceMs` is durable; returns how long it took. */
  async converge(sinceMs: number, what: string): Promise<number> {
    const t0 = Date.now();
    let last = "no answer yet";
    while (Date.now() - t0 < CONVERGE_TIMEOUT_MS) {
      this.checkDaemons();
      try {
        const g: GroupView = await this.sites.group();
        last = `${g.state} (${g.reason}), link ${g.link}, RPO ${g.rpoMs} ms`;
        if (g.state === "protected") {
          const newest = (await this.points()).at(-1);
          if (newest && newest.time > sinceMs) {
            const ms = Date.now() - t0;
            this.summary.convergenceMs.push(ms);
            this.summary.longestConvergenceMs = Math.max(this.summary.longestConvergenceMs, ms);
            return ms;
          }
          last = `protected, but no durable point since the fault ended (newest ${newest ? describe(newest) : "none"})`;
        }
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(250);
    }
    throw new TortureFailure(`${what}: the group did not converge to protected within ${CONVERGE_TIMEOUT_MS / 1000} s; last seen: ${last}`);
  }

  /**
   * Every consistent point seen before is still listed unless history took it
   * from the old end; then the newest point and one older unchecked point are
   * restored and judged.
   */
  async checkPoints(what: string): Promise<void> {
    const list = await this.points();
    if (list.length === 0) throw new TortureFailure(`${what}: the recovery site lists no consistent point`);
    const oldest = list[0]!.seq;
    const listed = new Set(list.map((c) => c.id));
    for (const [id, seq] of this.#seen) {
      if (seq < oldest) this.#seen.delete(id);
      else if (!listed.has(id)) throw new TortureFailure(`${what}: point ${id} (seq ${seq}) was listed as durable and consistent, and is gone while older points remain`);
    }
    for (const c of list) this.#seen.set(c.id, c.seq);
    this.summary.pointsTracked = Math.max(this.summary.pointsTracked, this.#seen.size);
    const older = list.slice(0, -1).filter((c) => !this.#verified.has(c.id));
    const picks = [list.at(-1)!, ...(older.length ? [this.random.pick(older)] : [])];
    for (const cp of picks) {
      let images: Buffer[];
      try {
        images = await this.restore(cp);
      } catch (err) {
        // History may take the point from the old end while it is restored (the journal at its limit).
        if (pointTaken(err) && (await this.points()).every((c) => c.seq > cp.seq)) {
          this.summary.pointsExpired++;
          continue;
        }
        throw err;
      }
      this.judge(images, this.writer.boundsAt(cp.time), `${what}: restored ${describe(cp)}`);
      this.#verified.add(cp.id);
      this.summary.pointsChecked++;
    }
  }

  /** Every recorded disk at `cp`, restored by the recovery site to an image. */
  async restore(cp: CheckpointView, disks: { vm: string; disk: string }[] = RECORDED_DISKS): Promise<Buffer[]> {
    const images: Buffer[] = [];
    for (const d of disks) {
      const out = path.join(this.sites.root, `restore-${d.vm}-${d.disk}.raw`);
      await this.recover("restore", { point: cp.id, disk: `${d.vm}/${d.disk}`, out });
      images.push(fs.readFileSync(out));
      fs.rmSync(out, { force: true });
    }
    return images;
  }

  /** Bitmap syncs the protected site reported since the last look. */
  async collectBitmapSyncs(): Promise<void> {
    try {
      const since = this.#eventsSinceMs;
      const events = await this.sites.api<{ time: number; message: string }[]>(this.sites.a, "GET", `/events?since=${since}&group=${GROUP}`);
      for (const e of events) {
        const m = /bitmap sync of (\S+ \S+)/.exec(e.message);
        if (m && e.time >= since) this.summary.bitmapSyncs.push(m[1]!);
        this.#eventsSinceMs = Math.max(this.#eventsSinceMs, e.time + 1);
      }
    } catch {
      // The protected site is down; its events wait in its database for the next look.
    }
  }

  /** Samples RPO (and the daemons' health) once a second while faults run. */
  sampleRpo(): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.sites
        .group()
        .then((g) => {
          if (g.rpoMs !== null) this.summary.largestRpoMs = Math.max(this.summary.largestRpoMs, g.rpoMs);
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, 1000);
    return () => clearInterval(timer);
  }
}

export async function runTorture(o: TortureOptions): Promise<TortureSummary> {
  const log = o.log ?? (() => undefined);
  const random = new Random(o.seed);
  const summary: TortureSummary = {
    seed: o.seed,
    minutes: o.minutes,
    durationMs: 0,
    rounds: 0,
    faults: {},
    writesAcked: 0,
    bytesAcked: 0,
    writerReconnects: 0,
    imagesJudged: 0,
    pointsChecked: 0,
    pointsTracked: 0,
    pointsExpired: 0,
    productionChecks: 0,
    storageFullAlerts: 0,
    testsStoppedByLimit: 0,
    largestRpoMs: 0,
    longestConvergenceMs: 0,
    convergenceMs: [],
    bitmapSyncs: [],
    fio: { runs: 0, verified: 0, excused: 0 },
    peakRssBytes: { protected: 0, recovery: 0 },
    finalPoint: null,
  };
  const t0 = Date.now();
  const sites = await TortureSites.start({ tmpfsBytes: 512 * MiB, journalLimit: "192MiB", history: "10m", streamBuffer: "4MiB" });
  log(
    `seed ${o.seed}; sites in ${sites.root}` +
      (sites.tmpfs ? `; the recovery site's data on a 512 MiB tmpfs` : "; no tmpfs (not root): the journal-full fault is skipped") +
      (sites.link ? `; the recovery site on its own host ${sites.link.hostB} (network namespace ${sites.link.ns})` : "; one host (not root): the net-* faults are skipped"),
  );
  let failed = false;
  let run: TortureRun | undefined;
  let stopRpo = () => {};
  try {
    const history = new WriteHistory(sites.disks);
    const writer = new TortureWriter(history, () => nbdOf(sites.a), random.fork(), 2 * MiB);
    const fio = new FioLoad(() => {
      const at = nbdOf(sites.a);
      return at === undefined ? undefined : `nbd://${at.host}:${at.port}/${GROUP}/${FIO_DISK.vm}/${FIO_DISK.disk}`;
    });
    run = new TortureRun({ random: random.fork(), sites, writer, fio, log, summary });
    await run.converge(Date.now(), "initial sync");
    log(`protected after ${Math.round((Date.now() - t0) / 1000)} s`);
    writer.start();
    fio.start();
    stopRpo = run.sampleRpo();
    const schedule = random.fork();
    const kinds = FAULT_KINDS.filter((k) => (k !== "journal-full" || sites.tmpfs) && ((k !== "net-down" && k !== "net-cap") || sites.link));
    const endAt = t0 + o.minutes * 60_000;
    let cycle: FaultKind[] = [];
    while (Date.now() < endAt) {
      if (cycle.length === 0) cycle = shuffle(kinds, schedule);
      const kind = cycle.shift()!;
      const round = ++summary.rounds;
      const started = Date.now();
      const what = `round ${round} (${kind})`;
      await injectFault(run, kind, what);
      summary.faults[kind] = (summary.faults[kind] ?? 0) + 1;
      const healedAt = Date.now();
      const convergedMs = await run.converge(healedAt, what);
      await run.checkPoints(what);
      run.checkDaemons();
      await run.collectBitmapSyncs();
      log(`${what}: ${((healedAt - started) / 1000).toFixed(1)} s of fault, converged in ${(convergedMs / 1000).toFixed(1)} s; ${writer.acked} writes acknowledged, ${summary.pointsChecked} points checked`);
    }
    stopRpo();
    await finish(run);
    summary.durationMs = Date.now() - t0;
    return summary;
  } catch (err) {
    failed = true;
    const where = o.keepOnFailure ? ` (the sites are kept in ${sites.root})` : "";
    throw new TortureFailure(`torture failed in round ${summary.rounds} (reproduce with --seed ${o.seed}): ${(err as Error).message}${where}`, { cause: err });
  } finally {
    stopRpo();
    if (run) {
      await run.fio.stop();
      await run.writer.pause();
      run.writer.close();
      summary.writesAcked = run.writer.acked;
      summary.bytesAcked = run.writer.ackedBytes;
      summary.writerReconnects = run.writer.reconnects;
      summary.fio = { runs: run.fio.runs, verified: run.fio.verified, excused: run.fio.excused };
    }
    await sites.close({ keep: failed && o.keepOnFailure === true });
  }
}

/** The end: workloads paused, the group caught up, a tagged point equal to production byte for byte. */
async function finish(run: TortureRun): Promise<void> {
  await run.fio.stop();
  await run.writer.pause();
  if (run.fio.failure) throw new TortureFailure(run.fio.failure);
  await run.converge(Date.now(), "the end");
  const cp = await run.sites.api<CheckpointView>(run.sites.a, "POST", `/groups/${GROUP}/checkpoints`, { tag: "torture-end" });
  const listed = (await run.points()).find((c) => c.id === cp.id);
  if (!listed) throw new TortureFailure(`the final point ${cp.id} is not listed as durable and consistent at the recovery site`);
  const at = run.nbdA()!;
  const all = [...RECORDED_DISKS, FIO_DISK];
  const restored = await run.restore(listed, all);
  for (let i = 0; i < all.length; i++) {
    const name = `${GROUP}/${all[i]!.vm}/${all[i]!.disk}`;
    const production = await readExport(at, name);
    if (!production.equals(restored[i]!)) throw new TortureFailure(`the end: ${name} restored at ${describe(listed)} differs from production at byte ${firstDifference(production, restored[i]!)}`);
  }
  const cut = run.judge(restored.slice(0, RECORDED_DISKS.length), run.writer.bounds, `the end: restored ${describe(listed)}`);
  run.summary.pointsChecked++;
  run.summary.finalPoint = { seq: listed.seq, writes: cut };
  await run.collectBitmapSyncs();
  run.checkDaemons();
}

function nbdOf(site: TortureSites["a"]): NbdEndpoint | undefined {
  if (site.pid === undefined) return undefined;
  try {
    return site.run.nbd;
  } catch {
    return undefined;
  }
}

/** The recovery site refused a point because history no longer holds it (the journal at its limit took it). */
export function pointTaken(err: unknown): boolean {
  return /point_not_found|no consistent checkpoint|not in the journal/.test((err as Error).message);
}

function describe(cp: CheckpointView): string {
  return `point ${cp.id} (seq ${cp.seq}${cp.tag ? `, tag ${cp.tag}` : ""})`;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
