/**
 * The recovery site's end of the link: a TLS 1.3 server that accepts only
 * pinned senders, reads their HELLO, hands the stream of each group to its
 * ReceiverGroup, and ACKs the durable seq as the journal reaches it (ACKs are
 * coalesced: one per turn of the event loop at most).
 */
import tls from "node:tls";
import type net from "node:net";
import { ProtocolError, ReceiverPausedError, ReplicationError } from "./errors.js";
import { Emitter } from "./events.js";
import { encodeFrame } from "./frame-codec.js";
import type { Frame } from "./frames.js";
import type { JournalStore } from "./journal-sink.js";
import { FrameLink } from "./link.js";
import { ReceiverGroup, type ReceiverEvent } from "./receiver-group.js";
import { type SiteIdentity, checkPeer, tlsOptions } from "./site-identity.js";

export interface ReceiverOptions {
  identity: SiteIdentity;
  /** Fingerprints of the sites allowed to send. */
  pinnedPeers: string[];
  helloTimeoutMs?: number;
}

export class Receiver {
  readonly events = new Emitter<ReceiverEvent | { type: "refused"; peer: string; reason: string }>();
  readonly #options: ReceiverOptions;
  readonly #groups = new Map<string, ReceiverGroup>();
  readonly #active = new Map<string, FrameLink>();
  readonly #links = new Set<FrameLink>();
  readonly #server: tls.Server;

  constructor(options: ReceiverOptions) {
    this.#options = options;
    this.#server = tls.createServer({ ...tlsOptions(options.identity), requestCert: true }, (socket) => this.#accept(socket));
    this.#server.on("tlsClientError", (err, socket) => {
      this.events.emit({ type: "refused", peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: err.message });
    });
  }

  /** Adds a group whose journal `store` opens. */
  async addGroup(name: string, store: JournalStore): Promise<ReceiverGroup> {
    const g = new ReceiverGroup(name, store, this.events as Emitter<ReceiverEvent>);
    await g.open();
    this.#groups.set(name, g);
    return g;
  }

  group(name: string): ReceiverGroup | undefined {
    return this.#groups.get(name);
  }

  /** Stops replication of a group (a failover): hangs up its sender and refuses it until `release`. */
  async hold(name: string, reason: string): Promise<void> {
    const g = this.#groups.get(name);
    if (!g) throw new ProtocolError(`no group "${name}" here`);
    await g.hold(reason);
    this.#active.get(name)?.close(new ReceiverPausedError(`replication stopped: ${reason}`));
  }

  release(name: string): void {
    this.#groups.get(name)?.release();
  }

  listen(port: number, host = "127.0.0.1"): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        this.#server.off("error", reject);
        resolve({ port: (this.#server.address() as net.AddressInfo).port });
      });
    });
  }

  /** Hangs up every sender and closes the journals. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const l of this.#links) l.close(new ReplicationError("the receiver is shutting down"));
    await stopped;
    for (const g of this.#groups.values()) await g.close();
  }

  #accept(socket: tls.TLSSocket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    try {
      checkPeer(socket, this.#options.pinnedPeers, `sender ${peer}`);
    } catch (err) {
      this.events.emit({ type: "refused", peer, reason: (err as Error).message });
      socket.destroy();
      return;
    }
    const link = new FrameLink(socket);
    this.#links.add(link);
    void link.closed.then(() => this.#links.delete(link));
    void this.#session(link, peer).catch((err: unknown) => {
      const e = err instanceof ReplicationError ? err : new ReplicationError(String(err), { cause: err });
      // The HELLO failed (silence, a bad first frame, an unknown group, other disks, a paused group): say so here too, not only to the peer.
      this.events.emit({ type: "refused", peer, reason: e.message });
      if (!link.isClosed) {
        const code = e instanceof ReceiverPausedError ? "paused" : e instanceof ProtocolError ? "protocol" : "refused";
        link.send(encodeFrame({ type: "error", code, message: e.message }).frame);
        setTimeout(() => link.close(e), 50).unref();
      }
    });
  }

  async #session(link: FrameLink, peer: string): Promise<void> {
    const hello = await link.nextFrame(this.#options.helloTimeoutMs ?? 10_000);
    if (hello.type !== "hello" || hello.role !== "sender") throw new ProtocolError(`expected the sender's HELLO, got ${hello.type}`);
    const group = this.#groups.get(hello.group);
    if (!group) throw new ProtocolError(`no group "${hello.group}" here`, { hint: "create the group at the recovery site first" });
    // One sender per group: a new connection replaces the old one.
    const old = this.#active.get(hello.group);
    if (old) old.close(new ReplicationError("replaced by a newer connection from the sender"));
    this.#active.set(hello.group, link);
    void link.closed.then((reason) => {
      if (this.#active.get(hello.group) === link) this.#active.delete(hello.group);
      this.events.emit({ type: "connection", group: hello.group, peer, state: "closed", reason: reason.message });
    });
    const durableSeq = await group.accept(hello.disks, (reason) => {
      if (this.#active.get(hello.group) !== link) return;
      link.send(encodeFrame({ type: "error", code: "paused", message: reason }).frame);
      link.close(new ReceiverPausedError(reason));
    });
    if (link.isClosed) return;
    this.events.emit({ type: "connection", group: hello.group, peer, state: "open", reason: `resuming after seq ${durableSeq}` });
    let ackedSeq = durableSeq;
    let ackPending = false;
    let ackSeq = durableSeq;
    const acked = (seq: number) => {
      ackSeq = Math.max(ackSeq, seq);
      if (ackPending) return;
      ackPending = true;
      setImmediate(() => {
        ackPending = false;
        if (ackSeq > ackedSeq && this.#active.get(hello.group) === link) {
          ackedSeq = ackSeq;
          link.send(encodeFrame({ type: "ack", durableSeq: ackSeq }).frame);
        }
      });
    };
    link.onFrame((f: Frame) => {
      if (this.#active.get(hello.group) !== link) return;
      if (f.type === "batch") group.receiveBatch(f.records, acked);
      else if (f.type === "write" || f.type === "zero" || f.type === "trim" || f.type === "checkpoint" || f.type === "sync-block") group.receive(f, acked);
      else if (f.type === "hash-request") {
        group.hashes(f.disk, f.offset, f.length, f.blockBytes).then(
          (hashes) => link.send(encodeFrame({ type: "hashes", disk: f.disk, offset: f.offset, blockBytes: f.blockBytes, hashes }).frame),
          (err: unknown) => link.close(err instanceof ReplicationError ? err : new ReplicationError(String(err), { cause: err })),
        );
      } else throw new ProtocolError(`unexpected ${f.type} frame from the sender`);
    });
    link.send(encodeFrame({ type: "hello", role: "receiver", site: this.#options.identity.site, group: hello.group, durableSeq, disks: [] }).frame);
  }
}
