/**
 * The write tap: a BlockDevice that wraps a disk's production store (a
 * filter, as nbdkit's filters wrap plugins). Reads pass through; each WRITE,
 * WRITE_ZEROES and TRIM is admitted by the group (seq, stream, range lock),
 * applied to the store, and answered when the store has it. FLUSH and FUA go
 * to the store, which honours them with fdatasync.
 */
import type { BlockDevice, Extent, ZeroOptions } from "../blockdev/index.js";
import type { DiskState, ProtectedGroup, WriteKind } from "./protected-group.js";

export class SplitterDevice implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  readonly name: string;
  readonly #group: ProtectedGroup;
  readonly #disk: DiskState;
  readonly #store: BlockDevice;

  constructor(group: ProtectedGroup, disk: DiskState) {
    this.#group = group;
    this.#disk = disk;
    this.#store = disk.store;
    this.size = disk.store.size;
    this.name = disk.spec.name;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.#store.read(offset, length);
  }

  readInto(buffer: Buffer, bufferOffset: number, offset: number, length: number): Promise<void> {
    if (this.#store.readInto) return this.#store.readInto(buffer, bufferOffset, offset, length);
    return this.#store.read(offset, length).then((b) => void b.copy(buffer, bufferOffset));
  }

  write(offset: number, data: Buffer, fua?: boolean): Promise<void> {
    return this.#apply("write", offset, data.length, data, () => this.#store.write(offset, data, fua));
  }

  writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void> {
    return this.#apply("zero", offset, length, undefined, () => this.#store.writeZeroes(offset, length, options));
  }

  trim(offset: number, length: number): Promise<void> {
    return this.#apply("trim", offset, length, undefined, () => this.#store.trim(offset, length));
  }

  flush(): Promise<void> {
    return this.#store.flush();
  }

  extents(offset: number, length: number): Promise<Extent[]> {
    return this.#store.extents(offset, length);
  }

  /** The group owns the store; closing one NBD client's device closes nothing. */
  async close(): Promise<void> {}

  async #apply(kind: WriteKind, offset: number, length: number, data: Buffer | undefined, op: () => Promise<void>): Promise<void> {
    const { held, wait } = this.#group.begin(this.#disk, kind, offset, length, data);
    try {
      if (wait) await wait;
      await op();
    } catch (err) {
      this.#group.localWriteFailed(this.#disk, offset, length, err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      this.#group.end(this.#disk, held);
    }
  }
}
