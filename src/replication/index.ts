/**
 * Continuous replication: the splitter at the protected site, the link, and
 * the receiver at the recovery site. See DESIGN.md, "Data path at the
 * protected site" and "Replication protocol".
 */
export * from "./frames.js";
export { FrameReader, decodeFrame, encodeFrame, encodeBatch, FRAME_HEADER_BYTES, MAX_FRAME_BYTES, type EncodedFrame } from "./frame-codec.js";
export { FrameError, LinkDownError, PeerUnauthenticatedError, ProtocolError, ReceiverPausedError, ReplicationError } from "./errors.js";
