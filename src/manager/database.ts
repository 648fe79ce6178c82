/**
 * The site's metadata database: SQLite through better-sqlite3, in WAL mode so
 * that readers never wait for the writer, with foreign keys on and the
 * numbered migrations applied at open. One process owns a site directory, so a
 * synchronous driver is the simplest correct thing: every change is one short
 * transaction on the event loop.
 */
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function schemaVersion(db: Db): number {
  return db.pragma("user_version", { simple: true }) as number;
}

function migrate(db: Db): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new Error(`the database is at schema ${current}, newer than this lifeline (${MIGRATIONS.length}); upgrade lifeline`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
