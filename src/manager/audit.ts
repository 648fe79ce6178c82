/** The audit log: every change made through the API, who made it and when. Append-only. */
import type { Db } from "./database.js";

export interface AuditEntry {
  id: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

interface AuditRow {
  id: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  detail: string;
}

export class AuditLog {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  record(actor: string, action: string, target: string, detail: Record<string, unknown> = {}): void {
    this.#db
      .prepare("INSERT INTO audit (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)")
      .run(Date.now(), actor, action, target, JSON.stringify(detail));
  }

  list(options: { sinceMs?: number; limit?: number } = {}): AuditEntry[] {
    const rows = this.#db
      .prepare("SELECT * FROM audit WHERE time >= ? ORDER BY id DESC LIMIT ?")
      .all(options.sinceMs ?? 0, options.limit ?? 1000) as AuditRow[];
    return rows.reverse().map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  }
}
