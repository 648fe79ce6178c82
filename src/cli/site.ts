/**
 * `lifeline site init|start|pair-token`: the commands that work on a site
 * directory on this machine, and the registration of the API-client commands
 * (group, vm, status, checkpoint(s), alerts, events, token, pair).
 */
import type { Command } from "commander";
import { startDaemon } from "../api/index.js";
import { SITE_NAME, initSite } from "../site/index.js";
import { registerAdminCommands } from "./client/admin.js";
import { api, CliError, resolveTarget } from "./client/connection.js";
import { registerGroupCommands } from "./client/groups.js";
import { registerRecoveryCommands } from "./client/recovery.js";
import { makeLogger } from "./log.js";
import { parseSize } from "./units.js";
import { stopOnSignal } from "./nbd.js";

function port(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw new CliError(`${flag} "${text}" is not a port number`);
  return Number(text);
}

function streamBuffer(text: string): number {
  let bytes: number;
  try {
    bytes = parseSize(text);
  } catch (err) {
    throw new CliError(`--stream-buffer: ${(err as Error).message}`);
  }
  if (bytes < 1024 * 1024) throw new CliError(`--stream-buffer ${text} is below 1MiB`);
  return bytes;
}

function advertise(text: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new CliError(`--replication-advertise "${text}" is not HOST:PORT`, "e.g. 203.0.113.7:9440, or [2001:db8::7]:9440");
  return text;
}

export function registerSiteCommands(program: Command): void {
  const site = program.command("site").description("a site on this machine: make it, run it, pair it");
  site
    .command("init")
    .description("make a site directory: config, database, key and certificate, first admin token")
    .requiredOption("--dir <DIR>", "the site's directory")
    .requiredOption("--name <NAME>", "the site's name, e.g. A or paris")
    .option("--host <HOST>", "address to listen on and to be reached at", "127.0.0.1")
    .option("--api-port <PORT>", "the API", "8080")
    .option("--nbd-port <PORT>", "NBD exports of protected disks", "10809")
    .option("--replication-port <PORT>", "incoming replication", "9440")
    .option("--peer-port <PORT>", "the site-to-site API (default: API port + 1)")
    .option("--replication-advertise <HOST:PORT>", "where peers dial this site's replication port, if not at --host and --replication-port (NAT, port forward)")
    .option("--stream-buffer <SIZE>", "memory for each protected group's outgoing stream; past it a bitmap sync catches up (default 256MiB)")
    .option("--json", "print JSON for scripts")
    .action(async (o: { dir: string; name: string; host: string; apiPort: string; nbdPort: string; replicationPort: string; peerPort?: string; replicationAdvertise?: string; streamBuffer?: string; json?: boolean }) => {
      if (!SITE_NAME.test(o.name)) throw new CliError(`--name "${o.name}" is not a site name`, "use letters, digits, '.', '_' or '-'");
      const r = await initSite({
        dir: o.dir,
        name: o.name,
        host: o.host,
        apiPort: port("--api-port", o.apiPort),
        nbdPort: port("--nbd-port", o.nbdPort),
        replicationPort: port("--replication-port", o.replicationPort),
        ...(o.peerPort === undefined ? {} : { peerPort: port("--peer-port", o.peerPort) }),
        ...(o.replicationAdvertise === undefined ? {} : { replicationAdvertise: advertise(o.replicationAdvertise) }),
        ...(o.streamBuffer === undefined ? {} : { streamBufferBytes: streamBuffer(o.streamBuffer) }),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ dir: r.layout.dir, name: r.config.name, fingerprint: r.fingerprint, adminToken: r.adminToken, config: r.config }, null, 2) + "\n");
        return;
      }
      process.stdout.write(
        [
          `site ${r.config.name} made in ${r.layout.dir}`,
          `certificate fingerprint ${r.fingerprint}`,
          "",
          "first admin token (shown once; it is stored only as a hash):",
          `  ${r.adminToken}`,
          "",
          `start it with: lifeline site start --dir ${o.dir}`,
          "",
        ].join("\n"),
      );
    });

  site
    .command("start")
    .description("run the site daemon in the foreground (SIGTERM or Ctrl-C stops it cleanly)")
    .requiredOption("--dir <DIR>", "the site's directory")
    .action(async (o: { dir: string }) => {
      const log = makeLogger();
      const daemon = await startDaemon(o.dir, { logger: log });
      process.stdout.write(`site ${daemon.run.site}: API ${daemon.run.apiUrl} (docs ${daemon.run.apiUrl}/api/docs), NBD nbd://${daemon.run.nbd.host}:${daemon.run.nbd.port}/\n`);
      await stopOnSignal(() => daemon.stop());
    });

  site
    .command("pair-token")
    .description("make a one-time token that another site uses to pair with this one")
    .requiredOption("--dir <DIR>", "the site's directory (the site must be running)")
    .option("--json", "print JSON for scripts")
    .action(async (o: { dir: string; json?: boolean }) => {
      const r = await api<{ token: string; expiresAt: number }>(resolveTarget({ dir: o.dir }), "POST", "/pairing-tokens");
      if (o.json) return void process.stdout.write(JSON.stringify(r) + "\n");
      process.stdout.write(`${r.token}\n`);
      if (process.stderr.isTTY) {
        process.stderr.write(`valid until ${new Date(r.expiresAt).toISOString()}, once. On the other site: lifeline pair --peer URL-OF-THIS-SITE --token TOKEN\n`);
      }
    });

  registerGroupCommands(program);
  registerRecoveryCommands(program);
  registerAdminCommands(program);
}
