/**
 * replication-link-*: faults on the link through the fault proxy (cut, stall,
 * close mid-frame, bandwidth cap), and the outgoing stream overflowing into a
 * bitmap sync. In every case the group converges, each consistent tagged
 * checkpoint equals production as it was, and the newest point equals
 * production byte for byte.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, it } from "node:test";
import { type Appliances, MiB, assertNewestEqualsProduction, caughtUp, productionHashes, setup, sleep, viewHash } from "./harness.js";
import { RecordingWriter } from "./writer.js";

interface Tagged {
  tag: string;
  consistent: boolean;
  hashes: Map<string, string>;
}

async function tagNow(app: Appliances, writers: RecordingWriter[], tag: string, out: Tagged[]): Promise<void> {
  await Promise.all(writers.map((w) => w.pause()));
  const cp = app.group.checkpoint(tag);
  if (cp.seq !== undefined) out.push({ tag, consistent: cp.consistent, hashes: await productionHashes(app) });
  for (const w of writers) w.start(4);
}

function kind(app: Appliances): string {
  return app.group.state.kind;
}

async function checkTagged(app: Appliances, tagged: Tagged[]): Promise<number> {
  await caughtUp(app);
  const j = app.journal();
  let checked = 0;
  for (const t of tagged) {
    const [cp] = j.checkpoints.list({ tag: t.tag });
    assert.ok(cp, `checkpoint ${t.tag} reached the journal`);
    assert.equal(cp.consistent, t.consistent, `${t.tag} keeps its consistency flag`);
    if (!cp.consistent) continue;
    for (const [disk, hash] of t.hashes) assert.equal(await viewHash(j, disk, cp.seq), hash, `${disk} at ${t.tag}`);
    checked++;
  }
  return checked;
}

describe("replication-link faults", () => {
  let app: Appliances | undefined;
  let writers: RecordingWriter[] = [];
  afterEach(async () => {
    for (const w of writers) {
      await w.pause();
      w.close();
    }
    writers = [];
    await app?.close();
    app = undefined;
  });
  after(() => undefined);

  async function start(options: Parameters<typeof setup>[0]): Promise<Appliances> {
    app = await setup({ proxy: true, ...options });
    writers = [await RecordingWriter.open(app.nbdPort, app.exportName("vm1/disk0"), 11), await RecordingWriter.open(app.nbdPort, app.exportName("vm2/disk0"), 12)];
    for (const w of writers) w.start(4);
    return app;
  }

  it("replication-link-cut-stall-midframe-bandwidth: converges through every fault", async () => {
    const a = await start({});
    const tagged: Tagged[] = [];
    const proxy = a.proxy!;
    await sleep(200);
    await tagNow(a, writers, "before-cut", tagged);
    proxy.cut();
    await sleep(200);
    await tagNow(a, writers, "after-cut", tagged);
    proxy.stall(true);
    await sleep(300);
    await tagNow(a, writers, "during-stall", tagged);
    proxy.stall(false);
    await sleep(200);
    proxy.closeMidFrame(5000);
    await sleep(300);
    await tagNow(a, writers, "after-midframe", tagged);
    proxy.bandwidth(2 * MiB);
    await sleep(400);
    await tagNow(a, writers, "capped", tagged);
    proxy.bandwidth(undefined);
    await Promise.all(writers.map((w) => w.pause()));
    for (const [i, w] of writers.entries()) assert.deepEqual(await a.stores.get(i === 0 ? "vm1/disk0" : "vm2/disk0")!.read(0, w.model.length), w.model);
    assert.equal(await checkTagged(a, tagged), tagged.length);
    await assertNewestEqualsProduction(a);
    assert.ok(a.sender.status().reconnects >= 2, "the cuts forced reconnects");
    assert.ok(proxy.connections >= 3);
  });

  it("replication-overflow-bitmap-sync: the stream overflows while the link is down, a bitmap sync follows, the group is consistent again", async () => {
    const a = await start({ group: { streamLimitBytes: 2 * MiB } });
    const tagged: Tagged[] = [];
    while (kind(a) !== "streaming") await sleep(20);
    await tagNow(a, writers, "linked", tagged);
    a.proxy!.refuse(true);
    while (kind(a) !== "tracking") await sleep(20);
    const cp = a.group.checkpoint("while-tracking");
    assert.equal(cp.seq, undefined, "no checkpoint can be recorded while only the bitmap tracks writes");
    await sleep(200);
    // Slow the link down so that the sync is seen in progress, and take a checkpoint during it.
    a.proxy!.bandwidth(4 * MiB);
    a.proxy!.refuse(false);
    while (kind(a) === "tracking") await sleep(10);
    await tagNow(a, writers, "during-sync", tagged);
    a.proxy!.bandwidth(undefined);
    while (kind(a) !== "streaming") await sleep(20);
    await tagNow(a, writers, "after-sync", tagged);
    await Promise.all(writers.map((w) => w.pause()));
    const checked = await checkTagged(a, tagged);
    assert.ok(checked >= 2, "the consistent checkpoints before and after the outage are exact");
    const during = tagged.find((t) => t.tag === "during-sync");
    if (during) assert.equal(during.consistent, false, "a checkpoint during the bitmap sync is marked inconsistent");
    await assertNewestEqualsProduction(a);
    const kinds = a.events.map((e) => e.type);
    assert.ok(kinds.includes("overflow") && kinds.includes("consistent"));
    const syncs = a.events.filter((e) => e.type === "state" && e.to === "syncing").map((e) => ("message" in e ? e.message : ""));
    assert.ok(syncs.some((m) => /bitmap sync of .* because the outgoing stream reached its limit/.test(m)), JSON.stringify(syncs));
  });
});
