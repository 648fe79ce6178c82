/**
 * A progress bar on a terminal (stderr, redrawn in place) while long work runs
 * at the site: an initial sync after `vm add`. Off the terminal it draws
 * nothing and does not wait: scripts poll `status --json` themselves.
 */
import type { GroupStatusView } from "../../site/index.js";
import { api, type Target } from "./connection.js";

const WIDTH = 30;

export function bar(percent: number): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${percent.toFixed(0).padStart(3)}%`;
}

/** Waits, drawing a bar, until the group is in sync (protected) or clearly not syncing now. */
export async function followSync(t: Target, group: string, giveUpMs = 15_000): Promise<GroupStatusView | undefined> {
  if (!process.stderr.isTTY) return undefined;
  const started = Date.now();
  let last: GroupStatusView | undefined;
  try {
    for (;;) {
      last = await api<GroupStatusView>(t, "GET", `/groups/${encodeURIComponent(group)}`);
      const syncing = last.state === "initial-sync" || last.state === "bitmap-sync";
      if (last.state === "protected" || last.state === "rpo-breach") break;
      if (!syncing && Date.now() - started > giveUpMs) break;
      const label = syncing ? `${last.state} ${bar(last.percent ?? 0)}` : `${last.state}: ${last.reason}`;
      process.stderr.write(`\r\x1b[K${group}: ${label}  (Ctrl-C stops watching; protection goes on)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    process.stderr.write("\r\x1b[K");
  }
  return last;
}
