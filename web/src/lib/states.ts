/**
 * How each group state reads: a tone for colour, and words and a symbol so
 * that trouble never depends on colour alone.
 */
import type { GroupStateName } from "../api/types";

export type Tone = "ok" | "warn" | "bad" | "info" | "idle";

export const STATE_LOOK: Record<GroupStateName, { label: string; tone: Tone; symbol: string }> = {
  protected: { label: "Protected", tone: "ok", symbol: "✓" },
  "initial-sync": { label: "Initial sync", tone: "info", symbol: "↻" },
  "bitmap-sync": { label: "Resyncing", tone: "warn", symbol: "↻" },
  "rpo-breach": { label: "RPO breach", tone: "bad", symbol: "!" },
  "link-down": { label: "Link down", tone: "bad", symbol: "✕" },
  "not-replicating": { label: "Not replicating", tone: "bad", symbol: "✕" },
  "test-running": { label: "Test running", tone: "info", symbol: "▶" },
  "failed-over": { label: "Failed over", tone: "warn", symbol: "⇄" },
  paused: { label: "Paused", tone: "warn", symbol: "‖" },
  empty: { label: "No disks", tone: "idle", symbol: "○" },
};

export function inTrouble(state: GroupStateName): boolean {
  return STATE_LOOK[state].tone === "bad";
}

export function rpoTone(rpoMs: number | null, targetMs: number): Tone {
  if (rpoMs === null) return "idle";
  if (rpoMs > targetMs) return "bad";
  if (rpoMs > targetMs * 0.5) return "warn";
  return "ok";
}
