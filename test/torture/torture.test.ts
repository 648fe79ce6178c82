/**
 * torture-short: the torture suite for about two and a half minutes with a fixed seed,
 * every fault kind once (test/torture/torture.ts says what is checked). The
 * long version is `npm run torture -- --minutes N`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAULT_KINDS } from "./faults.js";
import { runTorture } from "./torture.js";

const SEED = Number(process.env.TORTURE_SEED ?? 20261204);

describe("torture", () => {
  it(`torture-short: every fault kind, nothing lost (seed ${SEED})`, { timeout: 15 * 60_000 }, async () => {
    const s = await runTorture({ minutes: Number(process.env.TORTURE_MINUTES ?? 2.5), seed: SEED, log: (line) => console.log(`# ${line}`) });
    // Without root there is no tmpfs to fill and no second host to cut off.
    const expected = process.getuid?.() === 0 ? FAULT_KINDS : FAULT_KINDS.filter((k) => k !== "journal-full" && !k.startsWith("net-"));
    for (const kind of expected) assert.ok((s.faults[kind] ?? 0) >= 1, `${kind} ran`);
    assert.ok(s.finalPoint && s.finalPoint.writes === s.writesAcked, "the final point holds every acknowledged write");
    assert.ok(s.pointsChecked > s.rounds, "points were restored and judged after every round");
  });
});
