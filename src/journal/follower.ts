/**
 * A read-only journal that keeps up with a writer in another process (the
 * recovery site appends while `lifeline journal serve` serves views of it).
 *
 * Why re-open rather than follow the tail: a read-only open is the one code
 * path that already reads the files a writer leaves (snapshot, then headers,
 * torn tail tolerated), and it stays correct across everything a writer does:
 * appends, new segments, checkpoints, promotion deleting whole segments. So
 * `current()` compares a cheap fingerprint of the files (segment names, the
 * last segment's size, the state and group files) with the one taken before the
 * last open, and re-opens only when it changed. The fingerprint is taken
 * before the open, so what a writer adds during an open shows up next time.
 *
 * A journal that views still read stays open until the last of them is
 * released: an older journal's segments remain readable even when a writer has
 * deleted them since (their descriptors stay open).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { GROUP_FILE, SEGMENT_DIR, STATE_FILE } from "./group-files.js";
import { Journal } from "./journal.js";
import { parseSegmentFileName } from "./segment.js";

interface Held {
  journal: Journal;
  users: number;
}

export class JournalFollower {
  readonly dir: string;
  readonly #onRefreshError: (err: unknown) => void;
  #current: Held;
  #fingerprint: string;
  #refreshing: Promise<Held> | undefined;
  readonly #held = new Map<Journal, Held>();
  #closed = false;

  private constructor(dir: string, journal: Journal, fingerprint: string, onRefreshError: (err: unknown) => void) {
    this.dir = dir;
    this.#current = { journal, users: 0 };
    this.#fingerprint = fingerprint;
    this.#onRefreshError = onRefreshError;
    this.#held.set(journal, this.#current);
  }

  /** `onRefreshError` hears why a re-open failed; the journal opened before stays in use meanwhile. */
  static async open(dir: string, onRefreshError: (err: unknown) => void): Promise<JournalFollower> {
    const fingerprint = await journalFingerprint(dir);
    return new JournalFollower(dir, await Journal.open(dir, { readOnly: true }), fingerprint, onRefreshError);
  }

  /** The journal as the files are now (re-opened if they changed). Concurrent callers share one re-open. */
  async current(): Promise<Journal> {
    return (await this.#fresh()).journal;
  }

  /** Like `current`, and keeps that journal open until `release` is called with it. */
  async acquire(): Promise<Journal> {
    const held = await this.#fresh();
    held.users++;
    return held.journal;
  }

  async release(journal: Journal): Promise<void> {
    const held = this.#held.get(journal);
    if (!held) return;
    held.users--;
    if (held.users === 0 && (held !== this.#current || this.#closed)) await this.#closeHeld(held);
  }

  /** Closes the current journal; those still held close when released. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#refreshing?.catch(() => undefined);
    const held = this.#current;
    if (held.users === 0) await this.#closeHeld(held);
  }

  #fresh(): Promise<Held> {
    if (this.#closed) return Promise.resolve(this.#current);
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<Held> {
    try {
      const fingerprint = await journalFingerprint(this.dir);
      if (fingerprint === this.#fingerprint) return this.#current;
      const journal = await Journal.open(this.dir, { readOnly: true });
      if (this.#closed) {
        await journal.close();
        return this.#current;
      }
      const old = this.#current;
      this.#current = { journal, users: 0 };
      this.#held.set(journal, this.#current);
      this.#fingerprint = fingerprint;
      if (old.users === 0) await this.#closeHeld(old);
    } catch (err) {
      this.#onRefreshError(err);
    }
    return this.#current;
  }

  async #closeHeld(held: Held): Promise<void> {
    this.#held.delete(held.journal);
    await held.journal.close();
  }
}

/** What changes whenever a writer appends, rolls a segment, promotes or reconfigures. */
async function journalFingerprint(dir: string): Promise<string> {
  const segDir = path.join(dir, SEGMENT_DIR);
  const names = (await fs.readdir(segDir)).filter((n) => parseSegmentFileName(n) !== undefined).sort();
  const last = names[names.length - 1];
  const parts: Array<string | number> = [names.join(",")];
  if (last !== undefined) parts.push((await fs.stat(path.join(segDir, last))).size);
  for (const file of [STATE_FILE, GROUP_FILE]) {
    // A journal that has not saved its state yet has no state file.
    const st = await fs.stat(path.join(dir, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    parts.push(st ? `${st.size}@${st.mtimeMs}` : "-");
  }
  return parts.join("|");
}
