/**
 * The journal's size limit and the events it raises. Pure: given the size, it
 * says which level the journal is at and what changed; and given the
 * segments, how far an early promotion must go to get back under the limit.
 * The journal never refuses a write because of its size: history shrinks
 * instead, and the owner of a pin in the way is told.
 */
import type { GroupConfig, PinRecord } from "./group-files.js";

export type JournalEvent =
  | { type: "limit-warning"; sizeBytes: number; limitBytes: number }
  | { type: "limit-reached"; sizeBytes: number; limitBytes: number }
  | { type: "limit-cleared"; sizeBytes: number; limitBytes: number }
  | { type: "pin-blocks-limit"; pin: PinRecord }
  | { type: "pin-revoked"; pin: PinRecord; reason: string }
  | { type: "promoted"; fromSeq: number; throughSeq: number; deletedSegments: string[] }
  | { type: "promotion-failed"; error: Error }
  | { type: "snapshot-failed"; error: Error }
  | { type: "mark-failed"; error: Error };

export type LimitLevel = "ok" | "warning" | "limit";

export class LimitWatch {
  readonly #config: Pick<GroupConfig, "limitBytes" | "warnFraction">;
  readonly #emit: (e: JournalEvent) => void;
  #level: LimitLevel = "ok";

  constructor(config: Pick<GroupConfig, "limitBytes" | "warnFraction">, emit: (e: JournalEvent) => void) {
    this.#config = config;
    this.#emit = emit;
  }

  get level(): LimitLevel {
    return this.#level;
  }

  /** Updates the level from the journal's size, raising an event when it changes. */
  check(sizeBytes: number): LimitLevel {
    const limitBytes = this.#config.limitBytes;
    const level: LimitLevel = sizeBytes >= limitBytes ? "limit" : sizeBytes >= limitBytes * this.#config.warnFraction ? "warning" : "ok";
    if (level !== this.#level) {
      if (level === "limit") this.#emit({ type: "limit-reached", sizeBytes, limitBytes });
      else if (level === "warning" && this.#level === "ok") this.#emit({ type: "limit-warning", sizeBytes, limitBytes });
      else if (level === "ok") this.#emit({ type: "limit-cleared", sizeBytes, limitBytes });
      this.#level = level;
    }
    return level;
  }
}

/**
 * The seq to promote through so that deleting the oldest whole segments
 * brings the journal down to `targetBytes` (the last segment always stays).
 */
export function earlyPromotionTarget(segments: { lastSeq: number; sizeBytes: number }[], sizeBytes: number, targetBytes: number): number | undefined {
  let size = sizeBytes;
  let through: number | undefined;
  for (let i = 0; i < segments.length - 1 && size > targetBytes; i++) {
    size -= segments[i]!.sizeBytes;
    through = segments[i]!.lastSeq;
  }
  return through;
}
