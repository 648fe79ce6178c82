/**
 * replication-listener-fuzz: the recovery site's listener (a real Receiver on
 * TLS 1.3 over a real journal) against peers that send what no Sender would.
 * After a valid HELLO from the pinned peer: bad length prefixes, a frame cut
 * off mid-way, bad versions, bad checksums, unknown and unexpected types,
 * records out of bounds, seqs with a gap or going backwards, replays of
 * durable seqs, and random garbage (fast-check, fixed seed, FC_SEED to
 * change it; the seed is printed on failure). Before any HELLO: an unpinned
 * certificate, no certificate, TLS 1.2, plain TCP, a bad first frame, an
 * unknown group, other disks, silence.
 *
 * After each bad connection it proves: the journal holds exactly what the
 * valid frames put there (record by record, and the PIT image against a
 * model), nothing of the bad frame was applied, the receiver said why (an
 * event with the reason), and the listener still serves the pinned peer: a
 * good session replicates writes and a checkpoint, which becomes durable.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { Journal, PitView } from "../../src/journal/index.js";
import { RecordType } from "../../src/journal/record.js";
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, PROTOCOL_VERSION, Receiver, encodeFrame, generateIdentity, journalStore, type DiskSpec, type ReceiverEvent, type SiteIdentity, type StreamRecord } from "../../src/replication/index.js";
import { DiskModel, pattern, tempDir } from "../journal/helpers.js";
import { siteIdentities } from "./harness.js";
import { type PeerAuth, RawPeer } from "./raw-peer.js";

/** FUZZ_SEED and FUZZ_SCALE (a multiplier of the case count) run it longer on demand: npm run fuzz. */
const FC = { seed: Number(process.env.FUZZ_SEED ?? 20240817), numRuns: Math.max(1, Math.round(40 * Number(process.env.FUZZ_SCALE ?? 1))) };
const SIZE = 256 * 1024;
const DISKS: DiskSpec[] = [
  { name: "vm1/disk0", sizeBytes: SIZE },
  { name: "vm2/disk0", sizeBytes: SIZE },
];
type Event = ReceiverEvent | { type: "refused"; peer: string; reason: string };

const root = tempDir("listener-fuzz");
const dir = path.join(root, "grp");
const model = new DiskModel(new Map(DISKS.map((d) => [d.name, d.sizeBytes])));
const events: Event[] = [];
let receiver: Receiver;
let port: number;
let pinned: SiteIdentity;
let stranger: SiteIdentity;
let journal: Journal | undefined;
let checkpoints = 0;
/** Frames of the first good session, as sent: replayed later. */
let firstSessionFrames: Buffer[] = [];

before(async () => {
  const [a, b] = await siteIdentities();
  pinned = a;
  stranger = await generateIdentity("stranger");
  await (await Journal.create(dir, { disks: DISKS, segmentBytes: 1 << 20 })).close();
  receiver = new Receiver({ identity: b, pinnedPeers: [a.fingerprint], helloTimeoutMs: 300 });
  receiver.events.on((e) => events.push(e));
  await receiver.addGroup("grp", journalStore(dir, { onOpen: (j) => (journal = j) }));
  port = (await receiver.listen(0)).port;
});

after(async () => {
  await receiver.close();
  fs.rmSync(root, { recursive: true, force: true });
});

// ---- the model's records ----

const lastSeq = () => model.ops.at(-1)?.seq ?? 0;

/** Record `seq` as the model would have it: writes and zeroes over both disks, every fifth a checkpoint. */
function recordAt(seq: number, salt = 0): StreamRecord {
  if (seq % 5 === 0) return { type: "checkpoint", seq, timeMs: seq * 1000, id: `cp-${seq}-${salt}`, tag: undefined, consistent: true };
  const disk = seq % 2;
  const length = 1000 + ((seq * 37 + salt) % 7000);
  const offset = (seq * 7919 + salt * 131) % (SIZE - length);
  if (seq % 7 === 0) return { type: "zero", seq, timeMs: seq * 1000, disk, offset, length };
  return { type: "write", seq, timeMs: seq * 1000, disk, offset, data: pattern(length, seq * 1000 + salt) };
}

function addToModel(r: StreamRecord): void {
  if (r.type === "checkpoint") model.ops.push({ seq: r.seq, kind: "checkpoint" });
  else if (r.type === "write") model.ops.push({ seq: r.seq, kind: "write", disk: DISKS[r.disk]!.name, offset: r.offset, data: r.data });
  else if (r.type === "zero") model.ops.push({ seq: r.seq, kind: "zero", disk: DISKS[r.disk]!.name, offset: r.offset, length: r.length });
  else throw new Error(`the model has no ${r.type}`);
}

const batch = (records: StreamRecord[]) => encodeFrame({ type: "batch", records }).frame;

// ---- sessions ----

function connect(auth: PeerAuth = { kind: "tls", identity: pinned }): Promise<RawPeer> {
  return RawPeer.connect(port, auth);
}

/** The pinned peer, past the HELLO exchange; the receiver must announce what the model holds. */
async function session(): Promise<RawPeer> {
  const peer = await connect();
  const durable = await peer.hello("grp", DISKS);
  assert.equal(durable, lastSeq(), "the receiver announces exactly the valid records as durable");
  return peer;
}

/** Sends valid records and waits until the receiver ACKs them; they join the model. */
async function sendValid(peer: RawPeer, count: number): Promise<Buffer[]> {
  const records = Array.from({ length: count }, (_, i) => recordAt(lastSeq() + 1 + i));
  const frames = [batch(records.slice(0, 1)), batch(records.slice(1))].filter((_, i) => i === 0 || count > 1);
  for (const f of frames) peer.send(f);
  const want = records.at(-1)!.seq;
  await peer.waitFrame((f) => f.type === "ack" && f.durableSeq >= want);
  for (const r of records) addToModel(r);
  return frames;
}

/**
 * The listener still serves the real peer: a new pinned session replicates
 * two writes and a checkpoint, which becomes durable and findable.
 */
async function realPeerStillServed(): Promise<void> {
  const peer = await session();
  try {
    while ((lastSeq() + 3) % 5 !== 0) await sendValid(peer, 1);
    const frames = await sendValid(peer, 3);
    if (firstSessionFrames.length === 0) firstSessionFrames = frames;
    checkpoints++;
    const cp = lastSeq();
    const j = journal!;
    assert.ok(j.durableSeq >= cp, `checkpoint ${cp} is durable (durable seq ${j.durableSeq})`);
    assert.equal(j.checkpoints.newest()?.seq, cp);
  } finally {
    peer.end();
    await peer.closed;
  }
  await journalIsModel();
}

/** The journal holds exactly the model's records, and the newest PIT image is the model's. */
async function journalIsModel(allSeqs = false): Promise<void> {
  const j = journal!;
  await j.whenWritten(j.lastSeq);
  assert.equal(j.lastSeq, lastSeq(), "no record beyond the valid ones");
  for (const op of model.ops) {
    const r = j.record(op.seq);
    if (op.kind === "checkpoint") assert.equal(r.type, RecordType.CHECKPOINT, `seq ${op.seq}`);
    else {
      const length = op.kind === "write" ? op.data.length : op.length;
      assert.deepEqual([r.type, j.disks[r.disk]?.name, r.offset, r.length], [op.kind === "write" ? RecordType.WRITE : RecordType.ZERO, op.disk, op.offset, length], `seq ${op.seq}`);
    }
  }
  const seqs = allSeqs ? model.ops.map((o) => o.seq) : [lastSeq()];
  for (const seq of seqs) {
    for (const d of DISKS) {
      const view = await PitView.open(j, d.name, seq);
      try {
        assert.ok((await view.read(0, SIZE)).equals(model.image(d.name, seq)), `${d.name} at seq ${seq} is the model's image`);
      } finally {
        await view.close();
      }
    }
  }
}

/** Events the receiver emitted about the connection from `peer`. */
function eventsOf(peer: RawPeer): Event[] {
  return events.filter((e) => (e.type === "refused" || e.type === "connection") && e.peer.endsWith(`:${peer.localPort}`));
}

/** Waits until the receiver reports why it closed the connection of `peer`, and returns the reason. */
async function closeReason(peer: RawPeer): Promise<string> {
  await peer.waitClosed();
  for (let i = 0; i < 100; i++) {
    const e = eventsOf(peer).find((x) => x.type === "refused" || (x.type === "connection" && x.state === "closed"));
    if (e && (e.type === "refused" || e.type === "connection")) return e.reason;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the receiver gave no reason for closing ${peer.localPort}: ${JSON.stringify(eventsOf(peer))}`);
}

/** Runs a bad connection: a valid prefix, then `bad`; checks the reason, the journal, and the real peer. */
async function badAfterHello(bad: (next: number) => Buffer, why: RegExp, options: { hangUp?: boolean } = {}): Promise<void> {
  const peer = await session();
  await sendValid(peer, 2);
  peer.send(bad(lastSeq() + 1));
  if (options.hangUp) peer.end();
  assert.match(await closeReason(peer), why);
  await journalIsModel();
  await realPeerStillServed();
}

/** A frame of any type and body, sealed with a correct checksum. */
function rawFrame(type: number, body: Buffer, version = PROTOCOL_VERSION): Buffer {
  const f = Buffer.alloc(FRAME_HEADER_BYTES + body.length);
  f.writeUInt32BE(f.length, 0);
  f.writeUInt8(version, 4);
  f.writeUInt8(type, 5);
  body.copy(f, FRAME_HEADER_BYTES);
  f.writeUInt32BE(crc32c(body, crc32c(f.subarray(0, 8))), 8);
  return f;
}

describe("replication listener under bad input", () => {
  it("serves the pinned peer to begin with", async () => {
    await realPeerStillServed();
  });

  it("bad length prefixes: too large, zero, shorter than a header", async () => {
    for (const length of [MAX_FRAME_BYTES + 1, 0xffffffff, 0, FRAME_HEADER_BYTES - 1]) {
      await badAfterHello(
        (next) => {
          const f = batch([recordAt(next)]);
          f.writeUInt32BE(length, 0);
          return f;
        },
        /malformed replication frame: length \d+ is (over the limit|shorter than a frame header)/,
      );
    }
  });

  it("a frame cut off mid-way, then the peer hangs up: the part is never applied", async () => {
    await badAfterHello((next) => batch([recordAt(next)]).subarray(0, 30), /the peer closed the connection/, { hangUp: true });
  });

  it("a frame cut off mid-way, then silence: the real peer's next connection replaces it", async () => {
    const peer = await session();
    await sendValid(peer, 1);
    peer.send(batch([recordAt(lastSeq() + 1)]).subarray(0, 40));
    await realPeerStillServed();
    assert.match(await closeReason(peer), /replaced by a newer connection/);
    await journalIsModel();
  });

  it("bad versions, bad checksums, unknown flags", async () => {
    await badAfterHello((next) => rawFrame(3, batch([recordAt(next)]).subarray(FRAME_HEADER_BYTES), 2), /protocol version 2, this build speaks 1/);
    await badAfterHello((next) => rawFrame(3, batch([recordAt(next)]).subarray(FRAME_HEADER_BYTES), 0), /protocol version 0/);
    await badAfterHello(
      (next) => {
        const f = batch([recordAt(next)]);
        f[f.length - 10]! ^= 0x01;
        return f;
      },
      /crc32c mismatch/,
    );
    await badAfterHello(
      (next) => {
        const f = batch([recordAt(next)]);
        f[8]! ^= 0x80;
        return f;
      },
      /crc32c mismatch/,
    );
    await badAfterHello(
      (next) => {
        const f = batch([recordAt(next)]);
        f[6] = 4;
        return f;
      },
      /unknown flags 4/,
    );
  });

  it("unknown frame types, record types inside a batch, and frames a sender never sends", async () => {
    await badAfterHello(() => rawFrame(99, Buffer.alloc(40, 1)), /unknown frame type 99/);
    await badAfterHello((next) => {
      const body = batch([recordAt(next)]).subarray(FRAME_HEADER_BYTES);
      body[0] = 7;
      return rawFrame(3, body);
    }, /BATCH holds a record of type 7/);
    await badAfterHello(() => encodeFrame({ type: "ack", durableSeq: 1 }).frame, /unexpected ack frame from the sender/);
    await badAfterHello(() => encodeFrame({ type: "hello", role: "sender", site: "site-a", group: "grp", durableSeq: 0, disks: DISKS }).frame, /unexpected hello frame/);
  });

  it("records out of bounds: an unknown disk, a range past the end of the disk", async () => {
    await badAfterHello((next) => batch([{ type: "write", seq: next, timeMs: 1, disk: 5, offset: 0, data: Buffer.alloc(512, 9) }]), /names disk 5, and the group has 2/);
    await badAfterHello((next) => batch([{ type: "write", seq: next, timeMs: 1, disk: 1, offset: SIZE - 100, data: Buffer.alloc(512, 9) }]), /past the end of vm2\/disk0/);
    await badAfterHello((next) => batch([{ type: "zero", seq: next, timeMs: 1, disk: 0, offset: SIZE, length: 1 }]), /past the end of vm1\/disk0/);
  });

  it("a gap in the seqs: records before it are applied, the one after it is not", async () => {
    // Across frames: the next frame skips a seq.
    await badAfterHello((next) => batch([recordAt(next + 1)]), /seq \d+ arrived where \d+ was expected/);
    // Inside one batch: the first record is good and stays; the gap ends the connection.
    const peer = await session();
    const good = recordAt(lastSeq() + 1);
    peer.send(batch([good, recordAt(good.seq + 2), recordAt(good.seq + 3)]));
    assert.match(await closeReason(peer), new RegExp(`seq ${good.seq + 2} arrived where ${good.seq + 1} was expected`));
    addToModel(good);
    await journalIsModel();
    await realPeerStillServed();
  });

  it("replays of durable seqs are dropped, not applied twice; the stream goes on after them", async () => {
    assert.ok(firstSessionFrames.length > 0);
    const peer = await session();
    const before = journal!.durableSeq;
    // The very bytes of the first session, and the same seqs with other data.
    for (const f of firstSessionFrames) peer.send(f);
    peer.send(batch([recordAt(1, 77), recordAt(2, 77), recordAt(3, 77)]));
    await sendValid(peer, 2);
    assert.equal(peer.isClosed, false, "a replay is not a protocol error");
    assert.ok(journal!.durableSeq > before);
    assert.ok(events.some((e) => e.type === "duplicates" && e.group === "grp"), "the receiver counted the duplicates");
    peer.end();
    await peer.closed;
    await journalIsModel(true);
  });

  it("seqs going backwards inside a connection are dropped like replays; nothing is overwritten", async () => {
    const peer = await session();
    await sendValid(peer, 3);
    const back = lastSeq() - 1;
    peer.send(batch([recordAt(back, 5), recordAt(back + 1, 5)]));
    await sendValid(peer, 1);
    peer.end();
    await peer.closed;
    await journalIsModel(true);
    await realPeerStillServed();
  });

  it("random garbage after the HELLO: refused with a reason, nothing applied (fast-check)", async () => {
    const bytes = fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((a) => Buffer.from(a));
    const mutation = fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }, { noNullPrototype: true });
    const garbage = fc.oneof(
      bytes.map((b) => ({ kind: "random", make: () => b })),
      fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => ({
        kind: `valid frame with bytes changed at ${ms.map((m) => m.at).join(",")}`,
        make: (next: number) => {
          const f = batch([recordAt(next), recordAt(next + 1)]);
          const changed = new Set<number>();
          for (const m of ms) {
            const at = m.at % f.length;
            if (changed.has(at)) continue;
            changed.add(at);
            f[at]! ^= m.xor;
          }
          return f;
        },
      })),
      fc.tuple(fc.nat(), bytes).map(([cut, tail]) => ({
        kind: `valid frame cut at ${cut} then garbage`,
        make: (next: number) => {
          const f = batch([recordAt(next)]);
          return Buffer.concat([f.subarray(0, cut % f.length), tail]);
        },
      })),
    );
    await fc.assert(
      fc.asyncProperty(garbage, async (g) => {
        const peer = await session();
        peer.send(g.make(lastSeq() + 1));
        peer.end();
        const reason = await closeReason(peer);
        assert.match(reason, /malformed replication frame|the peer closed the connection|arrived where|past the end|names disk/, g.kind);
        assert.equal(journal!.lastSeq, lastSeq(), `${g.kind}: nothing applied`);
      }),
      FC,
    );
    await journalIsModel();
    await realPeerStillServed();
  });

  it("unauthenticated peers are refused before any replication data: unpinned, no certificate, TLS 1.2, plain TCP", async () => {
    const cases: [string, PeerAuth, RegExp][] = [
      ["an unpinned certificate", { kind: "tls", identity: stranger }, /presented certificate [0-9a-f]{16}…, which is not pinned/],
      ["no certificate", { kind: "tls", identity: undefined }, /presented no certificate/],
      ["TLS 1.2", { kind: "tls", identity: pinned, maxVersion: "TLSv1.2" }, /version|protocol/i],
      ["plain TCP", { kind: "tcp" }, /.+/],
    ];
    for (const [what, auth, why] of cases) {
      const peer = await connect(auth);
      const next = lastSeq() + 1;
      peer.send(encodeFrame({ type: "hello", role: "sender", site: "site-a", group: "grp", durableSeq: 0, disks: DISKS }).frame);
      peer.send(batch([recordAt(next), recordAt(next + 1)]));
      const refused = await closeReason(peer);
      assert.match(refused, why, what);
      assert.equal(peer.frames.length, 0, `${what}: the receiver sent no replication frame`);
      assert.ok(!eventsOf(peer).some((e) => e.type === "connection"), `${what}: no replication session was opened`);
      await journalIsModel();
    }
    await realPeerStillServed();
  });

  it("a bad handshake from the pinned peer is refused with a reason: a batch first, an unknown group, other disks, silence", async () => {
    const cases: [string, (p: RawPeer) => void, RegExp][] = [
      ["a batch before the HELLO", (p) => p.send(batch([recordAt(lastSeq() + 1)])), /expected the sender's HELLO, got batch/],
      ["an unknown group", (p) => p.send(encodeFrame({ type: "hello", role: "sender", site: "site-a", group: "nope", durableSeq: 0, disks: DISKS }).frame), /no group "nope" here/],
      ["other disks", (p) => p.send(encodeFrame({ type: "hello", role: "sender", site: "site-a", group: "grp", durableSeq: 0, disks: [DISKS[0]!] }).frame), /are not this journal's/],
      ["a HELLO from a receiver", (p) => p.send(encodeFrame({ type: "hello", role: "receiver", site: "site-a", group: "grp", durableSeq: 0, disks: DISKS }).frame), /expected the sender's HELLO/],
      ["silence", () => undefined, /no frame from the peer in 300 ms/],
    ];
    for (const [what, send, why] of cases) {
      const peer = await connect();
      send(peer);
      assert.match(await closeReason(peer), why, what);
      assert.ok(!peer.frames.some((f) => f.type === "hello"), `${what}: no HELLO back`);
      await journalIsModel();
    }
    await realPeerStillServed();
  });

  it("in the end every PIT image is the model's, at every seq", async () => {
    assert.ok(checkpoints >= 10);
    await journalIsModel(true);
  });
});
