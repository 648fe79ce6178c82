/**
 * Failures of replication, in our words (STYLE 7): a class per kind, a cause,
 * and a one-line hint for the operator. Socket and TLS errors are translated
 * into these at the link's boundary; a malformed frame always says why.
 */
export class ReplicationError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** A frame failed its checks (length, version, checksum, fields): it is never applied. */
export class FrameError extends ReplicationError {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`malformed replication frame: ${reason}`, {
      ...options,
      hint: "the connection is dropped and the sender resends from the receiver's durable seq; if it repeats, check the network path (a proxy rewriting bytes?) and both versions",
    });
    this.reason = reason;
  }
}

/** The peer's certificate is not the one pinned at pairing, or there is none. */
export class PeerUnauthenticatedError extends ReplicationError {
  constructor(message: string) {
    super(message, { hint: "pair the sites again, or fix the pinned fingerprint in the peer's settings" });
  }
}

/** The peer broke the protocol (wrong order, unknown group, a gap in seqs). */
export class ProtocolError extends ReplicationError {}

/** The recovery site cannot take more writes for now (journal full, disk error). */
export class ReceiverPausedError extends ReplicationError {}

/** The link went down (socket closed, reset, timed out). */
export class LinkDownError extends ReplicationError {}
