/**
 * The protected site's end of the link, one per group: connects over TLS 1.3
 * to the pinned recovery site, says HELLO, learns the receiver's durable seq,
 * lets the group decide where to resume (or to run a bitmap sync), then
 * streams batches out of the outgoing stream: at most `windowBytes` of them
 * unacknowledged, lz4'd when that pays, paced by the bandwidth limit. Any
 * failure ends the connection and a new one is tried with backoff; nothing is
 * dropped from the stream until the recovery site acknowledges it.
 */
import tls from "node:tls";
import { LinkDownError, PeerUnauthenticatedError, ProtocolError, ReceiverPausedError, ReplicationError } from "./errors.js";
import type { LinkState, SenderStatus } from "./events.js";
import { compressionLikely, encodeBatch, encodeBatchPieces, encodeFrame } from "./frame-codec.js";
import type { StreamRecord } from "./frames.js";
import { FrameLink } from "./link.js";
import { runDeltaSync } from "./delta-sync.js";
import type { ProtectedGroup } from "./protected-group.js";
import { type SiteIdentity, checkPeer, tlsOptions } from "./site-identity.js";
import type { PairBandwidth } from "./pair-bandwidth.js";
import { TokenBucket } from "./token-bucket.js";
import { Throughput } from "./throughput.js";

export interface SenderOptions {
  group: ProtectedGroup;
  identity: SiteIdentity;
  peer: { host: string; port: number; fingerprint: string };
  /** Unacknowledged bytes on the link; default 64 MiB. */
  windowBytes?: number;
  /** Records per frame, by payload bytes; default 1 MiB. */
  batchBytes?: number;
  /**
   * How long a small batch may wait for more records while an earlier one is
   * still unacknowledged; default 2 ms. A batch has a fixed cost at both ends
   * (a frame, a TLS record, a journal write, an ACK): sent as they came, 4 KiB
   * random writes went out 4.5 to a batch and replication cost 3x the CPU of
   * the writes themselves. An idle link sends at once.
   */
  lingerMs?: number;
  compress?: boolean;
  bandwidthLimitBytesPerSec?: number;
  /** The site pair's limit, shared with the other groups to the same site, and this group's weight in it (its priority). */
  pair?: { bandwidth: PairBandwidth; weight: number };
  backoff?: { initialMs?: number; maxMs?: number };
  timeoutMs?: number;
}

/** After this many batches in a row that lz4 could not shrink although their sample did, skip trying for a while. */
const INCOMPRESSIBLE_STREAK = 8;
const SKIP_COMPRESSION_BATCHES = 64;

export class Sender {
  readonly #o: SenderOptions;
  readonly #group: ProtectedGroup;
  readonly #bucket: TokenBucket;
  #pair: { bandwidth: PairBandwidth; weight: number } | undefined;
  readonly #throughput = new Throughput();
  #link: FrameLink | undefined;
  #state: LinkState = { kind: "idle" };
  #stopped = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Ends a linger early: the last unacknowledged batch was acknowledged, the link is idle. */
  #lingerWake: (() => void) | undefined;
  #sleeping: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  /** Sent batches not yet acknowledged: [last seq, payload bytes]. */
  #inFlight: [number, number][] = [];
  #inFlightBytes = 0;
  #stats = { ackedBytes: 0, rawBytes: 0, wireBytes: 0, reconnects: 0, batches: 0, records: 0 };
  #incompressible = 0;
  readonly #unsubscribe: (() => void)[] = [];
  #skipCompression = 0;

  constructor(options: SenderOptions) {
    this.#o = options;
    this.#group = options.group;
    this.#bucket = new TokenBucket(options.bandwidthLimitBytesPerSec);
    this.#pair = options.pair;
    this.#unsubscribe.push(
      this.#group.stream.onReady(() => this.#poke()),
      this.#group.events.on((e) => {
        if (e.type === "overflow" && this.#link) this.#link.close(new LinkDownError("the outgoing stream overflowed; reconnecting for a bitmap sync"));
      }),
    );
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#link?.close(new ReplicationError("replication stopped"));
    if (this.#sleeping) {
      clearTimeout(this.#sleeping.timer);
      this.#sleeping.resolve();
    }
    this.#poke();
    await this.#loop;
    for (const off of this.#unsubscribe) off();
    this.#setState({ kind: "closed" }, "replication stopped");
  }

  /** Changes the bandwidth limit at once; undefined or 0 lifts it. */
  setBandwidthLimit(bytesPerSec: number | undefined): void {
    this.#bucket.setRate(bytesPerSec);
  }
  /** The group's weight in its site pair's bandwidth (its priority changed). */
  setPairWeight(weight: number): void {
    if (this.#pair) this.#pair = { ...this.#pair, weight };
  }


  /** Cuts the current connection (tests, and an operator's "reconnect"). */
  disconnect(reason = "disconnected on request"): void {
    this.#link?.close(new LinkDownError(reason));
  }

  status(): SenderStatus {
    return {
      link: this.#state,
      ackedBytes: this.#stats.ackedBytes,
      rawBytes: this.#stats.rawBytes,
      wireBytes: this.#stats.wireBytes,
      compressionRatio: this.#stats.wireBytes > 0 ? this.#stats.rawBytes / this.#stats.wireBytes : 1,
      batches: this.#stats.batches,
      records: this.#stats.records,
      throughputBytesPerSec: this.#throughput.rate(),
      inFlightBytes: this.#inFlightBytes,
      windowBytes: this.#o.windowBytes ?? 64 * 1024 * 1024,
      bandwidthLimitBytesPerSec: lowest(this.#bucket.rateBytesPerSec, this.#pair?.bandwidth.rateBytesPerSec),
      reconnects: this.#stats.reconnects,
    };
  }

  async #run(): Promise<void> {
    const initialMs = this.#o.backoff?.initialMs ?? 100;
    const maxMs = this.#o.backoff?.maxMs ?? 5000;
    let delayMs = initialMs;
    for (let attempt = 1; !this.#stopped; attempt++) {
      this.#setState({ kind: "connecting", attempt }, `connecting to ${this.#o.peer.host}:${this.#o.peer.port}`);
      let reason: ReplicationError;
      let connected = false;
      try {
        const link = await this.#connect();
        connected = true;
        delayMs = initialMs;
        attempt = 0;
        reason = await this.#session(link);
      } catch (err) {
        reason = err instanceof ReplicationError ? err : new LinkDownError(String(err), { cause: err });
      }
      this.#link = undefined;
      if (this.#stopped) return;
      if (connected) this.#stats.reconnects++;
      const paused = reason instanceof ReceiverPausedError;
      const overflow = /overflowed/.test(reason.message);
      const waitMs = overflow ? 0 : delayMs;
      this.#setState(paused ? { kind: "paused", reason: reason.message, retryInMs: waitMs } : { kind: "backoff", reason: reason.message, retryInMs: waitMs }, reason.message);
      await this.#sleep(waitMs);
      if (!overflow) delayMs = Math.min(maxMs, delayMs * 2);
    }
  }

  /** Waits out the group's own limit, then its turn in the site pair's. */
  async #pace(wireBytes: number): Promise<void> {
    const waitMs = this.#bucket.take(wireBytes);
    if (waitMs > 0) await this.#sleep(waitMs);
    const turn = this.#pair?.bandwidth.acquire(this.#group.name, wireBytes, this.#pair.weight);
    if (turn) await turn;
  }

  async #connect(): Promise<FrameLink> {
    const { host, port, fingerprint } = this.#o.peer;
    const socket = tls.connect({ ...tlsOptions(this.#o.identity), host, port, servername: undefined });
    socket.setNoDelay(true);
    const timeoutMs = this.#o.timeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LinkDownError(`no TLS handshake with ${host}:${port} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new LinkDownError(`cannot reach ${host}:${port}: ${err.message}`, { cause: err }));
      });
    });
    try {
      checkPeer(socket, [fingerprint], `recovery site ${host}:${port}`);
    } catch (err) {
      socket.destroy();
      throw err instanceof PeerUnauthenticatedError ? err : new LinkDownError(String(err));
    }
    const link = new FrameLink(socket);
    this.#link = link;
    if (this.#stopped) link.close(new ReplicationError("replication stopped"));
    return link;
  }

  /** One connection's life; returns why it ended. */
  async #session(link: FrameLink): Promise<ReplicationError> {
    const g = this.#group;
    link.send(encodeFrame({ type: "hello", role: "sender", site: this.#o.identity.site, group: g.name, durableSeq: 0, disks: g.disks }).frame);
    const hello = await link.nextFrame(this.#o.timeoutMs ?? 10_000);
    if (hello.type === "error") throw hello.code === "paused" ? new ReceiverPausedError(`the recovery site paused the group: ${hello.message}`) : new ProtocolError(`the recovery site refused: ${hello.message}`);
    if (hello.type !== "hello" || hello.role !== "receiver") throw new ProtocolError(`expected the receiver's HELLO, got ${hello.type}`);
    this.#inFlight = [];
    this.#inFlightBytes = 0;
    const delta = g.deltaTargets();
    if (delta) {
      await runDeltaSync(g, delta, link, this.#o.timeoutMs ?? 60_000);
      g.deltaDone();
    }
    let next = g.resume(hello.durableSeq);
    link.onFrame((f) => {
      if (f.type === "ack") this.#ack(f.durableSeq);
      else if (f.type === "error") link.close(f.code === "paused" ? new ReceiverPausedError(`the recovery site paused the group: ${f.message}`) : new ProtocolError(f.message));
      else throw new ProtocolError(`unexpected ${f.type} frame from the receiver`);
    });
    this.#setState({ kind: "connected", peer: `${this.#o.peer.host}:${this.#o.peer.port}`, sinceMs: Date.now() }, `connected; the recovery site holds seq ${hello.durableSeq}`);
    const window = this.#o.windowBytes ?? 64 * 1024 * 1024;
    const batchBytes = this.#o.batchBytes ?? 1024 * 1024;
    const lingerMs = this.#o.lingerMs ?? 2;
    let lingerFrom: number | undefined;
    while (!link.isClosed) {
      const records: StreamRecord[] = [];
      let bytes = 0;
      for (let e = g.stream.get(next); e?.record && bytes < batchBytes && this.#inFlightBytes + bytes < window; e = g.stream.get(next)) {
        records.push(e.record);
        bytes += e.bytes;
        next++;
      }
      if (records.length === 0) {
        if (next <= g.stream.ackedSeq) next = g.stream.ackedSeq + 1;
        await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), link.closed]);
        continue;
      }
      if (bytes < batchBytes && this.#inFlightBytes > 0 && this.#inFlightBytes + bytes < window) {
        const now = performance.now();
        lingerFrom ??= now;
        if (now - lingerFrom < lingerMs) {
          next -= records.length;
          await Promise.race([this.#linger(lingerMs - (now - lingerFrom)), link.closed]);
          this.#lingerWake = undefined;
          continue;
        }
      }
      lingerFrom = undefined;
      // A sample of the batch is tried first: most batches that lz4 cannot shrink are never given to it whole.
      const compress = this.#o.compress !== false && this.#skipCompression === 0 && compressionLikely(records);
      if (this.#skipCompression > 0) this.#skipCompression--;
      let wireBytes: number;
      let sent: boolean;
      this.#inFlight.push([records[records.length - 1]!.seq, bytes]);
      this.#inFlightBytes += bytes;
      // Small records are cheaper copied into one frame than gathered piece by piece.
      if (compress || bytes < records.length * 32 * 1024) {
        const enc = encodeBatch(records, compress);
        if (compress && !enc.compressed && ++this.#incompressible >= INCOMPRESSIBLE_STREAK) {
          this.#incompressible = 0;
          this.#skipCompression = SKIP_COMPRESSION_BATCHES;
        } else if (enc.compressed) this.#incompressible = 0;
        this.#stats.rawBytes += enc.rawBytes;
        wireBytes = enc.frame.length;
        await this.#pace(wireBytes);
        sent = link.send(enc.frame);
      } else {
        // Incompressible data goes out without being copied into a frame.
        const enc = encodeBatchPieces(records);
        this.#stats.rawBytes += enc.rawBytes;
        wireBytes = enc.frameBytes;
        await this.#pace(wireBytes);
        sent = link.sendPieces(enc.pieces);
      }
      this.#stats.wireBytes += wireBytes;
      this.#stats.batches++;
      this.#stats.records += records.length;
      if (!sent) await link.drained();
      // Let the NBD server's requests in between batches: the hot path comes first.
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return link.closed;
  }

  #linger(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#lingerWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #ack(seq: number): void {
    let bytes = 0;
    while (this.#inFlight.length > 0 && this.#inFlight[0]![0] <= seq) bytes += this.#inFlight.shift()![1];
    this.#inFlightBytes -= bytes;
    if (this.#inFlightBytes === 0) {
      const wake = this.#lingerWake;
      this.#lingerWake = undefined;
      wake?.();
    }
    this.#stats.ackedBytes += bytes;
    this.#throughput.add(bytes);
    this.#group.ack(seq);
    this.#poke();
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleeping = undefined;
        resolve();
      }, ms);
      this.#sleeping = { timer, resolve };
    });
  }

  #setState(state: LinkState, message: string): void {
    this.#state = state;
    this.#group.events.emit({ type: "link", state, message: `${this.#group.name}: ${message}` });
  }
}

/** The tighter of two limits (undefined: none). */
function lowest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
