/**
 * Restore: one disk of a group as it was at a point, written to a raw image
 * file (sparse), for forensics or a file-level restore. Read-only on the
 * journal; replication goes on.
 */
import { PitView, exportImage, type Journal } from "../journal/index.js";
import type { ResolvedPoint } from "./point.js";

export async function restoreDisk(
  journal: Journal,
  journalDisk: string,
  point: ResolvedPoint,
  outPath: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): Promise<{ dataBytes: number; sizeBytes: number }> {
  const view = await PitView.open(journal, journalDisk, point.seq);
  try {
    // The image replaces the file: written over an old one, the old one's data would show through the holes.
    const { dataBytes } = await exportImage(view, outPath, { overwrite: true, onProgress });
    return { dataBytes, sizeBytes: view.size };
  } finally {
    await view.close();
  }
}
