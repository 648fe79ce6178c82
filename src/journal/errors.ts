/**
 * Failures of the journal, in our words (STYLE 7): a class per kind, a cause,
 * and a one-line hint for the operator. Corruption always names the segment
 * file and the byte offset, so that `journal verify` and the logs point at it.
 */
export class JournalError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

/** A record in the middle of the journal is damaged, or a seq is missing. */
export class JournalCorruptError extends JournalError {
  readonly segment: string;
  readonly offset: number;
  constructor(segment: string, offset: number, reason: string, options?: { cause?: unknown; hint?: string }) {
    super(`journal corrupt in ${segment} at offset ${offset}: ${reason}`, {
      ...options,
      hint: options?.hint ?? "run `lifeline journal verify` on the group directory; restore the segment or cut the journal there",
    });
    this.segment = segment;
    this.offset = offset;
  }
}

/** An overlay's allocation map is damaged before its end: which blocks hold the overlay's writes is unknown. */
export class OverlayCorruptError extends JournalError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string, options?: { cause?: unknown; hint?: string }) {
    super(`overlay file ${file} corrupt at offset ${offset}: ${reason}`, {
      ...options,
      hint: options?.hint ?? "the overlay's flushed writes cannot be told from the view below: restore the map from a copy, or discard the overlay and start again from the view",
    });
    this.file = file;
    this.offset = offset;
  }
}

/** An append broke the stream's order (a seq that is not the next one). */
export class JournalOrderError extends JournalError {}

/** The journal was closed, or failed and refuses further work. */
export class JournalClosedError extends JournalError {}

/** Asked for a point the journal does not hold (too old, not yet written, unknown checkpoint). */
export class PointNotFoundError extends JournalError {}
