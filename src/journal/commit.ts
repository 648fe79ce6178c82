/**
 * The overlay half of a failover commit: copy what the recovered VM wrote
 * (the overlay's own blocks) into the replica. Idempotent, so a commit cut
 * short by a crash simply runs again. The journal half (promotion through the
 * failover point) and the persisted phases are in Journal.commit.
 */
import type { BlockDevice } from "../blockdev/index.js";
import type { Overlay } from "./overlay.js";

export async function copyOverlay(overlay: Overlay, replica: BlockDevice, onProgress?: (doneBytes: number, totalBytes: number) => void): Promise<void> {
  const runs = overlay.ownRuns();
  const total = runs.reduce((n, r) => n + r.length, 0);
  let done = 0;
  for (const r of runs) {
    if (r.zero) await replica.writeZeroes(r.offset, r.length);
    else {
      for (let at = r.offset; at < r.offset + r.length; at += 1 << 20) {
        const n = Math.min(1 << 20, r.offset + r.length - at);
        await replica.write(at, await overlay.read(at, n));
      }
    }
    done += r.length;
    onProgress?.(done, total);
  }
}
