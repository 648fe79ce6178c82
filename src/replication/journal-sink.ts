/**
 * What the receiver needs of a group's journal, as an interface, so that the
 * receiver can be tested against journals that fail on cue (a full file
 * system, a dying disk) as nbdkit's error filter wraps a plugin. The
 * journal's `Journal` class fits it as it is; `JournalStore` reopens one
 * after a failure, which is how a failed journal comes back (it refuses
 * appends after a failed write or sync, by design).
 */
import { Journal, type AppendInput } from "../journal/index.js";

export interface JournalSink {
  readonly lastSeq: number;
  readonly durableSeq: number;
  readonly disks: readonly { name: string; sizeBytes: number }[];
  append(input: AppendInput): Promise<void>;
  close(): Promise<void>;
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
      return j;
    },
  };
}
