/**
 * replication-order, replication-journal-failure, replication-tls-pinning:
 * write-order fidelity across disks at every seq; the recovery site's journal
 * failing (as when its file system is full) pauses replication, which resumes
 * by itself; unpinned peers are refused before any replication data.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { JournalError, PitView } from "../../src/journal/index.js";
import { Sender, generateIdentity, type JournalSink, type JournalStore, type ReceiverEvent } from "../../src/replication/index.js";
import { RawClient } from "../nbd/client.js";
import { type Appliances, assertNewestEqualsProduction, caughtUp, setup, siteIdentities, sleep } from "./harness.js";
import { RecordingWriter } from "./writer.js";

/** A journal that fails every append while `full` is set, as a journal on a full file system does. */
function failingStore(inner: JournalStore, control: { full: boolean; failures: number }): JournalStore {
  return {
    async open() {
      const j = await inner.open();
      const sink: JournalSink = {
        get lastSeq() {
          return j.lastSeq;
        },
        get durableSeq() {
          return j.durableSeq;
        },
        disks: j.disks,
        appendMany(inputs) {
          if (control.full) {
            control.failures++;
            return Promise.reject(new JournalError("journal write failed: ENOSPC: no space left on device", { hint: "free space" }));
          }
          return j.appendMany(inputs);
        },
        close: () => j.close(),
      };
      return sink;
    },
  };
}

describe("replication at the recovery site", () => {
  let app: Appliances | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("replication-order: no point ever holds B on disk 2 without A on disk 1 before it", async () => {
    app = await setup({ proxy: true, group: { checkpointIntervalMs: 100 } });
    const d1 = await RawClient.session(app.nbdPort, app.exportName("vm1/disk0"));
    const d2 = await RawClient.session(app.nbdPort, app.exportName("vm2/disk0"));
    const n = 300;
    try {
      for (let i = 1; i <= n; i++) {
        const b = Buffer.alloc(4096);
        b.writeUInt32LE(i, 0);
        await d1.client.writeBytes(0, b);
        await d2.client.writeBytes(0, b);
        if (i === n / 2) app.proxy?.cut();
      }
    } finally {
      d1.client.close();
      d2.client.close();
    }
    await caughtUp(app);
    const j = app.journal();
    await j.whenWritten(j.lastSeq);
    let checked = 0;
    for (let seq = j.appliedThroughSeq + 1; seq <= j.lastSeq; seq++) {
      const [v1, v2] = await Promise.all([PitView.open(j, "vm1/disk0", seq), PitView.open(j, "vm2/disk0", seq)]);
      const a = (await v1.read(0, 4)).readUInt32LE(0);
      const b = (await v2.read(0, 4)).readUInt32LE(0);
      await v1.close();
      await v2.close();
      assert.ok(b <= a && a <= b + 1, `seq ${seq}: disk 1 holds ${a}, disk 2 holds ${b}`);
      checked++;
    }
    assert.ok(checked >= 2 * n);
  });

  it("replication-journal-failure: a full journal pauses the group; it resumes by itself and converges", async () => {
    const control = { full: false, failures: 0 };
    app = await setup({ wrapStore: (s) => failingStore(s, control) });
    const events: ReceiverEvent[] = [];
    app.receiver.events.on((e) => {
      if (e.type !== "refused") events.push(e);
    });
    const writer = await RecordingWriter.open(app.nbdPort, app.exportName("vm1/disk0"), 5);
    try {
      writer.start(4);
      await sleep(150);
      control.full = true;
      while (app.sender.status().link.kind !== "paused") await sleep(10);
      const durableWhilePaused = app.group.status().ackedSeq;
      await sleep(300);
      control.full = false;
      await sleep(150);
      await writer.pause();
      await assertNewestEqualsProduction(app);
      assert.ok(app.group.status().ackedSeq >= durableWhilePaused);
      assert.deepEqual(await app.stores.get("vm1/disk0")!.read(0, writer.model.length), writer.model);
    } finally {
      await writer.pause();
      writer.close();
    }
    assert.ok(control.failures > 0);
    assert.ok(events.some((e) => e.type === "paused" && /ENOSPC/.test(e.reason)));
    assert.ok(events.some((e) => e.type === "resumed"));
  });

  it("replication-tls-pinning: a sender refuses an unpinned recovery site, and a receiver an unpinned sender", async () => {
    app = await setup({});
    await caughtUp(app);
    const [a] = await siteIdentities();
    const stranger = await generateIdentity("stranger");
    const refused: string[] = [];
    app.receiver.events.on((e) => {
      if (e.type === "refused") refused.push(e.reason);
    });
    // A sender whose certificate the receiver has not pinned.
    const group = app.group;
    const bad = new Sender({ group, identity: stranger, peer: { host: "127.0.0.1", port: receiverPort(app), fingerprint: (await siteIdentities())[1].fingerprint }, backoff: { initialMs: 20, maxMs: 50 } });
    const linkMessages: string[] = [];
    const off = group.events.on((e) => {
      if (e.type === "link") linkMessages.push(e.message);
    });
    bad.start();
    while (refused.length === 0) await sleep(10);
    await bad.stop();
    assert.match(refused[0]!, /not pinned/);
    // A sender that pins the wrong recovery site certificate.
    const wrongPin = new Sender({ group, identity: a, peer: { host: "127.0.0.1", port: receiverPort(app), fingerprint: stranger.fingerprint }, backoff: { initialMs: 20, maxMs: 50 } });
    linkMessages.length = 0;
    wrongPin.start();
    while (!linkMessages.some((m) => /not pinned/.test(m))) await sleep(10);
    await wrongPin.stop();
    off();
  });
});

function receiverPort(app: Appliances): number {
  return app.receiverPort;
}
