/**
 * A framed connection over any duplex byte stream (a TLS socket in
 * production, a plain socket or a pipe in tests). It turns bytes into frames
 * and frames into bytes, and turns every way a connection can end (peer
 * closed, reset, a malformed frame, a timeout) into one `closed` promise with
 * the reason. A frame that fails its checks ends the connection; it is never
 * handed on.
 */
import type { Duplex } from "node:stream";
import { FrameError, LinkDownError, ReplicationError } from "./errors.js";
import { FrameReader, decodeFrame } from "./frame-codec.js";
import type { Frame } from "./frames.js";

export class FrameLink {
  readonly closed: Promise<ReplicationError>;
  readonly #socket: Duplex;
  readonly #reader = new FrameReader();
  #onFrame: (f: Frame) => void = () => {};
  #done: ((e: ReplicationError) => void) | undefined;
  #error: ReplicationError | undefined;
  #drainWaiters: (() => void)[] = [];

  constructor(socket: Duplex) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => (this.#done = resolve));
    socket.on("data", (chunk: Buffer) => this.#data(chunk));
    socket.on("drain", () => this.#wakeDrain());
    socket.on("error", (err) => this.close(new LinkDownError(`connection failed: ${err.message}`, { cause: err })));
    socket.on("end", () => this.close(new LinkDownError("the peer closed the connection")));
    socket.on("close", () => this.close(new LinkDownError("the connection closed")));
  }

  get isClosed(): boolean {
    return this.#error !== undefined;
  }

  /** Where decoded frames go. Set it before the peer can send. */
  onFrame(handler: (f: Frame) => void): void {
    this.#onFrame = handler;
  }

  /** The next frame, or the reason the link closed first. */
  nextFrame(timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.close(new LinkDownError(`no frame from the peer in ${timeoutMs} ms`)), timeoutMs);
      this.#onFrame = (f) => {
        clearTimeout(timer);
        this.#onFrame = () => {};
        resolve(f);
      };
      void this.closed.then((e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** Queues an encoded frame; false when the socket's buffer is full (await `drained`). */
  send(frame: Buffer): boolean {
    if (this.#error) return false;
    return this.#socket.write(frame);
  }

  /** Queues a frame given as pieces (gathered by the socket, not copied here). */
  sendPieces(pieces: Buffer[]): boolean {
    if (this.#error) return false;
    if (pieces.length === 1) return this.#socket.write(pieces[0]);
    this.#socket.cork();
    let ok = true;
    for (const p of pieces) ok = this.#socket.write(p) && ok;
    this.#socket.uncork();
    return ok;
  }

  drained(): Promise<void> {
    if (this.#error || !this.#socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  close(reason: ReplicationError): void {
    if (this.#error) return;
    this.#error = reason;
    this.#socket.destroy();
    this.#wakeDrain();
    this.#done!(reason);
  }

  #data(chunk: Buffer): void {
    if (this.#error) return;
    try {
      for (const raw of this.#reader.push(chunk)) {
        const f = decodeFrame(raw);
        this.#onFrame(f);
        if (this.#error) return;
      }
    } catch (err) {
      this.close(err instanceof ReplicationError ? err : new FrameError(String(err), { cause: err }));
    }
  }

  #wakeDrain(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const r of w) r();
  }
}
