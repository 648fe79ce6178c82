/**
 * A disk kept in a sparse raw file or on a block device: the production store,
 * the replica, the simplest thing the NBD server can serve.
 *
 * Every request goes straight to the kernel through the libuv thread pool, many
 * in flight at once: serialising writes per file cut 4 KiB throughput threefold
 * in our measurements. Flushes are group-committed (see Flusher). Holes are
 * punched with fallocate and found with SEEK_DATA/SEEK_HOLE through a small
 * native helper, so BLOCK_STATUS is truthful and TRIM gives space back.
 */
import fs from "node:fs";
import { type BlockDevice, type Extent, type SocketReceipt, type ZeroOptions, pushExtent } from "./block-device.js";
import { BlockDeviceError, DeviceIoError, NotSupportedError, ReadOnlyError, fromSystemError } from "./errors.js";
import { Flusher } from "./flusher.js";
import { SEND_RANGE_HOLE, nativeFs } from "./native.js";

export interface FileDeviceOptions {
  /** Size in bytes; required to create a missing file, checked against an existing one. */
  sizeBytes?: number;
  readOnly?: boolean;
}

/** Largest zero buffer written when the file system cannot punch or zero ranges. */
const ZERO_CHUNK_BYTES = 1 << 20;

/**
 * Reads up to this size are first tried on the event loop with RWF_NOWAIT: from
 * the page cache a 4 KiB read then costs a memcpy instead of two thread-pool
 * hops (random 4 KiB reads went from 56 k to 136 k IOPS). Bigger reads go to
 * the pool, where their copying runs beside the event loop on the other core.
 */
const INLINE_READ_MAX_BYTES = 128 * 1024;

/**
 * Writes to one file in flight at once: four, up to 4 MiB in all. A stop ago,
 * on this kind of machine, four 1 MiB buffered writes at once took 2.5x the
 * CPU of one at a time (they spun on the inode's lock), so big writes ran one
 * at a time; measured again here, four at once gave 1 MiB sequential writes
 * 0.83x nbdkit's throughput against 0.73x, and the same CPU per GiB.
 */
const MAX_PARALLEL_WRITE_BYTES = 4 * 1024 * 1024;
const MAX_PARALLEL_WRITES = 4;

/**
 * A small write that finds no other write in flight runs on the event loop:
 * at queue depth 1 the two thread-pool hops are most of its latency. Buffered
 * writes cannot be asked not to block (RWF_NOWAIT is not supported for them on
 * ext4), and one throttled by dirty-page writeback would stall every client;
 * so INLINE_WRITE_SLOW_STREAK writes that each take longer than
 * INLINE_WRITE_SLOW_MS, each within INLINE_WRITE_SLOW_GAP_MS of the last,
 * turn inline writes off for INLINE_WRITE_BACKOFF_MS, as does any one write
 * over INLINE_WRITE_STALL_MS. One slow write is not
 * enough: on a busy machine the event loop is often descheduled in the middle
 * of a 3 µs write, and turning inline writes off for that sent every write
 * through the pool (replicating, 4 KiB writes cost twice the CPU). The
 * backoff is short for the same reason: after a passing stall of the disk,
 * 5 s of pool writes halved a 5 s replicating run; throttled for good, inline
 * writes cost at most three slow ones a second.
 */
const INLINE_WRITE_MAX_BYTES = 64 * 1024;
const INLINE_WRITE_SLOW_MS = 2;
const INLINE_WRITE_SLOW_STREAK = 3;
const INLINE_WRITE_SLOW_GAP_MS = 50;
/** A write this slow is the disk, not a descheduled loop (a busy 2-core machine deschedules for 10-20 ms): inline writes stop at once. */
const INLINE_WRITE_STALL_MS = 50;
const INLINE_WRITE_BACKOFF_MS = 1_000;

export class FileDevice implements BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly #fd: number;
  readonly #isBlockDevice: boolean;
  readonly #flusher: Flusher;
  #canPunch = true;
  #canZeroRange = true;
  #canSeekHoles = true;
  #canReadInline = true;
  #writesInFlight = 0;
  #writeBytesInFlight = 0;
  readonly #writeQueue: QueuedWrite[] = [];
  #writeQueueHead = 0;
  /** Queued writes over MAX_PARALLEL_WRITE_BYTES. */
  #oversizeQueued = 0;
  /** When inline writes are allowed again after a slow one (performance.now() time). */
  #inlineWritesFrom = 0;
  #slowWrites = 0;
  #lastSlowWriteAt = 0;
  #closed = false;
  /** Idle pipes for receiveRange, and how many exist. */
  readonly #pipes: Pipe[] = [];
  #pipesMade = 0;
  #cannotPipe = false;
  /** Thread-pool work on the descriptor that is not a request's (direct sends, pipes landing): close waits for it. */
  #poolWork = 0;
  #poolWorkDone: (() => void) | undefined;

  private constructor(path: string, fd: number, size: number, readOnly: boolean, isBlockDevice: boolean) {
    this.path = path;
    this.#fd = fd;
    this.size = size;
    this.readOnly = readOnly;
    this.#isBlockDevice = isBlockDevice;
    this.#flusher = new Flusher(() => this.#fdatasync());
  }

  /** Opens `path`, creating it sparse at `sizeBytes` when it does not exist. */
  static async open(path: string, options: FileDeviceOptions = {}): Promise<FileDevice> {
    const readOnly = options.readOnly ?? false;
    let fd: number;
    try {
      fd = await fsOpen(path, readOnly ? "r" : "r+");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fromSystemError(err, `open ${path}`);
      if (options.sizeBytes === undefined) {
        throw new BlockDeviceError(`${path} does not exist`, { hint: "give a size to create it, e.g. PATH:10GiB" });
      }
      fd = await create(path, options.sizeBytes);
      if (readOnly) {
        // A read-only disk made now is all zeroes: made writable, then opened as asked.
        fs.closeSync(fd);
        fd = await fsOpen(path, "r");
      }
    }
    try {
      const stat = fs.fstatSync(fd);
      const isBlockDevice = stat.isBlockDevice();
      const size = isBlockDevice ? await nativeFs.seekEnd(fd) : stat.size;
      if (options.sizeBytes !== undefined && options.sizeBytes !== size) {
        throw new BlockDeviceError(`${path} holds ${size} bytes, not the ${options.sizeBytes} asked for`, {
          hint: "leave the size out to use the file as it is",
        });
      }
      return new FileDevice(path, fd, size, readOnly, isBlockDevice);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  read(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    return this.readInto(buffer, 0, offset, length).then(() => buffer);
  }

  /** Reads into a caller's buffer: lets the NBD server read straight into its reply. */
  readInto(buffer: Buffer, bufferOffset: number, offset: number, length: number): Promise<void> {
    let first = 0;
    if (length <= INLINE_READ_MAX_BYTES && this.#canReadInline) {
      const n = nativeFs.preadNowait(this.#fd, buffer, bufferOffset, length, offset);
      if (n === length) return Promise.resolve();
      if (n > 0) first = n;
      else if (n !== -EAGAIN) this.#canReadInline = false;
    }
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        fs.read(this.#fd, buffer, bufferOffset + done, length - done, offset + done, (err, n) => {
          if (err) return reject(fromSystemError(err, `read ${this.path}`));
          if (n === 0) {
            // Past the end of a file that shrank under us: reads as zeroes, like a hole.
            buffer.fill(0, bufferOffset + done, bufferOffset + length);
            return resolve();
          }
          if (done + n < length) return step(done + n);
          resolve();
        });
      };
      step(first);
    });
  }

  /**
   * Big reads go from the page cache to the client's socket by sendfile: with
   * pread, then a write to the socket, a 1 MiB read cost two copies on our two
   * cores, where the client's own copy out of the socket is then the only one.
   */
  async sendRange(socketFd: number, header: Buffer, offset: number, length: number, refuseHoles: boolean): Promise<number | "hole"> {
    if (this.#closed) return 0;
    let sending: Promise<number>;
    try {
      sending = nativeFs.sendRange(socketFd, this.#fd, header, offset, length, refuseHoles && this.#canSeekHoles);
    } catch {
      // Refused before anything went (out of descriptors, say): the caller sends it all its usual way.
      return 0;
    }
    const sent = await this.#onPool(sending);
    return sent === SEND_RANGE_HOLE ? "hole" : sent;
  }

  /**
   * A big write's data goes from the client's socket into a pipe (page
   * references, on the event loop), and from the pipe to the file on the pool:
   * one copy, into the page cache, where reading it into memory first made
   * two. Only a write the pipe holds whole, and only while pipes are free.
   */
  receiveRange(socketFd: number, offset: number, length: number): SocketReceipt | null {
    if (this.readOnly || this.#closed || length > PIPE_BYTES) return null;
    const pipe = this.#pipes.pop() ?? this.#makePipe();
    if (!pipe) return null;
    if (length > pipe.capacity) {
      this.#pipes.push(pipe);
      return null;
    }
    let taken = Math.max(0, nativeFs.spliceNowait(socketFd, pipe.writeFd, length));
    let watched = -1;
    return {
      get taken() {
        return taken;
      },
      rest: () =>
        new Promise<number>((resolve) => {
          try {
            watched = nativeFs.spliceWhenArrived(socketFd, pipe.writeFd, length - taken, (moved) => {
              watched = -1;
              taken += moved;
              resolve(taken);
            });
          } catch {
            resolve(taken);
          }
        }),
      cancel: () => {
        if (watched >= 0) nativeFs.stopWaiting(watched);
      },
      land: () => this.#land(pipe, offset, taken),
      // What the pipe holds belongs to no write now: the pipe goes with it.
      drop: () => (taken > 0 ? this.#closePipe(pipe) : this.#returnPipe(pipe)),
    };
  }

  /** Writes what a pipe holds at `offset`, and frees the pipe. */
  #land(pipe: Pipe, offset: number, bytes: number): Promise<void> {
    if (bytes === 0) {
      this.#returnPipe(pipe);
      return Promise.resolve();
    }
    if (this.#closed) {
      this.#closePipe(pipe);
      const refused = Promise.reject(new DeviceIoError(`write ${this.path}: the device is closed`));
      refused.catch(() => {});
      return refused;
    }
    const written = this.#onPool(nativeFs.drainPipe(pipe.readFd, this.#fd, offset, bytes)).then(
      () => this.#returnPipe(pipe),
      (err: unknown) => {
        // What the file refused is still in the pipe.
        this.#closePipe(pipe);
        throw fromSystemError(err, `write ${this.path}`);
      },
    );
    // A request that never gets served (its client hung up) must not leave an unhandled rejection.
    written.catch(() => {});
    return written;
  }

  /** Counts work on the pool that uses the descriptor, so that close never closes it under that work. */
  #onPool<T>(work: Promise<T>): Promise<T> {
    this.#poolWork++;
    const done = (): void => {
      if (--this.#poolWork === 0) this.#poolWorkDone?.();
    };
    work.then(done, done);
    return work;
  }

  #makePipe(): Pipe | null {
    if (this.#pipesMade >= MAX_PIPES || this.#cannotPipe) return null;
    try {
      const [readFd, writeFd, capacity] = nativeFs.makePipe(PIPE_BYTES);
      this.#pipesMade++;
      return { readFd, writeFd, capacity };
    } catch {
      this.#cannotPipe = true;
      return null;
    }
  }

  #returnPipe(pipe: Pipe): void {
    if (this.#closed) this.#closePipe(pipe);
    else this.#pipes.push(pipe);
  }

  #closePipe(pipe: Pipe): void {
    this.#pipesMade--;
    fs.close(pipe.readFd, () => {});
    fs.close(pipe.writeFd, () => {});
  }

  write(offset: number, data: Buffer, fua = false): Promise<void> {
    if (this.readOnly) return Promise.reject(this.#readOnlyError());
    if (data.length <= INLINE_WRITE_MAX_BYTES && this.#writesInFlight === 0 && performance.now() >= this.#inlineWritesFrom) {
      try {
        this.#writeInline(offset, data);
      } catch (err) {
        return Promise.reject(fromSystemError(err, `write ${this.path}`));
      }
      return fua ? this.flush() : Promise.resolve();
    }
    const written = new Promise<void>((resolve, reject) => {
      const write: QueuedWrite = { offset, data, resolve, reject };
      // Not past a queued write bigger than the limit, which waits for every other to end: a
      // stream of writes starting past it would starve it. (Keeping every write in order cost 1 MiB
      // sequential writes 5 % here.)
      if (this.#oversizeQueued === 0 && this.#canStartWrite(data.length)) this.#startWrite(write);
      else {
        if (data.length > MAX_PARALLEL_WRITE_BYTES) this.#oversizeQueued++;
        this.#writeQueue.push(write);
      }
    });
    return fua ? written.then(() => this.flush()) : written;
  }

  #writeInline(offset: number, data: Buffer): void {
    const started = performance.now();
    for (let done = 0; done < data.length; ) {
      done += fs.writeSync(this.#fd, data, done, data.length - done, offset + done);
    }
    const now = performance.now();
    const tookMs = now - started;
    if (tookMs <= INLINE_WRITE_SLOW_MS) return;
    // The gap runs to this write's start: writes that each block for longer than the gap are a streak too.
    this.#slowWrites = started - this.#lastSlowWriteAt <= INLINE_WRITE_SLOW_GAP_MS ? this.#slowWrites + 1 : 1;
    this.#lastSlowWriteAt = now;
    if (this.#slowWrites >= INLINE_WRITE_SLOW_STREAK || tookMs > INLINE_WRITE_STALL_MS) {
      this.#slowWrites = 0;
      this.#inlineWritesFrom = now + INLINE_WRITE_BACKOFF_MS;
    }
  }

  #canStartWrite(bytes: number): boolean {
    if (this.#writesInFlight === 0) return true;
    return this.#writesInFlight < MAX_PARALLEL_WRITES && this.#writeBytesInFlight + bytes <= MAX_PARALLEL_WRITE_BYTES;
  }

  #startWrite(write: QueuedWrite): void {
    const { offset, data } = write;
    this.#writesInFlight++;
    this.#writeBytesInFlight += data.length;
    const step = (done: number): void => {
      fs.write(this.#fd, data, done, data.length - done, offset + done, (err, n) => {
        if (!err && done + n < data.length) return step(done + n);
        this.#writesInFlight--;
        this.#writeBytesInFlight -= data.length;
        if (err) write.reject(fromSystemError(err, `write ${this.path}`));
        else write.resolve();
        this.#startQueuedWrites();
      });
    };
    step(0);
  }

  #startQueuedWrites(): void {
    while (this.#writeQueue.length > this.#writeQueueHead) {
      const next = this.#writeQueue[this.#writeQueueHead]!;
      if (!this.#canStartWrite(next.data.length)) return;
      this.#writeQueueHead++;
      if (next.data.length > MAX_PARALLEL_WRITE_BYTES) this.#oversizeQueued--;
      this.#startWrite(next);
    }
    this.#writeQueue.length = 0;
    this.#writeQueueHead = 0;
  }

  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    if (this.readOnly) throw this.#readOnlyError();
    if (!options.noHole && (await this.#tryPunch(offset, length))) {
      // done
    } else if (await this.#tryZeroRange(offset, length)) {
      // done
    } else if (options.fast) {
      throw new NotSupportedError(`${this.path}: the file system cannot zero a range fast`);
    } else {
      await this.#writeZeroBuffers(offset, length);
    }
    if (options.fua) await this.flush();
  }

  async trim(offset: number, length: number): Promise<void> {
    if (this.readOnly) throw this.#readOnlyError();
    // TRIM is advisory: where holes cannot be punched the data simply stays.
    await this.#tryPunch(offset, length);
  }

  flush(): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    return this.#flusher.flush();
  }

  async extents(offset: number, length: number): Promise<Extent[]> {
    const end = offset + length;
    const extents: Extent[] = [];
    if (!this.#canSeekHoles) {
      pushExtent(extents, length, false, false);
      return extents;
    }
    let at = offset;
    try {
      while (at < end) {
        let data = await nativeFs.seekData(this.#fd, at);
        if (data < 0 || data > end) data = end;
        pushExtent(extents, data - at, true, true);
        if (data >= end) break;
        let hole = await nativeFs.seekHole(this.#fd, data);
        if (hole < 0 || hole > end) hole = end;
        pushExtent(extents, hole - data, false, false);
        at = hole;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EINVAL" && code !== "EOPNOTSUPP") throw fromSystemError(err, `seek ${this.path}`);
      // The file system (or a block device) cannot tell holes: everything is data.
      this.#canSeekHoles = false;
      return [{ length, hole: false, zero: false }];
    }
    return extents;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poolWork > 0) await new Promise<void>((resolve) => (this.#poolWorkDone = resolve));
    for (const pipe of this.#pipes.splice(0)) this.#closePipe(pipe);
    if (!this.readOnly) await this.flush();
    await new Promise<void>((resolve, reject) => fs.close(this.#fd, (err) => (err ? reject(err) : resolve())));
  }

  async #tryPunch(offset: number, length: number): Promise<boolean> {
    if (!this.#canPunch) return false;
    try {
      await nativeFs.punchHole(this.#fd, offset, length);
      return true;
    } catch (err) {
      if (!isUnsupported(err)) throw fromSystemError(err, `punch hole in ${this.path}`);
      this.#canPunch = false;
      return false;
    }
  }

  async #tryZeroRange(offset: number, length: number): Promise<boolean> {
    if (!this.#canZeroRange) return false;
    try {
      await nativeFs.zeroRange(this.#fd, offset, length);
      return true;
    } catch (err) {
      if (!isUnsupported(err)) throw fromSystemError(err, `zero range in ${this.path}`);
      this.#canZeroRange = false;
      return false;
    }
  }

  async #writeZeroBuffers(offset: number, length: number): Promise<void> {
    const zeroes = Buffer.alloc(Math.min(length, ZERO_CHUNK_BYTES));
    for (let done = 0; done < length; done += zeroes.length) {
      const n = Math.min(zeroes.length, length - done);
      await this.write(offset + done, n === zeroes.length ? zeroes : zeroes.subarray(0, n));
    }
  }

  #fdatasync(): Promise<void> {
    return new Promise((resolve, reject) =>
      fs.fdatasync(this.#fd, (err) => (err ? reject(fromSystemError(err, `flush ${this.path}`)) : resolve())),
    );
  }

  #readOnlyError(): ReadOnlyError {
    return new ReadOnlyError(`${this.path} is open read-only`);
  }

  get isBlockDevice(): boolean {
    return this.#isBlockDevice;
  }
}

const EAGAIN = 11;

/** A pipe for receiveRange holds one write of up to 1 MiB (what Linux lets anyone ask for): a bigger one goes the usual way. */
const PIPE_BYTES = 1024 * 1024;
/** Pipes in use at once, per file: the writes of several clients at queue depth 8. */
const MAX_PIPES = 32;

interface Pipe {
  readFd: number;
  writeFd: number;
  capacity: number;
}

interface QueuedWrite {
  offset: number;
  data: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

function isUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EOPNOTSUPP" || code === "ENOTSUP" || code === "ENODEV" || code === "EINVAL";
}

function fsOpen(path: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

async function create(path: string, sizeBytes: number): Promise<number> {
  try {
    const fd = await fsOpen(path, "wx+");
    fs.ftruncateSync(fd, sizeBytes);
    return fd;
  } catch (err) {
    throw fromSystemError(err, `create ${path}`);
  }
}
