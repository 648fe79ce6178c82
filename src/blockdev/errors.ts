/**
 * Failures of a block device, in our words. OS errors are translated here, at
 * the device boundary; the NBD server maps these to NBD error codes.
 */
export class BlockDeviceError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** The device is read-only and was asked to change. */
export class ReadOnlyError extends BlockDeviceError {}

/** The device cannot do this (or cannot do it fast, for a fast zero). */
export class NotSupportedError extends BlockDeviceError {}

/** The storage behind the device is full. */
export class NoSpaceError extends BlockDeviceError {}

/** The storage behind the device failed. */
export class DeviceIoError extends BlockDeviceError {}

/** Wraps an OS error from the storage behind a device into one of ours. */
export function fromSystemError(err: unknown, what: string): BlockDeviceError {
  if (err instanceof BlockDeviceError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return new NoSpaceError(`${what}: no space left (${detail})`, { cause: err, hint: "free space on the storage behind this disk" });
    case "EROFS":
    case "EPERM":
    case "EACCES":
      return new ReadOnlyError(`${what}: ${detail}`, { cause: err });
    case "EOPNOTSUPP":
    case "ENOTSUP":
      return new NotSupportedError(`${what}: not supported (${detail})`, { cause: err });
    default:
      return new DeviceIoError(`${what}: ${detail}`, { cause: err });
  }
}
