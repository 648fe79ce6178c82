/**
 * A site pair's bandwidth, shared by its groups, run in virtual time: the
 * pair's rate holds for all of them together, busy groups share it by
 * priority weight, a group alone gets all of it, and lifting the limit lets
 * everything waiting go.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PairBandwidth, PRIORITY_WEIGHT, type BandwidthClock } from "../../src/replication/pair-bandwidth.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** A clock whose time moves only when the test says; timers fire in order. */
class VirtualClock implements BandwidthClock {
  #now = 1_000_000;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): object {
    const t = { at: this.#now + ms, fn, live: true };
    this.#timers.push(t);
    return t;
  }
  clearTimeout(handle: object): void {
    (handle as { live: boolean }).live = false;
  }
  /** Runs time forward to `until`, firing timers (and the promise jobs they start) as it goes. */
  async runUntil(until: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      this.#timers = this.#timers.filter((t) => t.live);
      const next = this.#timers.sort((a, b) => a.at - b.at)[0];
      if (!next || next.at > until) break;
      this.#now = Math.max(this.#now, next.at);
      next.live = false;
      next.fn();
    }
    this.#now = until;
  }
}

/** A sender that asks for `chunk` bytes again as soon as the last were let through, until stopped. */
function busyGroup(pair: PairBandwidth, name: string, weight: number, chunk: number): { sent: () => number; stop: () => void } {
  let sent = 0;
  let running = true;
  void (async () => {
    while (running) {
      const wait = pair.acquire(name, chunk, weight);
      if (wait) await wait;
      sent += chunk;
      if (!wait) await Promise.resolve();
    }
  })();
  return { sent: () => sent, stop: () => (running = false) };
}

describe("site pair bandwidth", () => {
  it("holds the pair's rate for all its groups together, and shares it by priority", async () => {
    const clock = new VirtualClock();
    const pair = new PairBandwidth(10 * MiB, clock);
    const high = busyGroup(pair, "pharmacy", PRIORITY_WEIGHT.high, 256 * KiB);
    const low = busyGroup(pair, "archive", PRIORITY_WEIGHT.low, 256 * KiB);
    await clock.runUntil(clock.now() + 20_000);
    high.stop();
    low.stop();
    const total = high.sent() + low.sent();
    // 20 s at 10 MiB/s, give or take what the bucket holds and one chunk each.
    assert.ok(Math.abs(total - 200 * MiB) <= 2 * MiB, `total ${total / MiB} MiB`);
    const ratio = high.sent() / low.sent();
    assert.ok(ratio > 3.6 && ratio < 4.4, `high:low ${ratio.toFixed(2)}`);
  });

  it("gives a group alone the whole rate, and the others' share when they go idle", async () => {
    const clock = new VirtualClock();
    const pair = new PairBandwidth(8 * MiB, clock);
    const a = busyGroup(pair, "a", PRIORITY_WEIGHT.medium, 128 * KiB);
    const b = busyGroup(pair, "b", PRIORITY_WEIGHT.medium, 128 * KiB);
    await clock.runUntil(clock.now() + 10_000);
    const half = a.sent();
    assert.ok(Math.abs(half - 40 * MiB) <= 2 * MiB, `a got ${half / MiB} MiB of 80 shared equally`);
    b.stop();
    await clock.runUntil(clock.now() + 10_000);
    a.stop();
    assert.ok(Math.abs(a.sent() - half - 80 * MiB) <= 2 * MiB, `a alone got ${(a.sent() - half) / MiB} MiB of 80`);
  });

  it("lets everything waiting go when the limit is lifted, and then never waits", async () => {
    const clock = new VirtualClock();
    const pair = new PairBandwidth(1 * MiB, clock);
    assert.equal(pair.acquire("a", 4 * MiB, 1), undefined, "the first request goes at once, into debt");
    let done = false;
    void pair.acquire("a", 1 * MiB, 1)!.then(() => (done = true));
    await clock.runUntil(clock.now() + 100);
    assert.equal(done, false, "in debt: it waits");
    pair.setRate(undefined);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, true);
    assert.equal(pair.acquire("a", 64 * MiB, 1), undefined);
  });
});
