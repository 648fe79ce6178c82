/**
 * Failures of the NBD protocol, and the one place where our errors become NBD
 * error numbers on the wire.
 */
import { DeviceIoError, NoSpaceError, NotSupportedError, ReadOnlyError } from "../blockdev/index.js";
import { Errno } from "./protocol.js";

/** The client broke the protocol; its connection is closed (and only its). */
export class NbdProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NbdProtocolError";
  }
}

/** A request that gets an error reply; the connection goes on. */
export class NbdRequestError extends Error {
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.name = "NbdRequestError";
    this.errno = errno;
  }
}

export function toErrno(err: unknown): number {
  if (err instanceof NbdRequestError) return err.errno;
  if (err instanceof ReadOnlyError) return Errno.EPERM;
  if (err instanceof NoSpaceError) return Errno.ENOSPC;
  if (err instanceof NotSupportedError) return Errno.ENOTSUP;
  if (err instanceof DeviceIoError) return Errno.EIO;
  return Errno.EIO;
}
