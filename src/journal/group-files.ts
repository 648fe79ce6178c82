/**
 * The files that describe a protection group's journal directory:
 *
 *   group.json   the disks (id, name, size) and settings; changes rarely.
 *   state.json   what must survive a crash of promotion and commit: the seq
 *                the replica is applied through, the promotion under way,
 *                the pins of running tests and failovers.
 *   journal/     segments and the index snapshot.
 *   replica/     one sparse raw file per disk.
 *
 * Both JSON files are only ever replaced through writeJsonAtomic.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "./atomic-file.js";
import { FileDevice } from "../blockdev/index.js";
import { JournalError } from "./errors.js";

export interface DiskInfo {
  id: number;
  /** `<vm>/<disk>`, as exported. */
  name: string;
  sizeBytes: number;
}

export interface GroupConfig {
  version: 1;
  disks: DiskInfo[];
  /** The first seq this journal was created to hold. */
  firstSeq: number;
  segmentBytes: number;
  historyWindowMs: number;
  /** Journal size limit; default max(1 GiB, 10% of the disks). */
  limitBytes: number;
  /** Fraction of the limit that raises a warning. */
  warnFraction: number;
}

export type PinKind = "test" | "failover" | "other";

export interface PinRecord {
  id: string;
  seq: number;
  owner: string;
  kind: PinKind;
  createdMs: number;
}

export interface CommitState {
  seq: number;
  phase: "journal" | "overlay" | "done";
}

export interface JournalState {
  appliedThroughSeq: number;
  /** Set while a promotion runs: at open, it is finished before anything is served. */
  promotingToSeq: number | undefined;
  pins: PinRecord[];
  commit: CommitState | undefined;
}

export const GROUP_FILE = "group.json";
export const STATE_FILE = "state.json";
export const SEGMENT_DIR = "journal";
export const REPLICA_DIR = "replica";

export const DEFAULT_SEGMENT_BYTES = 256 * 1024 * 1024;
export const DEFAULT_HISTORY_WINDOW_MS = 4 * 3600 * 1000;

export function replicaPath(dir: string, diskName: string): string {
  return path.join(dir, REPLICA_DIR, `${diskName}.raw`);
}

/**
 * Where segments roll: the configured size, but at most an eighth of the
 * journal's limit. Early promotion frees space only by deleting whole
 * segments, never the last one, so a segment as large as the limit would let
 * the journal grow to twice its limit before anything could be freed.
 */
export function rollBytes(config: Pick<GroupConfig, "segmentBytes" | "limitBytes">): number {
  return Math.min(config.segmentBytes, Math.max(4 * 1024 * 1024, Math.floor(config.limitBytes / 8)));
}

export function defaultLimitBytes(disks: { sizeBytes: number }[]): number {
  const total = disks.reduce((n, d) => n + d.sizeBytes, 0);
  return Math.max(1024 ** 3, Math.round(total / 10));
}

export async function readGroupConfig(dir: string): Promise<GroupConfig> {
  const config = await readJsonIfExists<GroupConfig>(path.join(dir, GROUP_FILE));
  if (!config) throw new JournalError(`${dir} holds no journal (no ${GROUP_FILE})`, { hint: "create it first, or check the path" });
  if (config.version !== 1) throw new JournalError(`${dir}/${GROUP_FILE} has version ${String(config.version)}, which this build does not know`);
  return config;
}

export async function writeGroupConfig(dir: string, config: GroupConfig): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await writeJsonAtomic(path.join(dir, GROUP_FILE), config);
}

export async function readJournalState(dir: string, config: GroupConfig): Promise<JournalState> {
  const state = await readJsonIfExists<Partial<JournalState>>(path.join(dir, STATE_FILE));
  return {
    appliedThroughSeq: state?.appliedThroughSeq ?? config.firstSeq - 1,
    promotingToSeq: state?.promotingToSeq ?? undefined,
    pins: state?.pins ?? [],
    commit: state?.commit ?? undefined,
  };
}

export async function writeJournalState(dir: string, state: JournalState): Promise<void> {
  await writeJsonAtomic(path.join(dir, STATE_FILE), state);
}

export interface JournalCreateOptions {
  disks: { name: string; sizeBytes: number }[];
  firstSeq?: number;
  segmentBytes?: number;
  historyWindowMs?: number;
  limitBytes?: number;
  warnFraction?: number;
}

/** Makes a group's directory: group.json, journal/, and an empty sparse replica per disk. */
export async function createGroupDir(dir: string, options: JournalCreateOptions): Promise<GroupConfig> {
  if (await readJsonIfExists(path.join(dir, GROUP_FILE))) {
    throw new JournalError(`${dir} already holds a journal`, { hint: "open it, or remove the directory to start over" });
  }
  const config: GroupConfig = {
    version: 1,
    disks: options.disks.map((d, id) => ({ id, name: d.name, sizeBytes: d.sizeBytes })),
    firstSeq: options.firstSeq ?? 1,
    segmentBytes: options.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
    historyWindowMs: options.historyWindowMs ?? DEFAULT_HISTORY_WINDOW_MS,
    limitBytes: options.limitBytes ?? defaultLimitBytes(options.disks),
    warnFraction: options.warnFraction ?? 0.75,
  };
  await fs.mkdir(path.join(dir, SEGMENT_DIR), { recursive: true });
  for (const d of config.disks) {
    await fs.mkdir(path.dirname(replicaPath(dir, d.name)), { recursive: true });
    await (await FileDevice.open(replicaPath(dir, d.name), { sizeBytes: d.sizeBytes })).close();
  }
  await writeGroupConfig(dir, config);
  return config;
}
