/**
 * The in-house writer: writes through a real NBD connection, many requests in
 * flight, and records every write the server acknowledged in a model of the
 * disk, so that a test can check production and the recovery site against
 * what was acknowledged. It can pause (wait for its writes in flight) so that
 * a tagged checkpoint is taken at a quiet moment.
 */
import { RawClient } from "../nbd/client.js";

export class RecordingWriter {
  readonly model: Buffer;
  readonly #client: RawClient;
  readonly #blockBytes: number;
  #running = false;
  #loop: Promise<void> | undefined;
  #seed: number;
  acknowledged = 0;

  private constructor(client: RawClient, size: number, seed: number, blockBytes: number) {
    this.#client = client;
    this.model = Buffer.alloc(size);
    this.#seed = seed;
    this.#blockBytes = blockBytes;
  }

  static async open(port: number, exportName: string, seed = 1, blockBytes = 4096): Promise<RecordingWriter> {
    const { client, size } = await RawClient.session(port, exportName);
    return new RecordingWriter(client, size, seed, blockBytes);
  }

  /** One write of `blocks` blocks at a random block, pattern from the seed; resolves when acknowledged. */
  async writeOne(blocks = 1 + (this.#rand() % 8)): Promise<void> {
    const count = Math.floor(this.model.length / this.#blockBytes);
    const block = this.#rand() % (count - blocks + 1);
    const data = Buffer.alloc(blocks * this.#blockBytes);
    const tag = this.#rand();
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((tag + i) >>> 0, i);
    await this.#client.writeBytes(block * this.#blockBytes, data);
    data.copy(this.model, block * this.#blockBytes);
    this.acknowledged++;
  }

  /**
   * Writes continuously with `depth` requests in flight until paused. Overlapping
   * writes may be in flight together: the splitter's range lock orders them, so
   * their replies, and the model's updates, come in the order they were sent.
   */
  start(depth = 8): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = Promise.all(Array.from({ length: depth }, () => this.#lane())).then(() => undefined);
  }

  async pause(): Promise<void> {
    this.#running = false;
    await this.#loop;
    this.#loop = undefined;
  }

  close(): void {
    this.#client.close();
  }

  async #lane(): Promise<void> {
    while (this.#running) await this.writeOne();
  }

  #rand(): number {
    // xorshift32: reproducible from the seed.
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    return this.#seed;
  }
}
