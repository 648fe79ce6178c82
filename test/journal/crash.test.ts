/**
 * journal-crash: a child process appends while it is SIGKILLed at random
 * moments, round after round on the same journal. After each kill the journal
 * opens by itself (cutting any torn tail), holds every seq the child reported
 * durable, passes verify (the durable mark never claims more than the
 * segments hold), and a view at the newest seq equals the disk rebuilt from
 * the seqs.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Journal, PitView, verifyJournal } from "../../src/journal/index.js";
import { CRASH_DISK_BYTES, CRASH_SEGMENT_BYTES, crashData, crashRecord } from "./crash-child.js";
import { tempDir } from "./helpers.js";

const root = tempDir("journal-crash");
after(() => fs.rmSync(root, { recursive: true, force: true }));
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "crash-child.js");
const ROUNDS = Number(process.env.JOURNAL_CRASH_ROUNDS ?? 12);
const SEED = Number(process.env.JOURNAL_SEED ?? 20261203);

function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Runs the child until `killAfterMs`, SIGKILLs it, returns the highest seq it reported durable. */
function runChild(dir: string, killAfterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let durable = 0;
    let pending = "";
    let stderr = "";
    p.stdout.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split("\n");
      pending = lines.pop()!;
      for (const line of lines) if (line.startsWith("D ")) durable = Math.max(durable, Number(line.slice(2)));
    });
    p.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    // Kill only once it has made some progress, so that every round appends.
    const timer = setTimeout(() => p.kill("SIGKILL"), killAfterMs);
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child exited with ${code}: ${stderr}`));
      else resolve(durable);
    });
  });
}

function expectedImage(throughSeq: number): Buffer {
  const img = Buffer.alloc(CRASH_DISK_BYTES);
  for (let s = 1; s <= throughSeq; s++) {
    const r = crashRecord(s);
    if (r.kind === "write") crashData(s, r.length).copy(img, r.offset);
    else if (r.kind === "zero") img.fill(0, r.offset, r.offset + r.length);
  }
  return img;
}

describe("journal crash safety", () => {
  it(`survives ${ROUNDS} SIGKILLs while appending (seed ${SEED})`, async () => {
    const dir = path.join(root, "g");
    await (await Journal.create(dir, { disks: [{ name: "d", sizeBytes: CRASH_DISK_BYTES }], segmentBytes: CRASH_SEGMENT_BYTES })).close();
    const rand = random(SEED);
    let total = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const killAfterMs = 250 + Math.floor(rand() * 400);
      const reported = await runChild(dir, killAfterMs);
      const v = await verifyJournal(dir, { tornWindowBytes: CRASH_SEGMENT_BYTES * 2 });
      assert.equal(v.ok, true, `round ${round} (seed ${SEED}): verify found ${JSON.stringify(v.fault)}`);
      const j = await Journal.open(dir, { tornWindowBytes: CRASH_SEGMENT_BYTES * 2 });
      try {
        assert.ok(j.lastSeq >= reported, `round ${round} (seed ${SEED}): durable seq ${reported} reported, journal ends at ${j.lastSeq}`);
        assert.ok(j.lastSeq >= total, "nothing durable is lost across rounds");
        assert.ok((j.openReport.durableFloorSeq ?? -1) >= total, `round ${round}: the durable mark (${j.openReport.durableFloorSeq}) covers what the last clean close held (${total})`);
        total = j.lastSeq;
        if (process.env.JOURNAL_DEBUG) console.error(round, reported, j.lastSeq, j.appliedThroughSeq, j.openReport.tornTail?.reason, j.segments.length, j.openReport.snapshot, j.openReport.scannedRecords);
        const view = await PitView.open(j, "d", j.lastSeq);
        assert.ok((await view.read(0, view.size)).equals(expectedImage(j.lastSeq)), `round ${round} (seed ${SEED}): view at ${j.lastSeq} equals the expected disk`);
        await view.close();
      } finally {
        await j.close({ snapshot: round % 2 === 0 });
      }
    }
    assert.ok(total > ROUNDS, "the child made progress");
  });
});
