/**
 * What the receiver needs of a group's journal, as an interface, so that the
 * receiver can be tested against journals that fail on cue (a full file
 * system, a dying disk) as nbdkit's error filter wraps a plugin. The
 * journal's `Journal` class fits it as it is; `JournalStore` reopens one
 * after a failure, which is how a failed journal comes back (it refuses
 * appends after a failed write or sync, by design).
 */
import { Journal, PitView, type AppendInput } from "../journal/index.js";
import { deviceBlockHashes } from "./block-hash.js";

export interface JournalSink {
  readonly lastSeq: number;
  readonly durableSeq: number;
  readonly disks: readonly { name: string; sizeBytes: number }[];
  /** Appends in order; settles once, when the last is durable or at the first failure. */
  appendMany(inputs: readonly AppendInput[]): Promise<void>;
  close(): Promise<void>;
  /** Hashes of the newest contents of disk `name`'s blocks in a range (delta sync); optional. */
  hashes?(name: string, offset: number, length: number, blockBytes: number): Promise<Buffer>;
}

export interface JournalStore {
  open(): Promise<JournalSink>;
}

/** The journal in `dir`, opened read-write. */
export function journalStore(dir: string, options: { onOpen?: (j: Journal) => void } = {}): JournalStore {
  return {
    async open() {
      const j = await Journal.open(dir);
      options.onOpen?.(j);
      return journalSink(j);
    },
  };
}

/** A Journal as a sink, with block hashes read through a PIT view of its newest point. */
export function journalSink(j: Journal): JournalSink {
  return {
    get lastSeq() {
      return j.lastSeq;
    },
    get durableSeq() {
      return j.durableSeq;
    },
    disks: j.disks,
    appendMany: (inputs) => j.appendMany(inputs),
    close: () => j.close(),
    async hashes(name, offset, length, blockBytes) {
      await j.whenWritten(j.lastSeq);
      const view = await PitView.open(j, name, j.lastSeq);
      try {
        // Holes of the view (the replica's, trimmed ranges) are neither read nor hashed.
        return await deviceBlockHashes(view, offset, length, blockBytes);
      } finally {
        await view.close();
      }
    },
  };
}
