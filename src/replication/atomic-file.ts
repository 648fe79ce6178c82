/**
 * The one way replication state reaches the disk (STYLE 9): write a temp
 * file, fsync it, rename it over the old one, fsync the directory; on failure
 * the temp file is removed and the old file stays whole.
 */
import fs from "node:fs/promises";
import path from "node:path";

export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const fh = await fs.open(tmp, "w");
    try {
      await fh.writeFile(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
    const dir = await fs.open(path.dirname(file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
