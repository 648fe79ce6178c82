/**
 * Opening a journal after a clean stop or a crash: find the segments, load
 * the index snapshot when it matches them, scan the headers after it, and
 * decide what a fault means.
 *
 * The rule for faults is fault-rule.ts: a bad record is a torn tail only if
 * it is above the durable floor (the durable mark, or the snapshot's last
 * seq), in the last segment, and within one batch of its end; then it is cut
 * off. Anything else, a gap in the seqs, or a journal that ends before the
 * floor, is corruption, and the open fails naming segment and offset.
 *
 * Headers only, except the last segment's tail window, whose payloads are
 * checked too: that is where a tear can be, and where a record damaged after
 * it was durable would otherwise pass for one. The window is checked whether
 * or not the snapshot covers it, so that the snapshot changes how fast the
 * open is, never what it finds. The rest of the payloads are `journal
 * verify`'s job. A writable open ends by syncing the last segment, so that
 * what it found may be called durable (and marked so, see journal.ts).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { TORN_WINDOW_BYTES } from "./appender.js";
import { CheckpointList } from "./checkpoints.js";
import { DURABLE_MARK_FILE, type DurableMark, describeMark, readDurableMark } from "./durable-mark.js";
import { JournalCorruptError } from "./errors.js";
import { type DurableFloor, higherFloor, judgeFault, missingDurable } from "./fault-rule.js";
import { FileDevice } from "../blockdev/index.js";
import { type GroupConfig, type JournalState, SEGMENT_DIR, readGroupConfig, readJournalState, replicaPath } from "./group-files.js";
import { RangeIndex } from "./range-index.js";
import { RecordTable } from "./record-table.js";
import { type CheckpointPayload, HEADER_BYTES, type RecordHeader, RecordType, decodeCheckpointPayload } from "./record.js";
import { scanSegment } from "./scan.js";
import { SEGMENT_HEADER_BYTES, Segment, parseSegmentFileName } from "./segment.js";
import { SNAPSHOT_FILE, type SnapshotColumns, type SnapshotMeta, columnType, readSnapshot } from "./snapshot.js";

export interface JournalOpenOptions {
  readOnly?: boolean;
  /** Load the persisted index snapshot (default true). */
  useSnapshot?: boolean;
  /** Tests shrink the torn-tail window to match their tiny segments. */
  tornWindowBytes?: number;
  /** How often to check for history past the window and promote it (default 10 s; 0: only when asked). */
  promoteEveryMs?: number;
  /** Records between automatic index snapshots (default 1 Mi; tests make it small). */
  snapshotEveryRecords?: number;
  /** Least time between background updates of the durable mark (default 1 s; 0: only at open, snapshots and close). */
  durableMarkEveryMs?: number;
  /** Overrides of group.json settings for this process. */
  segmentBytes?: number;
  historyWindowMs?: number;
  limitBytes?: number;
}

/** Everything a Journal is made of, read from its directory, crash recovery done. */
export async function openParts(dir: string, options: JournalOpenOptions): Promise<{ config: GroupConfig; state: JournalState; loaded: LoadedJournal; replicas: Map<number, FileDevice> }> {
  const readOnly = options.readOnly ?? false;
  const stored = await readGroupConfig(dir);
  const config: GroupConfig = {
    ...stored,
    segmentBytes: options.segmentBytes ?? stored.segmentBytes,
    historyWindowMs: options.historyWindowMs ?? stored.historyWindowMs,
    limitBytes: options.limitBytes ?? stored.limitBytes,
  };
  const state = await readJournalState(dir, config);
  const replicas = new Map<number, FileDevice>();
  try {
    for (const d of config.disks) replicas.set(d.id, await FileDevice.open(replicaPath(dir, d.name), { readOnly }));
    const loaded = await loadJournal(dir, config, state, {
      readOnly,
      useSnapshot: options.useSnapshot ?? true,
      ...(options.tornWindowBytes === undefined ? {} : { tornWindowBytes: options.tornWindowBytes }),
    });
    return { config, state, loaded, replicas };
  } catch (err) {
    // A refused or failed open leaves no file open (it may be retried many times).
    for (const r of replicas.values()) await r.close().catch(() => undefined);
    throw err;
  }
}

export interface OpenReport {
  /** Where a torn tail was cut (or, read-only, ignored). */
  tornTail: { segment: string; offset: number; bytes: number; reason: string } | undefined;
  /** "used", or why the snapshot was not used. */
  snapshot: string;
  /** Every seq through this one was durable (from the durable mark or the snapshot); undefined when unknown. */
  durableFloorSeq: number | undefined;
  /** Records whose headers were read from segments (the tail window's included, when the snapshot covered it). */
  scannedRecords: number;
  deletedSegments: string[];
}

export interface LoadedJournal {
  segments: Segment[];
  table: RecordTable;
  index: RangeIndex;
  checkpoints: CheckpointList;
  report: OpenReport;
  /** The durable mark as the open found it. */
  mark: DurableMark | undefined;
}

export interface LoadOptions {
  readOnly: boolean;
  useSnapshot: boolean;
  tornWindowBytes?: number;
}

export async function loadJournal(dir: string, config: GroupConfig, state: JournalState, options: LoadOptions): Promise<LoadedJournal> {
  const segDir = path.join(dir, SEGMENT_DIR);
  await fs.mkdir(segDir, { recursive: true });
  const report: OpenReport = { tornTail: undefined, snapshot: "not used", durableFloorSeq: undefined, scannedRecords: 0, deletedSegments: [] };
  const applied = state.appliedThroughSeq;
  // The mark first, the segments after: a writer running beside a read-only
  // open only adds to the segments, so what the mark claims is there.
  const mark = await readDurableMark(path.join(segDir, DURABLE_MARK_FILE));
  let names = (await fs.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  // Whole segments already promoted (a crash between persisting the point and deleting them).
  while (names.length > 1 && parseSegmentFileName(names[1]!)! - 1 <= applied) {
    if (!options.readOnly) await fs.rm(path.join(segDir, names[0]!));
    report.deletedSegments.push(names.shift()!);
  }
  const segments: Segment[] = [];
  try {
    for (const name of names) segments.push(await Segment.open(path.join(segDir, name), parseSegmentFileName(name)!, options.readOnly));
    return await loadSegments(dir, config, state, options, segments, report, mark);
  } catch (err) {
    for (const seg of segments) seg.close();
    throw err;
  }
}

/** The rest of loadJournal, over the segments it opened (which it closes if this throws). */
async function loadSegments(
  dir: string,
  config: GroupConfig,
  state: JournalState,
  options: LoadOptions,
  segments: Segment[],
  report: OpenReport,
  mark: DurableMark | undefined,
): Promise<LoadedJournal> {
  const segDir = path.join(dir, SEGMENT_DIR);
  const applied = state.appliedThroughSeq;
  let floor: DurableFloor | undefined = mark && { seq: mark.seq, why: describeMark(mark) };
  const firstSeq = segments[0]?.firstSeq ?? applied + 1;
  if (firstSeq > applied + 1) {
    throw new JournalCorruptError(segments[0]!.name, 0, `the replica is applied through seq ${applied}, but the journal starts at ${firstSeq}`);
  }
  const loaded: LoadedJournal = { segments, table: new RecordTable(applied + 1), index: new RangeIndex(), checkpoints: new CheckpointList(), report, mark };
  for (const d of config.disks) loaded.index.addDisk(d.id, d.sizeBytes);
  const add = makeAdder(loaded, config, applied);
  const tornWindow = options.tornWindowBytes ?? TORN_WINDOW_BYTES;

  // Records before `loadedUpTo` came from the snapshot; the scan starts at `start`.
  let start = { segment: 0, pos: 0, expect: firstSeq };
  let loadedUpTo = firstSeq;
  if (options.useSnapshot) {
    const snap = await readSnapshot(path.join(segDir, SNAPSHOT_FILE));
    if (typeof snap === "string") report.snapshot = snap;
    else {
      const fit = fitSnapshot(snap.meta, segments, firstSeq, applied);
      if (typeof fit === "string") report.snapshot = fit;
      else {
        loadColumns(snap.meta, snap.columns, applied + 1, fit, add);
        loadedUpTo = fit.expect;
        start = fit.segment === segments.length - 1 ? { segment: fit.segment, ...tailStart(segments[fit.segment]!, fit, loaded.table, tornWindow) } : fit;
        if (snap.meta.lastSeq >= snap.meta.firstSeq) floor = higherFloor(floor, { seq: snap.meta.lastSeq, why: `seq ${snap.meta.lastSeq} is in the index snapshot, which covers only durable records` });
        report.snapshot = "used";
      }
    }
  }
  report.durableFloorSeq = floor?.seq;

  let expect = start.expect;
  for (let s = start.segment; s < segments.length; s++) {
    const seg = segments[s]!;
    const last = s === segments.length - 1;
    const from = s === start.segment ? start.pos : 0;
    if (from === 0 && seg.firstSeq !== expect) {
      throw new JournalCorruptError(seg.name, 0, `segment starts at seq ${seg.firstSeq}, but the one before ends at ${expect - 1}`);
    }
    const tailFrom = seg.sizeBytes - tornWindow;
    const result = await scanSegment(seg, {
      from,
      expectSeq: expect,
      verifyData: (pos) => last && pos >= tailFrom,
      onRecord: (r) => {
        report.scannedRecords++;
        if (r.header.seq < loadedUpTo) return;
        add(seg, r.header, r.pos, r.dataPos, r.payload && r.header.type === RecordType.CHECKPOINT ? decodeCheckpointPayload(r.payload) : undefined);
      },
    });
    if (result.fault) {
      const { offset, reason } = result.fault;
      const verdict = judgeFault(result.fault, { lastSegment: last, segmentBytes: seg.sizeBytes, tornWindowBytes: tornWindow, seq: result.lastSeq + 1 }, floor);
      if (!verdict.torn) throw new JournalCorruptError(seg.name, offset, verdict.reason, verdict.hint === undefined ? undefined : { hint: verdict.hint });
      report.tornTail = { segment: seg.name, offset, bytes: seg.sizeBytes - offset, reason };
      if (offset < SEGMENT_HEADER_BYTES) {
        if (!options.readOnly) await seg.rewriteHeader();
        else seg.sizeBytes = SEGMENT_HEADER_BYTES;
      } else if (!options.readOnly) {
        await seg.truncate(offset);
      } else seg.sizeBytes = offset;
    }
    seg.lastSeq = seg.durableSeq = result.lastSeq;
    seg.durableBytes = seg.sizeBytes;
    expect = result.lastSeq + 1;
  }
  const lost = missingDurable(Math.max(expect - 1, applied), floor);
  if (lost) {
    const tail = segments[segments.length - 1];
    throw new JournalCorruptError(tail?.name ?? SEGMENT_DIR, tail?.sizeBytes ?? 0, lost, { hint: "durable records are missing from the end: restore the segments from a copy (or, to accept the loss, remove journal/durable.mark and journal/index.snap)" });
  }
  // What a killed writer left in the page cache is on disk from here on (and a cut is too).
  if (!options.readOnly && segments.length > 0) await segments[segments.length - 1]!.sync();
  return loaded;
}

/**
 * Where the last segment's scan starts when the snapshot covers part of it:
 * at its first record inside the tail window (found from the snapshot's
 * columns), so that the window is checked as if there were no snapshot.
 */
function tailStart(seg: Segment, resume: { pos: number; expect: number }, table: RecordTable, tornWindow: number): { pos: number; expect: number } {
  const tailFrom = seg.sizeBytes - tornWindow;
  if (resume.pos <= tailFrom) return resume;
  let lo = Math.max(seg.firstSeq, table.firstSeq);
  let hi = resume.expect;
  if (lo === seg.firstSeq && tailFrom <= SEGMENT_HEADER_BYTES) return { pos: 0, expect: seg.firstSeq };
  // The first seq in [lo, resume.expect) whose record starts at or after tailFrom (resume.expect: none).
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (table.dataPos(mid) - HEADER_BYTES >= tailFrom) hi = mid;
    else lo = mid + 1;
  }
  return lo >= resume.expect ? resume : { pos: table.dataPos(lo) - HEADER_BYTES, expect: lo };
}

type Adder = (seg: Segment | undefined, h: RecordHeader, pos: number, dataPos: number, checkpoint: CheckpointPayload | undefined) => void;

function makeAdder(loaded: LoadedJournal, config: GroupConfig, applied: number): Adder {
  const known = new Set(config.disks.map((d) => d.id));
  return (seg, h, pos, dataPos, checkpoint) => {
    if (h.type !== RecordType.CHECKPOINT && !known.has(h.disk)) {
      throw new JournalCorruptError(seg?.name ?? "(snapshot)", pos, `record ${h.seq} names disk ${h.disk}, which the group does not have`);
    }
    if (h.seq <= applied) return;
    loaded.table.push(h.seq, h.type, h.disk, h.timeMs, h.offset, h.length, dataPos);
    if (h.type === RecordType.CHECKPOINT) {
      loaded.checkpoints.add({ seq: h.seq, timeMs: h.timeMs, id: checkpoint?.id ?? String(h.seq), tag: checkpoint?.tag, consistent: (h.flags & 1) === 1 });
    } else loaded.index.add(h.disk, h.seq, h.offset, h.length);
  };
}

/** Where the scan resumes after the snapshot, or why the snapshot does not fit the segments. */
function fitSnapshot(meta: SnapshotMeta, segments: Segment[], firstSeq: number, applied: number): { segment: number; pos: number; expect: number } | string {
  if (meta.firstSeq > applied + 1 && meta.lastSeq >= meta.firstSeq) return "snapshot starts after the replica's point";
  let resume = { segment: 0, pos: 0, expect: firstSeq };
  let k = 0;
  for (const s of meta.segments) {
    if (s.lastSeq < firstSeq) continue;
    const seg = segments[k];
    if (!seg || seg.name !== s.name || seg.firstSeq !== s.firstSeq) return `segment ${s.name} of the snapshot is missing`;
    if (seg.sizeBytes < s.sizeBytes) return `segment ${s.name} is shorter than the snapshot says`;
    seg.lastSeq = s.lastSeq;
    resume = { segment: k, pos: s.sizeBytes, expect: s.lastSeq + 1 };
    k++;
  }
  if (k > 0 && resume.expect - 1 !== meta.lastSeq) return "snapshot does not end where its segments do";
  return resume;
}

function loadColumns(meta: SnapshotMeta, columns: SnapshotColumns, firstLive: number, resume: { expect: number }, add: Adder): void {
  const cp = meta.checkpoints;
  const tags = new Map(cp.tags);
  const inconsistent = new Set(cp.inconsistent);
  const checkpoints = new Map(cp.seqs.map((seq, i) => [seq, { id: cp.ids[i]!, tag: tags.get(seq), consistent: !inconsistent.has(seq) }]));
  for (let seq = Math.max(firstLive, meta.firstSeq); seq < resume.expect; seq++) {
    const i = seq - meta.firstSeq;
    const c = checkpoints.get(seq);
    const header: RecordHeader = {
      type: columnType(columns, i),
      flags: c?.consistent ? 1 : 0,
      disk: columns.kind[i]! >>> 8,
      payloadBytes: 0,
      dcrc: 0,
      seq,
      timeMs: columns.timeMs[i]!,
      offset: columns.offset[i]!,
      length: columns.length[i]!,
    };
    add(undefined, header, 0, columns.dataPos[i]!, c);
  }
}
