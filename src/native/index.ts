/**
 * Our one native addon (native/, built by `npm install` with node-gyp): the
 * file and socket calls Node lacks (native/lifeline_fs.c, typed and used in
 * blockdev/native.ts) and crc32c (native/crc32c.c, in checksum/). Loaded once,
 * here; each user gives it its own type.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..", "native/build/Release/lifeline.node");

function load(): object {
  try {
    return createRequire(import.meta.url)(file) as object;
  } catch (cause) {
    throw new Error(`the native helper ${file} is missing or broken; run "npm install" (it builds it with node-gyp)`, { cause });
  }
}

export const addon: object = load();
