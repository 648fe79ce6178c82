/**
 * What recovery operations leave in the database: each task as the
 * orchestration saves it (before and after every step, so a restart finds
 * what was running), and the reports of failover tests and failovers, kept
 * as compliance evidence. Records are stored whole, as JSON; the columns are
 * what lists are sorted and filtered by.
 */
import type { Db } from "./database.js";
import { NotFoundError } from "./errors.js";

export interface TaskHead {
  id: string;
  kind: string;
  group: string;
  state: string;
  startedAtMs: number;
  endedAtMs: number | undefined;
}

export interface ReportHead {
  id: string;
  kind: "test" | "failover";
  group: string;
  timeMs: number;
}

export class TaskLog<T extends TaskHead = TaskHead> {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  save(task: T): void {
    this.#db
      .prepare(
        `INSERT INTO tasks (id, kind, group_name, state, started_at, ended_at, record) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, ended_at = excluded.ended_at, record = excluded.record`,
      )
      .run(task.id, task.kind, task.group, task.state, task.startedAtMs, task.endedAtMs ?? null, JSON.stringify(task));
  }

  get(id: string): T {
    const row = this.#db.prepare("SELECT record FROM tasks WHERE id = ?").get(id) as { record: string } | undefined;
    if (!row) throw new NotFoundError("task", id, "list tasks with: lifeline tasks --all");
    return JSON.parse(row.record) as T;
  }

  /** Newest first; without `all`, the running ones and those that ended in the last hour. */
  list(options: { all?: boolean; group?: string; limit?: number } = {}): T[] {
    const since = options.all ? 0 : Date.now() - 3_600_000;
    const rows = this.#db
      .prepare("SELECT record FROM tasks WHERE (ended_at IS NULL OR ended_at >= ?) AND (? IS NULL OR group_name = ?) ORDER BY started_at DESC LIMIT ?")
      .all(since, options.group ?? null, options.group ?? null, options.limit ?? 500) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as T);
  }

  /** Tasks that were running when the daemon stopped. */
  running(): T[] {
    return (this.#db.prepare("SELECT record FROM tasks WHERE ended_at IS NULL ORDER BY started_at").all() as { record: string }[]).map((r) => JSON.parse(r.record) as T);
  }
}

/** Reports are stored whole; `R` is the caller's record type (the orchestration's, with its point and result). */
export class ReportLog {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  add<R extends ReportHead>(report: R): R {
    this.#db.prepare("INSERT INTO reports (id, kind, group_name, time, record) VALUES (?, ?, ?, ?, ?)").run(report.id, report.kind, report.group, report.timeMs, JSON.stringify(report));
    return report;
  }

  get<R extends ReportHead = ReportHead>(id: string): R {
    const row = this.#db.prepare("SELECT record FROM reports WHERE id = ?").get(id) as { record: string } | undefined;
    if (!row) throw new NotFoundError("report", id, "list reports with: lifeline reports");
    return JSON.parse(row.record) as R;
  }

  /** Newest first. */
  list<R extends ReportHead = ReportHead>(options: { group?: string; limit?: number } = {}): R[] {
    const rows = this.#db
      .prepare("SELECT record FROM reports WHERE (? IS NULL OR group_name = ?) ORDER BY time DESC LIMIT ?")
      .all(options.group ?? null, options.group ?? null, options.limit ?? 500) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as R);
  }
}
