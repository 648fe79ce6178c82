/**
 * `lifeline nbd serve`: a standalone NBD server over files and block devices,
 * like nbdkit's file plugin.
 */
import type { Command } from "commander";
import { FileDevice } from "../blockdev/index.js";
import { NbdServer, StaticExports } from "../nbd/index.js";
import { makeLogger } from "./log.js";
import { parseSize } from "./units.js";

export interface ExportSpec {
  name: string;
  path: string;
  sizeBytes: number | undefined;
}

/** NAME=PATH[:SIZE] */
export function parseExportSpec(text: string): ExportSpec {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new Error(`--export "${text}" is not NAME=PATH[:SIZE]`);
  const name = text.slice(0, eq);
  let path = text.slice(eq + 1);
  let sizeBytes: number | undefined;
  const colon = path.lastIndexOf(":");
  if (colon > 0 && /^\d/.test(path.slice(colon + 1))) {
    sizeBytes = parseSize(path.slice(colon + 1));
    path = path.slice(0, colon);
  }
  if (!path) throw new Error(`--export "${text}" has no path`);
  return { name, path, sizeBytes };
}

export function registerNbdCommands(program: Command): void {
  const nbd = program.command("nbd").description("the NBD server on its own");
  nbd
    .command("serve")
    .description("serve files or block devices over NBD")
    .requiredOption("--export <NAME=PATH[:SIZE]>", "an export (repeatable); SIZE creates a sparse file when missing", collect, [])
    .option("--read-only <NAME>", "serve this export read-only (repeatable)", collect, [])
    .option("--host <HOST>", "address to listen on", "127.0.0.1")
    .option("--port <PORT>", "port to listen on", "10809")
    .action(async (opts: { export: string[]; readOnly: string[]; host: string; port: string }) => {
      const log = makeLogger();
      const specs = opts.export.map(parseExportSpec);
      for (const name of opts.readOnly) {
        if (!specs.some((s) => s.name === name)) throw new Error(`--read-only ${name}: no such export`);
      }
      const exports = new StaticExports();
      for (const spec of specs) {
        const device = await FileDevice.open(spec.path, { sizeBytes: spec.sizeBytes, readOnly: opts.readOnly.includes(spec.name) });
        exports.add({ name: spec.name, description: spec.path, device });
      }
      const server = new NbdServer({ exports, logger: log });
      const { port } = await server.listen(Number(opts.port), opts.host);
      for (const exp of exports.exports) {
        log.info({ export: exp.name, path: exp.description, sizeBytes: exp.device.size, readOnly: exp.device.readOnly }, "serving");
      }
      process.stdout.write(`serving ${exports.exports.map((e) => `nbd://${opts.host}:${port}/${e.name}`).join(" ")}\n`);
      await stopOnSignal(async () => {
        await server.close();
        for (const exp of exports.exports) await exp.device.close();
        log.info({}, "stopped");
      });
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Runs `stop` on the first SIGTERM or SIGINT; a second one exits at once. */
export function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`${signal}: stopping\n`);
      stop().then(resolve, reject);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  });
}
