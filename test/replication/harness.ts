/**
 * Two appliances in one process: the protected site (production files, the
 * splitter's group, an NBD server serving its disks as `<group>/<vm>/<disk>`,
 * a sender) and the recovery site (a receiver with the group's journal),
 * optionally with a fault proxy between them. Everything is torn down by
 * `close` (servers, sockets, timers, temp dirs).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileDevice } from "../../src/blockdev/index.js";
import { Journal, PitView } from "../../src/journal/index.js";
import { NbdServer, StaticExports } from "../../src/nbd/index.js";
import {
  ProtectedGroup,
  Receiver,
  Sender,
  generateIdentity,
  journalStore,
  type JournalStore,
  type ProtectedGroupOptions,
  type ReplicationEvent,
  type SenderOptions,
  type SiteIdentity,
} from "../../src/replication/index.js";
import { FaultProxy } from "./fault-proxy.js";

export const MiB = 1024 * 1024;

let identities: Promise<[SiteIdentity, SiteIdentity]> | undefined;
export function siteIdentities(): Promise<[SiteIdentity, SiteIdentity]> {
  identities ??= Promise.all([generateIdentity("site-a"), generateIdentity("site-b")]);
  return identities;
}

export interface Appliances {
  dir: string;
  group: ProtectedGroup;
  stores: Map<string, FileDevice>;
  nbdPort: number;
  receiver: Receiver;
  receiverPort: number;
  sender: Sender;
  proxy: FaultProxy | undefined;
  events: ReplicationEvent[];
  journal(): Journal;
  /** Drops the protected appliance as a crash would, and starts it again on the same files. */
  crashAndRestart(): Promise<void>;
  exportName(disk: string): string;
  uri(disk: string): string;
  close(): Promise<void>;
}

export interface SetupOptions {
  disks?: { name: string; sizeBytes: number }[];
  proxy?: boolean;
  group?: Partial<ProtectedGroupOptions>;
  sender?: Partial<SenderOptions>;
  /** Keep an activity log in the production directory. */
  activityLog?: boolean;
  /** Writes to production before the protected appliance starts (data an initial sync must copy). */
  prefill?: (stores: Map<string, FileDevice>) => Promise<void>;
  /** Writes into the recovery site's replicas before the receiver opens the journal (a pre-seeded copy). */
  preseed?: (replica: (disk: string) => string) => Promise<void>;
  /** Wraps the journal store (fault injection at the recovery site). */
  wrapStore?: (s: JournalStore) => JournalStore;
}

export async function setup(options: SetupOptions = {}): Promise<Appliances> {
  const [a, b] = await siteIdentities();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-repl-"));
  const disks = options.disks ?? [{ name: "vm1/disk0", sizeBytes: 16 * MiB }, { name: "vm2/disk0", sizeBytes: 16 * MiB }];
  const stores = new Map<string, FileDevice>();
  for (const d of disks) {
    fs.mkdirSync(path.join(dir, "prod", path.dirname(d.name)), { recursive: true });
    stores.set(d.name, await FileDevice.open(path.join(dir, "prod", `${d.name}.raw`), { sizeBytes: d.sizeBytes }));
  }
  await options.prefill?.(stores);
  const activityLogFile = options.activityLog ? path.join(dir, "prod", "activity.log") : undefined;
  const journalDir = path.join(dir, "recovery", "grp");
  await (await Journal.create(journalDir, { disks, segmentBytes: 8 * MiB })).close();
  await options.preseed?.((disk) => path.join(journalDir, "replica", `${disk}.raw`));
  let journal: Journal | undefined;
  let store = journalStore(journalDir, { onOpen: (j) => (journal = j) });
  if (options.wrapStore) store = options.wrapStore(store);
  const receiver = new Receiver({ identity: b, pinnedPeers: [a.fingerprint] });
  await receiver.addGroup("grp", store);
  const { port: recvPort } = await receiver.listen(0);
  let proxy: FaultProxy | undefined;
  let port = recvPort;
  if (options.proxy) {
    proxy = new FaultProxy({ host: "127.0.0.1", port: recvPort });
    port = await proxy.listen();
  }
  const events: ReplicationEvent[] = [];
  const protectedSide = async () => {
    const group = await ProtectedGroup.open({ name: "grp", disks: disks.map((d) => ({ name: d.name, store: stores.get(d.name)! })), checkpointIntervalMs: 1000, ...(activityLogFile ? { activityLogFile } : {}), ...options.group });
    group.events.on((e) => events.push(e));
    const exportsList = new StaticExports();
    for (const d of disks) exportsList.add({ name: `grp/${d.name}`, device: group.device(d.name) });
    const nbd = new NbdServer({ exports: exportsList });
    const { port: nbdPort } = await nbd.listen(0);
    const sender = new Sender({ group, identity: a, peer: { host: "127.0.0.1", port, fingerprint: b.fingerprint }, backoff: { initialMs: 20, maxMs: 500 }, ...options.sender });
    sender.start();
    return { group, nbd, nbdPort, sender };
  };
  let side = await protectedSide();
  const app: Appliances = {
    dir,
    group: side.group,
    stores,
    nbdPort: side.nbdPort,
    receiver,
    receiverPort: recvPort,
    sender: side.sender,
    proxy,
    events,
    journal: () => journal!,
    exportName: (d) => `grp/${d}`,
    uri: (d) => `nbd://127.0.0.1:${app.nbdPort}/grp/${d}`,
    async crashAndRestart() {
      // What a SIGKILL leaves: the production files and the activity log; nothing in memory.
      side.group.abandon();
      await side.sender.stop();
      await side.nbd.close();
      side = await protectedSide();
      app.group = side.group;
      app.sender = side.sender;
      app.nbdPort = side.nbdPort;
    },
    async close() {
      await side.sender.stop();
      await side.nbd.close();
      await side.group.close();
      await proxy?.close();
      await receiver.close();
      for (const s of stores.values()) await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return app;
}

/** Waits until the recovery site holds everything the group has streamed, consistently. */
export async function caughtUp(app: Appliances, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = app.group.status();
    if (s.state.kind === "streaming" && s.ackedSeq === s.lastSeq && s.rpoMs === 0 && s.dirtyBytes === 0) return;
    if (Date.now() > deadline) throw new Error(`replication did not catch up: ${JSON.stringify({ ...s, link: app.sender.status().link })}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

export async function deviceHash(dev: { size: number; read(o: number, l: number): Promise<Buffer> }): Promise<string> {
  const h = createHash("sha256");
  for (let o = 0; o < dev.size; o += 4 * MiB) h.update(await dev.read(o, Math.min(4 * MiB, dev.size - o)));
  return h.digest("hex");
}

/** Hash of `disk` as the journal shows it at `seq`. */
export async function viewHash(journal: Journal, disk: string, seq: number): Promise<string> {
  const view = await PitView.open(journal, disk, seq);
  try {
    return await deviceHash(view);
  } finally {
    await view.close();
  }
}

/** Production hashes of every disk, as of now (callers pause writers first). */
export async function productionHashes(app: Appliances): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, store] of app.stores) out.set(name, await deviceHash(store));
  return out;
}

/** The newest point at the recovery site equals production, byte for byte, for every disk. */
export async function assertNewestEqualsProduction(app: Appliances): Promise<void> {
  await caughtUp(app);
  const j = app.journal();
  await j.whenWritten(j.lastSeq);
  for (const [name, store] of app.stores) {
    const view = await PitView.open(j, name, j.lastSeq);
    try {
      for (let o = 0; o < store.size; o += 4 * MiB) {
        const n = Math.min(4 * MiB, store.size - o);
        const [want, got] = await Promise.all([store.read(o, n), view.read(o, n)]);
        if (!want.equals(got)) throw new Error(`${name} differs from production at ${o}..${o + n} (seq ${j.lastSeq})`);
      }
    } finally {
      await view.close();
    }
  }
}
