/**
 * Continuous replication: the splitter at the protected site, the link, and
 * the receiver at the recovery site. See DESIGN.md, "Data path at the
 * protected site" and "Replication protocol".
 */
export * from "./frames.js";
export { FrameReader, decodeFrame, encodeFrame, encodeBatch, compressionLikely, encodeBatchPieces, FRAME_HEADER_BYTES, MAX_FRAME_BYTES, type EncodedFrame } from "./frame-codec.js";
export { FrameError, LinkDownError, PeerUnauthenticatedError, ProtocolError, ReceiverPausedError, ReplicationError } from "./errors.js";
export { ProtectedGroup, type ProtectedGroupOptions, type CheckpointResult } from "./protected-group.js";
export { SplitterDevice } from "./splitter-device.js";
export { DirtyBitmap, DEFAULT_BLOCK_BYTES } from "./bitmap.js";
export { RangeLock } from "./range-lock.js";
export { OutgoingStream, type StreamEntry } from "./outgoing-stream.js";
export { nextState, formatBytes, formatDuration, type GroupState, type GroupInput } from "./group-state.js";
export type { GroupStatus, LinkState, ReplicationEvent, SenderStatus, SyncStatus } from "./events.js";
export { Sender, type SenderOptions } from "./sender.js";
export { Receiver, type ReceiverOptions } from "./receiver.js";
export { ReceiverGroup, type ReceiverEvent, type ReceiverGroupState } from "./receiver-group.js";
export { journalStore, type JournalSink, type JournalStore } from "./journal-sink.js";
export { generateIdentity, loadIdentity, fingerprintOf, normalizeFingerprint, type SiteIdentity } from "./site-identity.js";
export { TokenBucket } from "./token-bucket.js";
export { FrameLink } from "./link.js";
export { ActivityLog, EXTENT_BYTES } from "./activity-log.js";
export { PairBandwidth, PRIORITY_WEIGHT } from "./pair-bandwidth.js";
