/**
 * A replication peer that sends whatever bytes a test gives it: over TLS with
 * a pinned, an unpinned or no certificate, or over plain TCP. It decodes what
 * the receiver sends back (HELLO, ACK, ERROR) and records how the connection
 * ended, so that fuzz tests can drive the receiver's listener with frames no
 * real Sender would send.
 */
import net from "node:net";
import tls from "node:tls";
import { FrameReader, decodeFrame, encodeFrame, type DiskSpec, type Frame, type SiteIdentity } from "../../src/replication/index.js";

export type PeerAuth = { kind: "tls"; identity: SiteIdentity | undefined; maxVersion?: tls.SecureVersion } | { kind: "tcp" };

export class RawPeer {
  readonly frames: Frame[] = [];
  /** Bytes received from the receiver, frames or not. */
  bytesIn = 0;
  /** Why the frames coming back did not decode, if they did not. */
  decodeError: Error | undefined;
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #reader = new FrameReader();
  #waiters: (() => void)[] = [];
  #isClosed = false;
  #localPort = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    // Known once TCP connects (a TLS socket is made before): the receiver names the peer by it.
    socket.once("connect", () => (this.#localPort = socket.localPort ?? 0));
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      try {
        for (const raw of this.#reader.push(chunk)) this.frames.push(decodeFrame(raw));
      } catch (err) {
        this.decodeError = err as Error;
      }
      this.#wake();
    });
  }

  static connect(port: number, auth: PeerAuth): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      if (auth.kind === "tcp") {
        const s = net.connect(port, "127.0.0.1");
        const peer = new RawPeer(s);
        s.once("connect", () => resolve(peer));
        s.once("error", reject);
        return;
      }
      const id = auth.identity;
      const s = tls.connect({
        host: "127.0.0.1",
        port,
        minVersion: auth.maxVersion ?? "TLSv1.3",
        maxVersion: auth.maxVersion ?? "TLSv1.3",
        rejectUnauthorized: false,
        ...(id ? { key: id.keyPem, cert: id.certPem } : {}),
      });
      // A refused handshake (TLS 1.2 against a 1.3-only server) ends here: the peer still exists, closed.
      const peer = new RawPeer(s);
      s.once("secureConnect", () => resolve(peer));
      s.once("error", () => resolve(peer));
      s.once("close", () => resolve(peer));
    });
  }

  get localPort(): number {
    return this.#localPort || (this.#socket.localPort ?? 0);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(bytes: Buffer): void {
    if (!this.#isClosed) this.#socket.write(bytes);
  }

  /** Sends the sender's HELLO and waits for the receiver's; returns the durable seq it announces. */
  async hello(group: string, disks: DiskSpec[], timeoutMs = 5000): Promise<number> {
    this.send(encodeFrame({ type: "hello", role: "sender", site: "site-a", group, durableSeq: 0, disks }).frame);
    const f = await this.waitFrame((x) => x.type === "hello" || x.type === "error", timeoutMs);
    if (f.type !== "hello") throw new Error(`the receiver answered the HELLO with ${JSON.stringify(f)}`);
    return f.durableSeq;
  }

  /** The first frame received that matches, waiting for it. */
  async waitFrame(match: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(match);
      if (f) return f;
      if (this.#isClosed) throw new Error(`the connection closed before the frame came (got ${this.frames.map((x) => x.type).join(", ") || "nothing"})`);
      if (Date.now() > deadline) throw new Error(`no such frame in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until the receiver has hung up (the test fails if it does not within the time). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the receiver kept the connection open for ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Half-closes our side (the peer "hangs up" after what it sent). */
  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
