/**
 * The replication protocol's messages, as data. A connection carries frames
 * (frame-codec.ts wraps each in a length, a version and a crc32c); the write
 * stream travels as records (WRITE, ZERO, TRIM, CHECKPOINT, SYNC_BLOCK), each
 * of which may be a frame of its own or one of many in a BATCH frame, which is
 * what the sender sends so that lz4 sees enough bytes to pay.
 *
 * Disks are named by their index in the sender's HELLO, so a record header is
 * a fixed 31 bytes. Seqs, times and offsets are safe integers (< 2^53).
 */
export const PROTOCOL_VERSION = 1;

export enum FrameType {
  HELLO = 1,
  ACK = 2,
  BATCH = 3,
  HASH_REQUEST = 4,
  HASHES = 5,
  ERROR = 6,
  WRITE = 16,
  ZERO = 17,
  TRIM = 18,
  CHECKPOINT = 19,
  SYNC_BLOCK = 20,
}

export interface DiskSpec {
  /** `<vm>/<disk>`, as exported. */
  name: string;
  sizeBytes: number;
}

/** `dataCrc`: crc32c of `data`, set by the decoder that checked it (never sent: the frame's checksum covers the data). */
export type WriteRecord = { type: "write"; seq: number; timeMs: number; disk: number; offset: number; data: Buffer; dataCrc?: number };
export type ZeroRecord = { type: "zero" | "trim"; seq: number; timeMs: number; disk: number; offset: number; length: number };
export type CheckpointRecord = { type: "checkpoint"; seq: number; timeMs: number; id: string; tag: string | undefined; consistent: boolean };
/** A block's current contents during a bitmap, initial or delta sync; `data` undefined means zeroes. */
export type SyncBlockRecord = { type: "sync-block"; seq: number; timeMs: number; disk: number; offset: number; length: number; data: Buffer | undefined; dataCrc?: number };

export type StreamRecord = WriteRecord | ZeroRecord | CheckpointRecord | SyncBlockRecord;

export type HelloFrame = {
  type: "hello";
  role: "sender" | "receiver";
  site: string;
  group: string;
  /** From the receiver: the last seq it holds durably, with everything before it. */
  durableSeq: number;
  /** From the sender: the group's disks, in the order records name them. */
  disks: DiskSpec[];
};

export type AckFrame = { type: "ack"; durableSeq: number };
export type BatchFrame = { type: "batch"; records: StreamRecord[] };
export type HashRequestFrame = { type: "hash-request"; disk: number; offset: number; length: number; blockBytes: number };
/** Hashes of consecutive blocks from `offset`, HASH_BYTES each. */
export type HashesFrame = { type: "hashes"; disk: number; offset: number; blockBytes: number; hashes: Buffer };
export type ErrorCode = "paused" | "protocol" | "refused";
export type ErrorFrame = { type: "error"; code: ErrorCode; message: string };

export type Frame = HelloFrame | AckFrame | BatchFrame | HashRequestFrame | HashesFrame | ErrorFrame | StreamRecord;

export const HASH_BYTES = 16;
export const ERROR_CODES: readonly ErrorCode[] = ["paused", "protocol", "refused"];

/** Bytes of payload a record carries (what the window and the memory bound count). */
export function recordDataBytes(r: StreamRecord): number {
  if (r.type === "write") return r.data.length;
  if (r.type === "sync-block") return r.data?.length ?? 0;
  return 0;
}
