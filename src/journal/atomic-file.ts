/**
 * The one way state that must survive a crash is written (STYLE 9): a temp
 * file beside the target, fsync, rename over the target, fsync the directory.
 * A reader sees the old file or the new one, never half of either.
 */
import fs from "node:fs/promises";
import path from "node:path";

export async function writeFileAtomic(file: string, data: Buffer | Buffer[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, "wx");
    const parts = Array.isArray(data) ? data : [data];
    let position = 0;
    for (const part of parts) {
      await handle.write(part, 0, part.length, position);
      position += part.length;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
    await fsyncDir(path.dirname(file));
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, Buffer.from(JSON.stringify(value, null, 2) + "\n"));
}

/** Makes a directory's entries (created, renamed, removed files) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads a JSON file, or returns undefined when it does not exist. */
export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
