/**
 * Copies a disk (a PIT view, usually) into a raw image file, sparse: only the
 * ranges the device reports as data are read and written; zero ranges stay
 * holes. Used by `journal export`; progress is reported in bytes of the disk.
 */
import fs from "node:fs/promises";
import { type BlockDevice, FileDevice } from "../blockdev/index.js";

const SCAN_BYTES = 1024 ** 3;
const COPY_BYTES = 1 << 20;

export async function exportImage(device: BlockDevice, outPath: string, options: { overwrite?: boolean; onProgress?: (doneBytes: number, totalBytes: number) => void } = {}): Promise<{ dataBytes: number }> {
  if (options.overwrite) await fs.rm(outPath, { force: true });
  const out = await FileDevice.open(outPath, { sizeBytes: device.size });
  let dataBytes = 0;
  try {
    for (let start = 0; start < device.size; start += SCAN_BYTES) {
      const len = Math.min(SCAN_BYTES, device.size - start);
      let at = start;
      for (const e of await device.extents(start, len)) {
        if (!e.zero) {
          for (let p = at; p < at + e.length; p += COPY_BYTES) {
            const n = Math.min(COPY_BYTES, at + e.length - p);
            await out.write(p, await device.read(p, n));
          }
          dataBytes += e.length;
        }
        at += e.length;
        options.onProgress?.(at, device.size);
      }
    }
    await out.flush();
  } finally {
    await out.close();
  }
  return { dataBytes };
}
