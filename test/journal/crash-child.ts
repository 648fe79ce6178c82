/**
 * The process the crash test kills: it appends to a journal as fast as it
 * can (writes of varied sizes, zeroes, checkpoints, now and then a
 * promotion), printing "D <seq>" each time an append is durable, until it is
 * SIGKILLed. The data of seq s is a pure function of s (see crashRecord), so
 * the test can rebuild the expected disk from the seqs alone. It updates the
 * durable mark every 20 ms, so kills also land around mark writes.
 *
 * Inert unless given a directory: `node --test` also loads it as a test file.
 */
import { Journal } from "../../src/journal/index.js";
import { pattern } from "./helpers.js";

export const CRASH_DISK_BYTES = 4 * 1024 * 1024;
export const CRASH_SEGMENT_BYTES = 256 * 1024;

export function crashRecord(seq: number): { kind: "write" | "zero" | "checkpoint"; offset: number; length: number } {
  const h = Math.imul(seq, 2654435761) >>> 0;
  if (h % 29 === 0) return { kind: "checkpoint", offset: 0, length: 0 };
  const length = h % 7 === 0 ? 64 * 1024 + (h % 5000) : 512 + (h % 9000);
  const offset = (h >>> 3) % (CRASH_DISK_BYTES - length);
  return { kind: h % 13 === 0 ? "zero" : "write", offset, length };
}

export function crashData(seq: number, length: number): Buffer {
  return pattern(length, seq);
}

async function main(dir: string): Promise<void> {
  // Marks often, so that kills land before, during and after mark updates.
  const j = await Journal.open(dir, { tornWindowBytes: CRASH_SEGMENT_BYTES * 2, snapshotEveryRecords: 1500, durableMarkEveryMs: 20 });
  let seq = j.lastSeq;
  const inflight = new Set<Promise<void>>();
  for (;;) {
    while (inflight.size < 32) {
      const s = ++seq;
      const r = crashRecord(s);
      const p =
        r.kind === "checkpoint"
          ? j.append({ type: "checkpoint", seq: s, timeMs: Date.now(), id: `c${s}` })
          : r.kind === "zero"
            ? j.append({ type: "zero", seq: s, timeMs: Date.now(), disk: "d", offset: r.offset, length: r.length })
            : j.append({ type: "write", seq: s, timeMs: Date.now(), disk: "d", offset: r.offset, data: crashData(s, r.length) });
      const tracked: Promise<void> = p.then(() => {
        process.stdout.write(`D ${s}\n`);
        inflight.delete(tracked);
      });
      inflight.add(tracked);
      if (s % 500 === 0) void j.promote({ throughSeq: s - 300 });
    }
    await Promise.race(inflight);
  }
}

const dir = process.argv[2];
if (dir) {
  main(dir).catch((err: unknown) => {
    process.stderr.write(`crash child: ${String(err)}\n`);
    process.exit(2);
  });
}
