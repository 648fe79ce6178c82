/**
 * The journal: a protection group's writes at the recovery site, in order,
 * with checkpoints; point-in-time views and copy-on-write overlays over it;
 * promotion into the replica, limits, commit. See DESIGN.md, "Storage at the
 * recovery site" and "Point-in-time views and overlays".
 */
export { Journal, type SegmentInfo } from "./journal.js";
export { JournalFollower } from "./follower.js";
export type { JournalOpenOptions } from "./journal-open.js";
export type { AppendInput } from "./append-input.js";
export { PitView } from "./pit-view.js";
export { Overlay, type OverlayOptions } from "./overlay.js";
export type { Checkpoint, CheckpointList } from "./checkpoints.js";
export type { DiskInfo, GroupConfig, JournalCreateOptions, PinKind, PinRecord } from "./group-files.js";
export type { JournalEvent, LimitLevel } from "./limits.js";
export type { OpenReport } from "./journal-open.js";
export type { PromoteOptions, PromoteResult } from "./promotion.js";
export { verifyJournal, type VerifyResult } from "./verify.js";
export { exportImage } from "./export-image.js";
export { parsePointName, resolvePoint, type PointSpec } from "./point.js";
export { JournalClosedError, JournalCorruptError, JournalError, JournalOrderError, OverlayCorruptError, PointNotFoundError } from "./errors.js";
