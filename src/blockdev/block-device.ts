/**
 * The one interface that every disk in Lifeline is served through: production
 * stores, replicas, point-in-time views, overlays and test doubles. Layers wrap
 * it (as nbdkit filters wrap plugins); the NBD server knows nothing else.
 *
 * Contract:
 * - Callers check ranges before calling: 0 <= offset, offset + length <= size.
 *   (The NBD server does this once, at the boundary.)
 * - `write` may keep no reference to `data` after its promise settles: the
 *   caller reuses the buffer. A device that must keep the bytes copies them.
 * - A write that resolved is readable at once by any caller; it is durable after
 *   a later `flush` resolves, or at once when written with `fua`.
 * - `flush` covers every write that resolved before `flush` was called, from
 *   any caller (this is what makes NBD multi-conn safe).
 * - `extents` tells allocation truthfully: `hole` only where reading gives
 *   zeroes and no storage is used, `zero` only where reading gives zeroes.
 */
export interface BlockDevice {
  readonly size: number;
  readonly readOnly: boolean;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer, fua?: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void>;
  trim(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  extents(offset: number, length: number): Promise<Extent[]>;
  close(): Promise<void>;
  /**
   * Optional fast path: read into the caller's buffer (the NBD server reads
   * straight into its reply, saving a copy and an allocation per request).
   */
  readInto?(buffer: Buffer, bufferOffset: number, offset: number, length: number): Promise<void>;
  /**
   * Optional fast path: sends `header`, then the bytes at [offset, offset +
   * length), to the non-blocking socket `socketFd`, as far as it takes them
   * without waiting, and without copying the bytes through our memory.
   * Resolves to how many bytes went, header included (the caller sends the
   * rest, and meets any failure there), or to "hole" without sending
   * anything when `refuseHoles` is set and the range holds a hole. A
   * rejection leaves the socket's stream broken: some of the bytes may have
   * gone.
   */
  sendRange?(socketFd: number, header: Buffer, offset: number, length: number, refuseHoles: boolean): Promise<number | "hole">;
  /**
   * Optional fast path, the other way: a WRITE's data taken from the
   * non-blocking socket `socketFd` without copying it through our memory, to
   * be written at `offset`. It takes at once what has arrived; see
   * SocketReceipt for the rest. Null when it cannot (the caller reads the data
   * its usual way).
   */
  receiveRange?(socketFd: number, offset: number, length: number): SocketReceipt | null;
}

/** A WRITE's data on its way from a socket to a device (BlockDevice.receiveRange). */
export interface SocketReceipt {
  /** Bytes taken so far. */
  readonly taken: number;
  /**
   * Waits until the rest has arrived, on the event loop and without reading
   * the socket (the caller must not read it meanwhile either), and takes it.
   * Resolves to the bytes taken in all: fewer if the client hung up, the
   * device could hold no more, or `cancel` was called (the caller reads on as
   * usual, and sees why).
   */
  rest(): Promise<number>;
  /** Ends a `rest` at once; the socket is the caller's again when it returns. */
  cancel(): void;
  /** Writes what was taken. Either this or `drop` is called, once. */
  land(): Promise<void>;
  /** Throws away what was taken, unwritten: the WRITE will not be served. */
  drop(): void;
}

export interface ZeroOptions {
  /** Make the range durable before resolving. */
  fua?: boolean;
  /** Keep the range allocated (write real zeroes instead of a hole). */
  noHole?: boolean;
  /** Fail with `NotSupportedError` rather than zero slowly (byte by byte). */
  fast?: boolean;
}

/** A run of bytes with the same allocation state; runs cover a range in order. */
export interface Extent {
  length: number;
  /** No storage behind it (reads as zeroes). */
  hole: boolean;
  /** Reads as zeroes. Always true for holes. */
  zero: boolean;
}

/** Appends an extent, merging it with the previous one when their states match. */
export function pushExtent(extents: Extent[], length: number, hole: boolean, zero: boolean): void {
  if (length <= 0) return;
  const last = extents[extents.length - 1];
  if (last && last.hole === hole && last.zero === zero) last.length += length;
  else extents.push({ length, hole, zero });
}
