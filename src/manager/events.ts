/**
 * Events and alerts. Every event is kept in the event log. An alert is a
 * condition that holds now (RPO above target, link down): raising one that is
 * already active does nothing, and it clears itself when the condition ends —
 * both moves are also written to the event log, so the history stays whole.
 */
import { EventEmitter } from "node:events";
import type { Db } from "./database.js";

export type Severity = "info" | "warning" | "critical";

export interface LifelineEvent {
  id: number;
  time: number;
  severity: Severity;
  kind: string;
  group: string | null;
  message: string;
  data: Record<string, unknown>;
}

export interface Alert {
  id: number;
  kind: string;
  subject: string;
  severity: "warning" | "critical";
  message: string;
  raisedAt: number;
  clearedAt: number | null;
}

export interface NewEvent {
  severity: Severity;
  kind: string;
  group?: string | null;
  message: string;
  data?: Record<string, unknown>;
}

interface EventRow {
  id: number;
  time: number;
  severity: Severity;
  kind: string;
  group_name: string | null;
  message: string;
  data: string;
}

interface AlertRow {
  id: number;
  kind: string;
  subject: string;
  severity: "warning" | "critical";
  message: string;
  raised_at: number;
  cleared_at: number | null;
}

export class EventLog extends EventEmitter<{ event: [LifelineEvent] }> {
  readonly #db: Db;
  constructor(db: Db) {
    super();
    this.#db = db;
  }

  add(e: NewEvent): LifelineEvent {
    const time = Date.now();
    const data = e.data ?? {};
    const info = this.#db
      .prepare("INSERT INTO events (time, severity, kind, group_name, message, data) VALUES (?, ?, ?, ?, ?, ?)")
      .run(time, e.severity, e.kind, e.group ?? null, e.message, JSON.stringify(data));
    const event: LifelineEvent = { id: Number(info.lastInsertRowid), time, severity: e.severity, kind: e.kind, group: e.group ?? null, message: e.message, data };
    this.emit("event", event);
    return event;
  }

  list(options: { sinceMs?: number; group?: string; limit?: number } = {}): LifelineEvent[] {
    const rows = this.#db
      .prepare("SELECT * FROM events WHERE time >= ? AND (? IS NULL OR group_name = ?) ORDER BY id DESC LIMIT ?")
      .all(options.sinceMs ?? 0, options.group ?? null, options.group ?? null, options.limit ?? 1000) as EventRow[];
    return rows.reverse().map((r) => ({
      id: r.id,
      time: r.time,
      severity: r.severity,
      kind: r.kind,
      group: r.group_name,
      message: r.message,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  }

  /** Raises the alert `kind` about `subject` unless it is already active. Returns true if it was raised now. */
  raise(kind: string, subject: string, severity: "warning" | "critical", message: string, group: string | null = null): boolean {
    const active = this.#db.prepare("SELECT id FROM alerts WHERE kind = ? AND subject = ? AND cleared_at IS NULL").get(kind, subject);
    if (active) return false;
    this.#db
      .prepare("INSERT INTO alerts (kind, subject, severity, message, raised_at) VALUES (?, ?, ?, ?, ?)")
      .run(kind, subject, severity, message, Date.now());
    this.add({ severity, kind: `${kind}`, group, message, data: { alert: "raised", subject } });
    return true;
  }

  /** Clears the active alert `kind` about `subject`, if any. Returns true if one was cleared. */
  clear(kind: string, subject: string, message: string, group: string | null = null): boolean {
    const info = this.#db
      .prepare("UPDATE alerts SET cleared_at = ? WHERE kind = ? AND subject = ? AND cleared_at IS NULL")
      .run(Date.now(), kind, subject);
    if (info.changes === 0) return false;
    this.add({ severity: "info", kind: `${kind}-cleared`, group, message, data: { alert: "cleared", subject } });
    return true;
  }

  alerts(options: { all?: boolean } = {}): Alert[] {
    const sql = options.all ? "SELECT * FROM alerts ORDER BY id" : "SELECT * FROM alerts WHERE cleared_at IS NULL ORDER BY id";
    return (this.#db.prepare(sql).all() as AlertRow[]).map((r) => ({
      id: r.id,
      kind: r.kind,
      subject: r.subject,
      severity: r.severity,
      message: r.message,
      raisedAt: r.raised_at,
      clearedAt: r.cleared_at,
    }));
  }
}
