/**
 * The manager: the database and the stores over it, opened together and
 * closed together. The site daemon holds one; the API reads through it.
 */
import { AuditLog } from "./audit.js";
import { CheckpointTagStore } from "./checkpoint-tags.js";
import { type Db, openDatabase } from "./database.js";
import { EventLog } from "./events.js";
import { GroupStore } from "./groups.js";
import { ReportLog, TaskLog } from "./operations.js";
import { PeerStore } from "./peers.js";
import { TokenStore } from "./tokens.js";

export class Manager {
  readonly db: Db;
  readonly tokens: TokenStore;
  readonly audit: AuditLog;
  readonly events: EventLog;
  readonly groups: GroupStore;
  readonly peers: PeerStore;
  readonly tasks: TaskLog;
  readonly reports: ReportLog;
  readonly checkpointTags: CheckpointTagStore;

  constructor(db: Db) {
    this.db = db;
    this.tokens = new TokenStore(db);
    this.audit = new AuditLog(db);
    this.events = new EventLog(db);
    this.groups = new GroupStore(db);
    this.peers = new PeerStore(db);
    this.tasks = new TaskLog(db);
    this.reports = new ReportLog(db);
    this.checkpointTags = new CheckpointTagStore(db);
  }

  static open(file: string): Manager {
    return new Manager(openDatabase(file));
  }

  close(): void {
    this.db.close();
  }
}
