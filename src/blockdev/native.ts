/**
 * The native helpers (native/lifeline_fs.c): hole punching, zeroing and
 * SEEK_DATA/SEEK_HOLE, sendfile and splice, which Node's fs does not offer. Built by `npm install`.
 */
import { addon } from "../native/index.js";

export interface NativeFs {
  punchHole(fd: number, offset: number, length: number): Promise<number>;
  zeroRange(fd: number, offset: number, length: number): Promise<number>;
  /** The next offset >= `offset` holding data, or -1 when there is none. */
  seekData(fd: number, offset: number): Promise<number>;
  /** The next offset >= `offset` in a hole (the end of file counts), or -1. */
  seekHole(fd: number, offset: number): Promise<number>;
  seekEnd(fd: number): Promise<number>;
  /** pread with RWF_NOWAIT on this thread: bytes read, or -errno (-EAGAIN: it would block). */
  preadNowait(fd: number, buffer: Buffer, bufferOffset: number, length: number, position: number): number;
  /** pwrite with RWF_NOWAIT on this thread: bytes written, or -errno (-EOPNOTSUPP where the file system cannot). */
  pwriteNowait(fd: number, buffer: Buffer, bufferOffset: number, length: number, position: number): number;
  /**
   * On the thread pool: `header`, then the file's bytes at [offset, offset + length) by sendfile, to a
   * non-blocking socket until it would block. Bytes sent, header included; SEND_RANGE_HOLE (and nothing
   * sent) when `checkHoles` is set and the range holds a hole.
   */
  sendRange(socketFd: number, fileFd: number, header: Buffer, offset: number, length: number, checkHoles: boolean): Promise<number>;
  /** A non-blocking pipe of (asked) `capacity` bytes: [readFd, writeFd, capacity granted]. */
  makePipe(capacity: number): [number, number, number];
  /** On this thread: up to `length` bytes that have arrived on a non-blocking socket, moved into a pipe by splice. Bytes moved, or -errno. */
  spliceNowait(socketFd: number, pipeWriteFd: number, length: number): number;
  /** On the thread pool: `length` bytes from a pipe to the file at `offset`, by splice. */
  drainPipe(pipeReadFd: number, fileFd: number, offset: number, length: number): Promise<number>;
  /**
   * On the event loop: waits (SO_RCVLOWAT) until `length` more bytes have arrived on the socket, which
   * the caller does not read meanwhile, and splices them into the pipe; `done(bytes moved)` runs once
   * (fewer if the client hung up, the pipe filled, or stopWaiting). Returns the descriptor watched, for stopWaiting.
   */
  spliceWhenArrived(socketFd: number, pipeWriteFd: number, length: number, done: (moved: number) => void): number;
  /** Ends a spliceWhenArrived wait at once: its callback runs before this returns. */
  stopWaiting(watchFd: number): void;
}

export const SEND_RANGE_HOLE = -2;

export const nativeFs = addon as NativeFs;
