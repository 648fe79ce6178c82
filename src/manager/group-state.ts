/**
 * A group's state, as data (STYLE 5). The appliance reports facts (is the
 * link up, how far is a sync, what is the RPO); `deriveGroupState` turns them
 * into exactly one state with its reason, and `stateEffects` says which events
 * and alerts a change of state causes. The API, the CLI, the UI and the tests
 * all read the same union, so "protected" means one thing everywhere.
 */
export const GROUP_STATES = [
  "empty",
  "paused",
  "not-replicating",
  "initial-sync",
  "bitmap-sync",
  "link-down",
  "rpo-breach",
  "protected",
  "test-running",
  "failed-over",
] as const;
export type GroupStateName = (typeof GROUP_STATES)[number];

export type GroupState =
  | { state: "empty"; reason: string }
  | { state: "paused"; reason: string }
  | { state: "not-replicating"; reason: string }
  | { state: "initial-sync"; reason: string; percent: number }
  | { state: "bitmap-sync"; reason: string; percent: number }
  | { state: "link-down"; reason: string }
  | { state: "rpo-breach"; reason: string; rpoMs: number }
  | { state: "protected"; reason: string }
  | { state: "test-running"; reason: string }
  | { state: "failed-over"; reason: string };

/** What the manager knows about a group at one moment. */
export interface GroupFacts {
  hasDisks: boolean;
  paused: boolean;
  rpoTargetMs: number;
  /** "none": no replication runs for the group (not wired, or stopped). */
  link: "up" | "down" | "none";
  linkReason?: string;
  sync: { kind: "none" } | { kind: "initial" | "bitmap"; percent: number; reason: string };
  rpoMs: number | null;
  testRunning?: boolean;
  failedOver?: boolean;
  /** Protection just changed direction (a move, reverse protection): a link that is down is still connecting. */
  linkExpected?: boolean;
}

/** The one state a group is in, given the facts; the first matching rule wins, most decisive first. */
export function deriveGroupState(f: GroupFacts): GroupState {
  if (f.failedOver) return { state: "failed-over", reason: "the group runs at its recovery site" };
  if (!f.hasDisks) return { state: "empty", reason: "no VMs with disks yet (lifeline vm add)" };
  if (f.paused) return { state: "paused", reason: "replication paused by an operator" };
  if (f.testRunning) return { state: "test-running", reason: "a failover test is running; replication goes on" };
  if (f.link === "none") return { state: "not-replicating", reason: f.linkReason ?? "replication is not running for this group" };
  if (f.link === "down" && f.linkExpected) {
    // Not link-down: that state raises a critical alert, and this outage is planned and short.
    return { state: "not-replicating", reason: `protection changed direction; the link is connecting (${f.linkReason ?? "not up yet"})` };
  }
  if (f.link === "down") return { state: "link-down", reason: f.linkReason ?? "the recovery site cannot be reached" };
  if (f.sync.kind === "initial") return { state: "initial-sync", reason: f.sync.reason, percent: f.sync.percent };
  if (f.sync.kind === "bitmap") return { state: "bitmap-sync", reason: f.sync.reason, percent: f.sync.percent };
  if (f.rpoMs !== null && f.rpoMs > f.rpoTargetMs) {
    return { state: "rpo-breach", reason: `RPO ${(f.rpoMs / 1000).toFixed(1)}s is above the target of ${(f.rpoTargetMs / 1000).toFixed(1)}s`, rpoMs: f.rpoMs };
  }
  return { state: "protected", reason: "every write is replicated within the RPO target" };
}

export type StateEffect =
  | { do: "event"; severity: "info" | "warning"; kind: string; message: string }
  | { do: "raise"; alert: string; severity: "warning" | "critical"; message: string }
  | { do: "clear"; alert: string; message: string };

/** What a change from `prev` to `next` causes: an event for the change, alerts raised and cleared. */
export function stateEffects(group: string, prev: GroupStateName, next: GroupState): StateEffect[] {
  if (prev === next.state) return [];
  const effects: StateEffect[] = [
    { do: "event", severity: next.state === "protected" ? "info" : "warning", kind: "group-state", message: `group ${group}: ${prev} → ${next.state} (${next.reason})` },
  ];
  const alerting: Partial<Record<GroupStateName, string>> = { "rpo-breach": "rpo-breach", "link-down": "link-down" };
  const was = alerting[prev];
  const now = alerting[next.state];
  if (was && was !== now) effects.push({ do: "clear", alert: was, message: `group ${group}: ${was} ended (${next.reason})` });
  if (now && was !== now) effects.push({ do: "raise", alert: now, severity: now === "link-down" ? "critical" : "warning", message: `group ${group}: ${next.reason}` });
  // Sync start and end are reported by the appliance itself, with their reason and size: a short sync falls between two looks.
  return effects;
}
