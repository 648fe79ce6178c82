/**
 * One client: the handshake, then the transmission phase, on one socket.
 *
 * Memory is bounded whatever the client does: an option's data is capped (see
 * OptionReader); requests in flight are capped in count and bytes, and so are
 * replies waiting in the socket for a client that does not read them. Past a
 * cap the socket is paused, so TCP pushes back on the client instead of us
 * buffering. A protocol error ends this connection alone, with a log line.
 */
import type net from "node:net";
import { NbdProtocolError } from "./errors.js";
import type { ExportProvider, NbdExport } from "./exports.js";
import type { BufferPool } from "./buffer-pool.js";
import type { SocketReceipt } from "../blockdev/index.js";
import { greeting } from "./handshake.js";
import type { Logger } from "./logger.js";
import { Negotiation, optionName, type Outcome } from "./negotiation.js";
import { OptionReader } from "./option-reader.js";
import { Cmd, FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES } from "./protocol.js";
import { RequestReader, type NbdRequest } from "./request-reader.js";
import { Transmission } from "./transmission.js";
import { adoptSocket } from "./socket-input.js";

/** How long a drained client may take to hang up before it is cut off. */
const DRAIN_CLOSE_TIMEOUT_MS = 5_000;

const EMPTY = Buffer.alloc(0);

/** Where reads land when they are not the rest of a WRITE's data. */
const STAGING_BYTES = 256 * 1024;

export interface ConnectionLimits {
  maxOptionBytes: number;
  maxInflightRequests: number;
  maxInflightBytes: number;
  maxQueuedReplyBytes: number;
  handshakeTimeoutMs: number;
}

/**
 * The byte caps bound what one client can make us hold: about in flight plus
 * queued replies. They are a few times what a client at queue depth 8 of 1 MiB
 * needs, so they cost no throughput, and a client with more in flight is
 * slowed by TCP instead (the server's memory target is 150 MiB in all).
 */
export const DEFAULT_LIMITS: ConnectionLimits = {
  maxOptionBytes: 64 * 1024,
  maxInflightRequests: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxQueuedReplyBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 30_000,
};

type Phase = "handshake" | "transmission" | "draining" | "closed";

export class Connection {
  readonly id: number;
  readonly #socket: net.Socket;
  readonly #staging: Buffer;
  /** Whether chunks are views of buffers that the next read overwrites. */
  readonly #reusesChunks: boolean;
  readonly #provider: ExportProvider;
  readonly #limits: ConnectionLimits;
  readonly #log: Logger;
  readonly #pool: BufferPool;
  readonly #options: OptionReader;
  readonly #negotiation: Negotiation;
  readonly #requests: RequestReader;
  #phase: Phase = "handshake";
  #transmission: Transmission | null = null;
  #exp: NbdExport | null = null;
  #handshaking = false;
  #handshakeTimer: NodeJS.Timeout | null;
  #inflight = 0;
  #inflightBytes = 0;
  #paused = false;
  /** Replies are gathered until the loop's check phase: one writev for all that completed in one turn. */
  #corked = false;
  /** A direct send has the socket (see claimSocket): replies wait here meanwhile, in order. */
  #claimed = false;
  /** A WRITE's data the device waits for (see #receive): the socket is not read meanwhile. */
  #receipt: SocketReceipt | null = null;
  /** Direct sends waiting for the socket, first come first served. */
  readonly #claimants: Array<(fd: number | null) => void> = [];
  /** An empty write is out, to tell when the socket has been flushed for a claimant. */
  #flushing = false;
  readonly #waiting: Array<{ buffers: Buffer[]; sent: (() => void) | undefined }> = [];
  /** Bytes of the replies in #waiting: they count against maxQueuedReplyBytes like those the socket holds. */
  #waitingBytes = 0;
  /** Who waits for the last request in flight to finish (drain and close may both). */
  #idle: Array<() => void> = [];
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  constructor(id: number, socket: net.Socket, provider: ExportProvider, limits: ConnectionLimits, log: Logger, pool: BufferPool) {
    this.id = id;
    this.#pool = pool;
    this.#staging = pool.acquire(STAGING_BYTES);
    // Built first: the socket asks it where to read as soon as it is adopted. It
    // copies data out of chunks as if they were reused, which is right either way.
    this.#requests = new RequestReader((req) => this.#onRequest(req), { pool, reusesChunks: true });
    const adopted = adoptSocket(socket, () => this.#requests.nextReadBuffer(this.#staging), (chunk) => this.#onData(chunk));
    this.#socket = adopted ?? socket;
    this.#reusesChunks = adopted !== null;
    this.#provider = provider;
    this.#limits = limits;
    this.#log = log;
    this.#options = new OptionReader(limits.maxOptionBytes);
    this.#negotiation = new Negotiation(provider, (reply) => this.#write([reply]));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#handshakeTimer = setTimeout(() => this.#abort("the handshake took too long"), limits.handshakeTimeoutMs);

    socket = this.#socket;
    socket.setNoDelay(true);
    if (!adopted) {
      socket.on("data", (chunk: Buffer) => this.#onData(chunk));
      socket.resume();
    }
    socket.on("drain", () => this.#maybeResume());
    socket.on("error", (err) => this.#log.debug({ conn: id, err: err.message }, "socket error"));
    socket.on("close", () => void this.#onClose());
    socket.write(greeting());
  }

  /** Stops taking requests, lets those in flight finish, then hangs up. */
  async drain(): Promise<void> {
    if (this.#phase === "closed" || this.#phase === "draining") return this.closed;
    if (this.#phase === "handshake") {
      this.#socket.destroy();
      return this.closed;
    }
    return this.#hangUp();
  }

  /**
   * Ends the connection without losing what was already answered: requests in
   * flight finish and their replies go out, then FIN. Input is read on and
   * dropped meanwhile, because closing a socket with unread input makes the
   * kernel reset it and throw away replies not yet delivered. A client that
   * never closes its side is cut off after DRAIN_CLOSE_TIMEOUT_MS.
   */
  async #hangUp(): Promise<void> {
    this.#phase = "draining";
    const timer = setTimeout(() => this.#socket.destroy(), DRAIN_CLOSE_TIMEOUT_MS);
    // Input is dropped from now on, a WRITE's data waited for included. The
    // wait ends here and now, so that the socket has one reader from here on.
    this.#receipt?.cancel();
    this.#paused = false;
    this.#socket.resume();
    await this.#whenIdle();
    this.#socket.end();
    await this.closed;
    clearTimeout(timer);
  }

  #onData(chunk: Buffer): void {
    try {
      if (this.#phase === "transmission") this.#requests.feed(chunk);
      else if (this.#phase === "handshake") {
        this.#options.feed(this.#reusesChunks ? Buffer.from(chunk) : chunk);
        void this.#handshake();
      }
    } catch (err) {
      this.#protocolError(err);
    }
  }

  /** Answers the options that have arrived, one at a time, in order. */
  async #handshake(): Promise<void> {
    if (this.#handshaking) return;
    this.#handshaking = true;
    try {
      for (;;) {
        if (this.#paused) return;
        const item = this.#options.take();
        if (!item || this.#phase !== "handshake") return;
        if (item.kind === "client-flags") {
          this.#clientFlags(item.flags);
          continue;
        }
        this.#socket.pause();
        const outcome: Outcome =
          item.kind === "option"
            ? await this.#negotiation.option(item.option, item.data)
            : this.#negotiation.tooBig(item.option, item.length);
        this.#log.debug({ conn: this.id, option: optionName(item.option), next: outcome.next }, "option");
        if (this.#phase !== "handshake") {
          // Closed while the option ran: an export it opened is nobody's now.
          if (outcome.next === "transmission") await this.#provider.release?.(outcome.exp);
          return;
        }
        if (outcome.next === "close") return this.#abort(outcome.reason, "info");
        if (outcome.next === "transmission") return this.#startTransmission(outcome.exp);
        if (this.#socket.writableLength >= this.#limits.maxQueuedReplyBytes) {
          // A client that does not read its replies gets no more answers until it does.
          this.#paused = true;
          return;
        }
        this.#socket.resume();
      }
    } catch (err) {
      this.#protocolError(err);
    } finally {
      this.#handshaking = false;
    }
  }

  #clientFlags(flags: number): void {
    if (!(flags & FLAG_FIXED_NEWSTYLE)) throw new NbdProtocolError("the client does not speak fixed newstyle");
    if (flags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) {
      throw new NbdProtocolError(`unknown client flags 0x${flags.toString(16)}`);
    }
    this.#negotiation.choices.noZeroes = (flags & FLAG_NO_ZEROES) !== 0;
  }

  #startTransmission(exp: NbdExport): void {
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#exp = exp;
    this.#transmission = new Transmission(exp, this.#negotiation.choices, {
      send: (buffers, sent) => this.#write(buffers, sent),
      claimSocket: () => this.#claimSocket(),
      releaseSocket: (rest, sent, broken) => this.#releaseSocket(rest, sent, broken),
      pool: this.#pool,
      log: this.#log,
    });
    this.#phase = "transmission";
    // Only a socket we read ourselves: Node's own reads run ahead into a WRITE's data.
    if (exp.device.receiveRange && this.#reusesChunks) this.#requests.receive = (req) => this.#receive(req);
    this.#log.debug({ conn: this.id, export: exp.name, ...this.#negotiation.choices }, "transmission starts");
    const rest = this.#options.rest();
    this.#socket.resume();
    if (rest.length > 0) this.#onData(rest);
  }

  #onRequest(req: NbdRequest): void {
    // After DISC (or while hanging up) nothing more is served: the client must not send it.
    if (this.#phase !== "transmission") return;
    if (req.type === Cmd.DISC) {
      void this.drain();
      return;
    }
    const bytes = req.type === Cmd.READ || req.type === Cmd.WRITE ? req.length : 0;
    this.#inflight++;
    this.#inflightBytes += bytes;
    if (this.#inflight >= this.#limits.maxInflightRequests || this.#inflightBytes >= this.#limits.maxInflightBytes) {
      this.#pause();
    }
    void this.#transmission!.serve(req).then(() => this.#done(req, bytes));
  }

  /**
   * A big WRITE's data, straight from the socket to the device: what has
   * arrived at once, and the rest when it has all arrived, with the socket
   * left unread meanwhile (the device takes it from the kernel itself).
   */
  #receive(req: NbdRequest): "taken" | "waiting" | "no" {
    const fd = this.#socketFd();
    const receipt = fd !== null && this.#phase === "transmission" ? this.#transmission!.receive(fd, req) : null;
    if (!receipt) return "no";
    if (receipt.taken === req.length) {
      req.received = req.length;
      req.landed = receipt.land();
      return "taken";
    }
    this.#receipt = receipt;
    this.#socket.pause();
    void receipt.rest().then((taken) => {
      this.#receipt = null;
      // Hanging up, the request is not served: its data is not written either.
      if (this.#phase !== "transmission") return receipt.drop();
      req.received = taken;
      req.landed = receipt.land();
      try {
        this.#requests.received();
      } catch (err) {
        return this.#protocolError(err);
      }
      if (!this.#paused && !this.#requests.paused) this.#socket.resume();
    });
    return "waiting";
  }

  #done(req: NbdRequest, bytes: number): void {
    if (req.pooled) this.#pool.release(req.pooled);
    this.#inflight--;
    this.#inflightBytes -= bytes;
    if (this.#inflight === 0 && this.#idle.length > 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
    this.#maybeResume();
  }

  #write(buffers: Buffer[], sent?: () => void): void {
    // While a direct send has the socket or waits for it, replies queue: they
    // would keep the socket from ever being flushed for it.
    if (this.#claimed || this.#claimants.length > 0) {
      this.#waiting.push({ buffers, sent });
      for (const b of buffers) this.#waitingBytes += b.length;
      if (this.#queuedReplyBytes() >= this.#limits.maxQueuedReplyBytes) this.#pause();
    } else this.#put(buffers, sent);
  }

  #put(buffers: Buffer[], sent?: () => void): void {
    if (this.#phase === "closed" || this.#socket.destroyed) {
      // Never handed to the socket, so nothing else holds it.
      sent?.();
      return;
    }
    // A write per reply was a system call per request: at 32 deep, 4 KiB
    // writes that completed together went out one by one.
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      setImmediate(this.#uncork);
    }
    for (let i = 0; i < buffers.length; i++) this.#socket.write(buffers[i]!, i === buffers.length - 1 && sent ? () => sent() : undefined);
    if (this.#queuedReplyBytes() >= this.#limits.maxQueuedReplyBytes) this.#pause();
  }

  #queuedReplyBytes(): number {
    return this.#socket.writableLength + this.#waitingBytes;
  }

  /**
   * The socket's descriptor, lent to one direct send at a time, in the order
   * asked, once every byte written before is in the kernel: the direct bytes
   * must follow them in the stream. Null when the connection is closing or
   * the descriptor cannot be had (`_handle.fd` is Node's, undocumented).
   */
  #claimSocket(): Promise<number | null> {
    if (this.#socketFd() === null) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#claimants.push(resolve);
      this.#grant();
    });
  }

  #grant(): void {
    if (this.#claimed || this.#claimants.length === 0) return;
    const fd = this.#phase === "closed" || this.#socket.destroyed ? null : this.#socketFd();
    if (fd === null) {
      for (const claimant of this.#claimants.splice(0)) claimant(null);
      return;
    }
    if (this.#socket.writableLength > 0) {
      // An empty write's callback runs once everything before it is written.
      if (this.#flushing) return;
      this.#flushing = true;
      this.#socket.write(EMPTY, () => {
        this.#flushing = false;
        this.#grant();
      });
      return;
    }
    this.#claimed = true;
    this.#claimants.shift()!(fd);
  }

  #socketFd(): number | null {
    const fd = (this.#socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
    return typeof fd === "number" && fd >= 0 ? fd : null;
  }

  #releaseSocket(rest: Buffer[], sent: (() => void) | undefined, broken: unknown): void {
    this.#claimed = false;
    const waiting = this.#waiting.splice(0);
    this.#waitingBytes = 0;
    if (broken !== undefined) {
      // Part of a reply may be in the stream: nothing after it would parse.
      this.#log.warn({ conn: this.id, export: this.#exp?.name, err: broken instanceof Error ? broken.message : String(broken) }, "closing connection: a direct send failed");
      this.#socket.destroy();
      sent?.();
      for (const w of waiting) w.sent?.();
      this.#grant();
      return;
    }
    if (rest.length > 0) this.#put(rest, sent);
    else sent?.();
    for (const w of waiting) this.#put(w.buffers, w.sent);
    this.#grant();
    // Paused for the replies that waited, reading may go on now that the socket holds them.
    this.#maybeResume();
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  #pause(): void {
    this.#requests.pause();
    // Hanging up, input is only dropped: reading on costs nothing and is how the client's close is seen.
    if (this.#phase === "draining") return;
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  #maybeResume(): void {
    if (!this.#paused) return;
    if (this.#queuedReplyBytes() * 2 > this.#limits.maxQueuedReplyBytes) return;
    if (this.#phase === "handshake") {
      this.#paused = false;
      this.#socket.resume();
      void this.#handshake();
      return;
    }
    if (this.#phase !== "transmission") return;
    if (this.#inflight * 2 > this.#limits.maxInflightRequests) return;
    if (this.#inflightBytes * 2 > this.#limits.maxInflightBytes) return;
    this.#paused = false;
    try {
      this.#requests.resume();
    } catch (err) {
      return this.#protocolError(err);
    }
    if (!this.#requests.paused && !this.#receipt) this.#socket.resume();
  }

  #whenIdle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #protocolError(err: unknown): void {
    if (!(err instanceof NbdProtocolError)) {
      this.#log.error({ conn: this.id, err }, "internal error serving a client; dropping it");
    }
    this.#abort(err instanceof Error ? err.message : String(err));
  }

  #abort(reason: string, level: "warn" | "info" = "warn"): void {
    if (this.#phase === "closed" || this.#phase === "draining") return;
    this.#log[level]({ conn: this.id, export: this.#exp?.name, remote: this.#socket.remoteAddress }, `closing connection: ${reason}`);
    void this.#hangUp();
  }

  async #onClose(): Promise<void> {
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    if (this.#phase !== "draining" && this.#requests.midRequest) {
      this.#log.info({ conn: this.id, export: this.#exp?.name }, "client hung up in the middle of a request");
    }
    this.#phase = "closed";
    this.#receipt?.cancel();
    this.#grant();
    // Requests still running finish on the device; their replies have nowhere to go.
    await this.#whenIdle();
    this.#pool.release(this.#staging);
    const exp = this.#exp;
    this.#exp = null;
    try {
      if (exp) await this.#provider.release?.(exp);
    } catch (err) {
      this.#log.error({ conn: this.id, err }, "releasing an export failed");
    }
    this.#resolveClosed();
  }
}
