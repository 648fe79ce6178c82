/**
 * Opening a journal after a clean stop or a crash: find the segments, load
 * the index snapshot when it matches them, scan the headers after it, and
 * decide what a fault means.
 *
 * The rule for faults: appends are written one batch at a time and a batch
 * never spans segments (appender.ts), so a crash can only tear the last
 * segment, within one batch of its end. A bad record there is a torn tail: it
 * was never reported durable, and it is cut off. Anywhere else, or a gap in
 * the seqs, it is corruption, and the open fails naming segment and offset.
 * Payload checksums are checked only in that tail window; the rest is headers
 * only (`journal verify` reads everything).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { TORN_WINDOW_BYTES } from "./appender.js";
import { CheckpointList } from "./checkpoints.js";
import { JournalCorruptError } from "./errors.js";
import { FileDevice } from "../blockdev/index.js";
import { type GroupConfig, type JournalState, SEGMENT_DIR, readGroupConfig, readJournalState, replicaPath } from "./group-files.js";
import { RangeIndex } from "./range-index.js";
import { RecordTable } from "./record-table.js";
import { type CheckpointPayload, type RecordHeader, RecordType, decodeCheckpointPayload } from "./record.js";
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
  for (const d of config.disks) replicas.set(d.id, await FileDevice.open(replicaPath(dir, d.name), { readOnly }));
  const loaded = await loadJournal(dir, config, state, {
    readOnly,
    useSnapshot: options.useSnapshot ?? true,
    ...(options.tornWindowBytes === undefined ? {} : { tornWindowBytes: options.tornWindowBytes }),
  });
  return { config, state, loaded, replicas };
}

export interface OpenReport {
  /** Where a torn tail was cut (or, read-only, ignored). */
  tornTail: { segment: string; offset: number; bytes: number; reason: string } | undefined;
  /** "used", or why the snapshot was not used. */
  snapshot: string;
  /** Records whose headers were read from segments. */
  scannedRecords: number;
  deletedSegments: string[];
}

export interface LoadedJournal {
  segments: Segment[];
  table: RecordTable;
  index: RangeIndex;
  checkpoints: CheckpointList;
  report: OpenReport;
}

export interface LoadOptions {
  readOnly: boolean;
  useSnapshot: boolean;
  tornWindowBytes?: number;
}

export async function loadJournal(dir: string, config: GroupConfig, state: JournalState, options: LoadOptions): Promise<LoadedJournal> {
  const segDir = path.join(dir, SEGMENT_DIR);
  await fs.mkdir(segDir, { recursive: true });
  const report: OpenReport = { tornTail: undefined, snapshot: "not used", scannedRecords: 0, deletedSegments: [] };
  const applied = state.appliedThroughSeq;
  let names = (await fs.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  // Whole segments already promoted (a crash between persisting the point and deleting them).
  while (names.length > 1 && parseSegmentFileName(names[1]!)! - 1 <= applied) {
    if (!options.readOnly) await fs.rm(path.join(segDir, names[0]!));
    report.deletedSegments.push(names.shift()!);
  }
  const segments: Segment[] = [];
  for (const name of names) segments.push(await Segment.open(path.join(segDir, name), parseSegmentFileName(name)!, options.readOnly));
  const firstSeq = segments[0]?.firstSeq ?? applied + 1;
  if (firstSeq > applied + 1) {
    throw new JournalCorruptError(segments[0]!.name, 0, `the replica is applied through seq ${applied}, but the journal starts at ${firstSeq}`);
  }
  const loaded: LoadedJournal = { segments, table: new RecordTable(applied + 1), index: new RangeIndex(), checkpoints: new CheckpointList(), report };
  for (const d of config.disks) loaded.index.addDisk(d.id, d.sizeBytes);
  const add = makeAdder(loaded, config, applied);

  let resume = { segment: 0, pos: 0, expect: firstSeq };
  if (options.useSnapshot) {
    const snap = await readSnapshot(path.join(segDir, SNAPSHOT_FILE));
    if (typeof snap === "string") report.snapshot = snap;
    else {
      const fit = fitSnapshot(snap.meta, segments, firstSeq, applied);
      if (typeof fit === "string") report.snapshot = fit;
      else {
        loadColumns(snap.meta, snap.columns, applied + 1, fit, add);
        resume = fit;
        report.snapshot = "used";
      }
    }
  }

  const tornWindow = options.tornWindowBytes ?? TORN_WINDOW_BYTES;
  let expect = resume.expect;
  for (let s = resume.segment; s < segments.length; s++) {
    const seg = segments[s]!;
    const last = s === segments.length - 1;
    const from = s === resume.segment ? resume.pos : 0;
    if (from === 0 && seg.firstSeq !== expect) {
      throw new JournalCorruptError(seg.name, 0, `segment starts at seq ${seg.firstSeq}, but the one before ends at ${expect - 1}`);
    }
    const tailFrom = seg.sizeBytes - tornWindow;
    const result = await scanSegment(seg, {
      from,
      expectSeq: expect,
      verifyData: (pos) => last && pos >= tailFrom,
      onRecord: (r) => {
        add(seg, r.header, r.pos, r.dataPos, r.payload && r.header.type === RecordType.CHECKPOINT ? decodeCheckpointPayload(r.payload) : undefined);
        report.scannedRecords++;
      },
    });
    if (result.fault) {
      const { offset, reason, tearable } = result.fault;
      if (!last || !tearable || offset < tailFrom) throw new JournalCorruptError(seg.name, offset, reason);
      report.tornTail = { segment: seg.name, offset, bytes: seg.sizeBytes - offset, reason };
      if (offset < SEGMENT_HEADER_BYTES) {
        if (!options.readOnly) await seg.rewriteHeader();
        else seg.sizeBytes = SEGMENT_HEADER_BYTES;
      } else if (!options.readOnly) {
        await seg.truncate(offset);
        await seg.sync();
      } else seg.sizeBytes = offset;
    }
    seg.lastSeq = seg.durableSeq = result.lastSeq;
    seg.durableBytes = seg.sizeBytes;
    expect = result.lastSeq + 1;
  }
  return loaded;
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
