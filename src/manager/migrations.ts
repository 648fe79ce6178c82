/**
 * The database's schema as numbered migrations. Each runs once, in order, in a
 * transaction, and `PRAGMA user_version` records the last one applied: a site
 * directory made by an older version is brought up to date at start-up. Never
 * edit a migration that has shipped; add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the model
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );

  CREATE TABLE peers (
    name TEXT PRIMARY KEY,
    peer_url TEXT NOT NULL,
    api_url TEXT NOT NULL,
    replication_host TEXT NOT NULL,
    replication_port INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    paired_at INTEGER NOT NULL
  );

  CREATE TABLE pairing_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_by TEXT
  );

  CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    protected_site TEXT NOT NULL,
    recovery_site TEXT NOT NULL,
    rpo_target_ms INTEGER NOT NULL,
    history_ms INTEGER NOT NULL,
    journal_limit_bytes INTEGER NOT NULL,
    checkpoint_interval_ms INTEGER NOT NULL,
    bandwidth_bytes_per_s INTEGER,
    priority TEXT NOT NULL CHECK (priority IN ('high','medium','low')),
    compression INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    state_reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE vms (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE ON UPDATE CASCADE,
    name TEXT NOT NULL,
    boot_order INTEGER NOT NULL,
    boot_delay_ms INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_name, name)
  );

  CREATE TABLE disks (
    group_name TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    path TEXT NOT NULL,
    existing INTEGER NOT NULL,
    PRIMARY KEY (group_name, vm_name, name),
    FOREIGN KEY (group_name, vm_name) REFERENCES vms(group_name, name) ON DELETE CASCADE ON UPDATE CASCADE
  );

  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info','warning','critical')),
    kind TEXT NOT NULL,
    group_name TEXT,
    message TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX events_time ON events(time);

  CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('warning','critical')),
    message TEXT NOT NULL,
    raised_at INTEGER NOT NULL,
    cleared_at INTEGER
  );
  CREATE UNIQUE INDEX alerts_active ON alerts(kind, subject) WHERE cleared_at IS NULL;

  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
  );
  `,
  // 2: recovery operations: tasks and their steps, reports, and a group failed over to this site
  `
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    group_name TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    record TEXT NOT NULL
  );
  CREATE INDEX tasks_started ON tasks(started_at);

  CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    group_name TEXT NOT NULL,
    time INTEGER NOT NULL,
    record TEXT NOT NULL
  );

  ALTER TABLE groups ADD COLUMN compute TEXT NOT NULL DEFAULT '{"driver":"none"}';
  ALTER TABLE groups ADD COLUMN failover TEXT NOT NULL DEFAULT 'none' CHECK (failover IN ('none','uncommitted','committed'));
  `,
  // 3: tags added to checkpoints after the fact ("tested at …"), kept beside the journal that holds the checkpoints
  `
  CREATE TABLE checkpoint_tags (
    group_name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    checkpoint_id TEXT,
    tag TEXT NOT NULL,
    time INTEGER NOT NULL,
    by_actor TEXT NOT NULL,
    report_id TEXT
  );
  CREATE INDEX checkpoint_tags_group ON checkpoint_tags(group_name, tag);
  `,
  // 4: per-VM compute settings (memory, CPUs, extra qemu arguments, network mappings) over the group's defaults
  `
  ALTER TABLE vms ADD COLUMN compute TEXT NOT NULL DEFAULT '{}';
  `,
  // 5: the bandwidth limit of the link to a paired site, shared by every group replicating over it
  `
  ALTER TABLE peers ADD COLUMN bandwidth_bytes_per_s INTEGER;
  `,
];
