/**
 * A site directory's layout, and the one way its small files are written
 * (STYLE 9): temp file, fsync, rename, fsync the directory. Secrets get mode
 * 0600 from the moment they exist.
 */
import fs from "node:fs/promises";
import path from "node:path";

export interface SiteLayout {
  dir: string;
  config: string;
  database: string;
  key: string;
  cert: string;
  /** An admin token for the CLI on this machine (`--dir`), readable only by the site's user. */
  cliToken: string;
  /** Written by a running daemon: its pid and the addresses it really listens on. */
  run: string;
  data: string;
}

export function siteLayout(dir: string): SiteLayout {
  const d = path.resolve(dir);
  return {
    dir: d,
    config: path.join(d, "lifeline.yaml"),
    database: path.join(d, "lifeline.db"),
    key: path.join(d, "tls", "site.key"),
    cert: path.join(d, "tls", "site.crt"),
    cliToken: path.join(d, "cli-token"),
    run: path.join(d, "run.json"),
    data: path.join(d, "data"),
  };
}

export async function writeFileAtomic(file: string, data: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, "wx", mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
    const dirHandle = await fs.open(path.dirname(file), "r");
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}
