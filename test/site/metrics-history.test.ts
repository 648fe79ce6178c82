/** The metrics history's ring: order, wrap-around, bounds, null RPO, clock steps, and forgetting deleted groups. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MetricsHistory, MetricsRing } from "../../src/site/index.js";

const s = (t: number, rpoMs: number | null = t / 10) => ({ t, rpoMs, throughputBytesPerSec: t * 2, queueBytes: t * 3 });

describe("metrics-history", () => {
  it("keeps samples oldest first, and only those after `since`", () => {
    const r = new MetricsRing(10);
    for (const t of [1000, 2000, 3000]) r.push(s(t));
    assert.deepEqual(r.since(-Infinity), { t: [1000, 2000, 3000], rpoMs: [100, 200, 300], throughputBytesPerSec: [2000, 4000, 6000], queueBytes: [3000, 6000, 9000] });
    assert.deepEqual(r.since(2000).t, [3000]);
    assert.deepEqual(r.since(3000).t, []);
  });

  it("overwrites the oldest once full, and stays in order across the wrap (model: the last N pushed)", () => {
    const r = new MetricsRing(7);
    const pushed: number[] = [];
    for (let t = 1; t <= 100; t++) {
      r.push(s(t * 1000));
      pushed.push(t * 1000);
      assert.deepEqual(r.since(-Infinity).t, pushed.slice(-7), `after ${t} pushes`);
      assert.equal(r.size, Math.min(t, 7));
    }
  });

  it("gives a missing RPO back as null, not 0", () => {
    const r = new MetricsRing(3);
    r.push(s(1000, null));
    r.push(s(2000, 0));
    assert.deepEqual(r.since(-Infinity).rpoMs, [null, 0]);
  });

  it("a sample not after the newest one replaces it (a clock stepping back does not unsort the ring)", () => {
    const r = new MetricsRing(5);
    r.push(s(5000));
    r.push({ t: 4000, rpoMs: 7, throughputBytesPerSec: 8, queueBytes: 9 });
    assert.deepEqual(r.since(-Infinity), { t: [5000], rpoMs: [7], throughputBytesPerSec: [8], queueBytes: [9] });
    r.push(s(6000));
    assert.deepEqual(r.since(-Infinity).t, [5000, 6000]);
  });

  it("refuses a ring of no samples", () => {
    assert.throws(() => new MetricsRing(0), RangeError);
  });

  it("per group: one hour of one-second samples at most, older ones not served, deleted groups forgotten", () => {
    const h = new MetricsHistory(60_000, 1000);
    const start = 1_700_000_000_000;
    for (let i = 0; i < 150; i++) {
      h.record("erp", s(start + i * 1000));
      if (i % 2 === 0) h.record("crm", s(start + i * 1000));
    }
    const now = start + 149 * 1000;
    const erp = h.since("erp", undefined, now);
    assert.equal(erp.t.length, 60, "the ring holds keepMs / intervalMs samples");
    assert.equal(erp.t[0], now - 59_000);
    // Older than keepMs is not served even when the ring still holds it (samples further apart than the interval).
    // crm was sampled every other second: its ring (60 places) still holds 120 s, of which the last 60 s are served.
    assert.deepEqual(h.since("crm", undefined, now).t, Array.from({ length: 30 }, (_, k) => start + (90 + 2 * k) * 1000));
    assert.deepEqual(h.since("erp", now - 2000, now).t, [now - 1000, now]);
    assert.deepEqual(h.since("nope", undefined, now).t, []);
    h.retain(new Set(["crm"]));
    assert.deepEqual(h.since("erp", undefined, now).t, []);
    assert.ok(h.since("crm", undefined, now).t.length > 0);
  });
});
