/**
 * The NBD server: listens, hands each client to a Connection, and shuts down
 * gracefully (stop accepting, let requests in flight finish, hang up).
 */
import net from "node:net";
import { BufferPool } from "./buffer-pool.js";
import { Connection, DEFAULT_LIMITS, type ConnectionLimits } from "./connection.js";
import type { ExportProvider } from "./exports.js";
import { silentLogger, type Logger } from "./logger.js";

export interface NbdServerOptions {
  exports: ExportProvider;
  logger?: Logger;
  limits?: Partial<ConnectionLimits>;
}

export class NbdServer {
  readonly #provider: ExportProvider;
  readonly #log: Logger;
  readonly #limits: ConnectionLimits;
  readonly #connections = new Set<Connection>();
  readonly #pool = new BufferPool();
  readonly #server: net.Server;
  #nextId = 1;

  constructor(options: NbdServerOptions) {
    this.#provider = options.exports;
    this.#log = options.logger ?? silentLogger;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.#accept(socket));
    this.#server.on("error", (err) => this.#log.error({ err }, "NBD listener failed"));
  }

  listen(port: number, host = "127.0.0.1"): Promise<{ port: number; host: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once("error", onError);
      this.#server.listen(port, host, () => {
        this.#server.off("error", onError);
        const address = this.#server.address() as net.AddressInfo;
        this.#log.info({ host, port: address.port }, "NBD server listening");
        resolve({ port: address.port, host });
      });
    });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops accepting; requests in flight finish and get their replies; then every client is hung up. */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#connections].map((c) => c.drain()));
    await stopped;
  }

  #accept(socket: net.Socket): void {
    const conn = new Connection(this.#nextId++, socket, this.#provider, this.#limits, this.#log, this.#pool);
    this.#connections.add(conn);
    this.#log.debug({ conn: conn.id, remote: socket.remoteAddress }, "client connected");
    void conn.closed.then(() => this.#connections.delete(conn));
  }
}
