/**
 * Tags added to a checkpoint after it was taken ("tested at …" when a
 * failover test of it stops). A checkpoint is a record in the recovery site's
 * append-only journal and its own tag travels in the replication stream, so
 * a later tag cannot be written into it; it is kept here instead, in the
 * recovery site's database, keyed by the checkpoint's id (and its seq, so a
 * test at `seq:N` can be named by tag too). Lists of checkpoints merge these
 * in, and `--point tag:NAME` finds them when the journal holds no such tag.
 * A tag whose checkpoint the journal has promoted away simply matches nothing.
 */
import type { Db } from "./database.js";

export interface CheckpointTag {
  group: string;
  seq: number;
  /** The checkpoint tagged, or undefined for a point that was a bare seq. */
  checkpointId: string | undefined;
  tag: string;
  timeMs: number;
  by: string;
  /** What the tag records (a test report), when there is one. */
  reportId: string | undefined;
}

interface Row {
  group_name: string;
  seq: number;
  checkpoint_id: string | null;
  tag: string;
  time: number;
  by_actor: string;
  report_id: string | null;
}

export class CheckpointTagStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  add(t: CheckpointTag): void {
    this.#db
      .prepare("INSERT INTO checkpoint_tags (group_name, seq, checkpoint_id, tag, time, by_actor, report_id) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(t.group, t.seq, t.checkpointId ?? null, t.tag, t.timeMs, t.by, t.reportId ?? null);
  }

  /** Every added tag of a group, oldest first. */
  list(group: string): CheckpointTag[] {
    return (this.#db.prepare("SELECT * FROM checkpoint_tags WHERE group_name = ? ORDER BY time, rowid").all(group) as Row[]).map(fromRow);
  }

  /** The newest point given `tag`, if any. */
  find(group: string, tag: string): CheckpointTag | undefined {
    const row = this.#db.prepare("SELECT * FROM checkpoint_tags WHERE group_name = ? AND tag = ? ORDER BY time DESC, rowid DESC LIMIT 1").get(group, tag) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** A group deleted here takes its tags with it. */
  drop(group: string): void {
    this.#db.prepare("DELETE FROM checkpoint_tags WHERE group_name = ?").run(group);
  }
}

function fromRow(r: Row): CheckpointTag {
  return { group: r.group_name, seq: r.seq, checkpointId: r.checkpoint_id ?? undefined, tag: r.tag, timeMs: r.time, by: r.by_actor, reportId: r.report_id ?? undefined };
}
