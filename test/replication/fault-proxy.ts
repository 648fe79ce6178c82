/**
 * A fault-injecting TCP proxy for replication tests: it sits between the
 * sender and the receiver and can cut every connection, stall them (bytes
 * stop flowing, sockets stay open), close one in the middle of a frame, or
 * cap the bandwidth, or add latency. TLS passes through untouched (the proxy
 * only sees bytes).
 */
import net from "node:net";

interface Pair {
  client: net.Socket;
  server: net.Socket;
}

export class FaultProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  readonly #target: { host: string; port: number };
  #stalled = false;
  #bytesPerSec: number | undefined;
  #closeMidFrameAfter: number | undefined;
  #refuse = false;
  #delayMs = 0;
  connections = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", () => resolve()));
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Resets every connection now. */
  cut(): void {
    for (const p of this.#pairs) {
      p.client.resetAndDestroy();
      p.server.destroy();
    }
  }

  /** While refusing, new connections are closed at once (a link that stays down). */
  refuse(on: boolean): void {
    this.#refuse = on;
    if (on) this.cut();
  }

  /** Bytes stop flowing both ways (the sockets stay open), or flow again. */
  stall(on: boolean): void {
    this.#stalled = on;
    for (const p of this.#pairs) {
      if (on) {
        p.client.pause();
        p.server.pause();
      } else {
        p.client.resume();
        p.server.resume();
      }
    }
  }

  /** Caps the sender-to-receiver bandwidth (undefined lifts it). */
  bandwidth(bytesPerSec: number | undefined): void {
    this.#bytesPerSec = bytesPerSec;
  }

  /** Every byte, both ways, arrives `ms` later than it was sent (a long link); 0 lifts it. */
  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** The next connection's sender-side stream is cut after `bytes` more bytes (mid-frame). */
  closeMidFrame(bytes: number): void {
    this.#closeMidFrameAfter = bytes;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#refuse) {
      client.destroy();
      return;
    }
    this.connections++;
    const server = net.connect(this.#target.port, this.#target.host);
    const pair = { client, server };
    this.#pairs.add(pair);
    const done = () => {
      this.#pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on("error", done).on("close", done);
    server.on("error", done).on("close", done);
    const back = this.#delayed(server, client);
    server.on("data", (d: Buffer) => {
      if (this.#delayMs > 0 || back.busy()) return back.push(d);
      if (!client.write(d)) server.pause();
    });
    client.on("drain", () => !this.#stalled && server.resume());
    const forth = this.#delayed(client, server);
    let queue = Promise.resolve();
    client.on("data", (d: Buffer) => {
      if (this.#closeMidFrameAfter !== undefined) {
        const n = this.#closeMidFrameAfter;
        if (d.length >= n) {
          this.#closeMidFrameAfter = undefined;
          server.write(d.subarray(0, n), () => done());
          client.pause();
          return;
        }
        this.#closeMidFrameAfter -= d.length;
      }
      const rate = this.#bytesPerSec;
      if (rate === undefined) {
        if (this.#delayMs > 0 || forth.busy()) return forth.push(d);
        if (!server.write(d)) client.pause();
        return;
      }
      client.pause();
      queue = queue.then(() => new Promise<void>((resolve) => setTimeout(resolve, (d.length / rate) * 1000))).then(() => {
        if (!server.destroyed) server.write(d);
        if (!this.#stalled) client.resume();
      });
    });
    server.on("drain", () => !this.#stalled && client.resume());
    if (this.#stalled) {
      client.pause();
      server.pause();
    }
  }

  /**
   * A one-way line with latency: each chunk is written `delay` ms after it
   * arrived, in order; the source pauses while more than 8 MiB is on the line.
   */
  #delayed(from: net.Socket, to: net.Socket): { push(d: Buffer): void; busy(): boolean } {
    const line: { at: number; d: Buffer }[] = [];
    let bytes = 0;
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      timer = undefined;
      while (line.length && line[0]!.at <= Date.now()) {
        const { d } = line.shift()!;
        bytes -= d.length;
        if (!to.destroyed) to.write(d);
      }
      if (bytes < 8 << 20 && !this.#stalled) from.resume();
      if (line.length) timer = setTimeout(pump, Math.max(0, line[0]!.at - Date.now()));
    };
    to.once("close", () => timer && clearTimeout(timer));
    return {
      push: (d) => {
        line.push({ at: Date.now() + this.#delayMs, d });
        bytes += d.length;
        if (bytes >= 8 << 20) from.pause();
        timer ??= setTimeout(pump, Math.max(0, line[0]!.at - Date.now()));
      },
      busy: () => line.length > 0,
    };
  }
}
