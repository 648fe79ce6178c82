/**
 * `lifeline site start`: one process with the manager (the operators' API
 * and, at `/`, the web console; the site-to-site API) and the appliance. It
 * writes `run.json` with the addresses it really listens on (ports may be 0
 * in the config), so the CLI finds it from the site directory. Stopping: stop accepting, let requests in
 * flight finish, close the appliance (which drains NBD clients and flushes),
 * close the database, remove run.json.
 */
import fs from "node:fs/promises";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyBaseLogger } from "fastify";
import { Site, announceEndpoints, writeFileAtomic, type OpenOptions } from "../site/index.js";
import { buildApp } from "./app.js";
import { buildPeerApp } from "./peer-app.js";
import { registerWebConsole } from "./web-console.js";

/** The console's build (npm run build → dist/web), beside this file's dist/src/api. */
const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web");

export interface RunInfo {
  pid: number;
  site: string;
  apiUrl: string;
  peerUrl: string;
  nbd: { host: string; port: number };
}

export interface Daemon {
  site: Site;
  run: RunInfo;
  stop(): Promise<void>;
}

export async function startDaemon(dir: string, options: OpenOptions & { logger: FastifyBaseLogger }): Promise<Daemon> {
  const site = await Site.open(dir, options);
  const { config } = site.ctx;
  try {
    const api = await buildApp(site, { logger: options.logger });
    await registerWebConsole(api, WEB_DIST);
    const peer = await buildPeerApp(site);
    await listenOn("API", () => api.listen({ host: config.host, port: config.apiPort }), config.apiPort, dir);
    await listenOn("site-to-site API", () => peer.listen({ host: config.host, port: config.peerPort }), config.peerPort, dir);
    const apiPort = (api.server.address() as AddressInfo).port;
    const peerPort = (peer.server.address() as AddressInfo).port;
    const hostInUrl = config.host.includes(":") ? `[${config.host}]` : config.host;
    site.setEndpoints({ apiUrl: `http://${hostInUrl}:${apiPort}`, peerUrl: `https://${hostInUrl}:${peerPort}` });
    const run: RunInfo = { pid: process.pid, site: site.name, apiUrl: site.ctx.endpoints.apiUrl, peerUrl: site.ctx.endpoints.peerUrl, nbd: site.ctx.appliance.nbdAddress };
    await site.resume();
    for (const f of await announceEndpoints(site.ctx)) options.logger.warn({ peer: f.site, error: f.error }, "could not tell a paired site where this one listens; it learns at its next contact");
    await writeFileAtomic(site.ctx.layout.run, JSON.stringify(run, null, 2) + "\n");
    options.logger.info({ ...run }, "site daemon started");
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        await Promise.allSettled([api.close(), peer.close()]);
        await site.close();
        await fs.rm(site.ctx.layout.run, { force: true });
        options.logger.info({ site: site.name }, "site daemon stopped");
      })());
    return { site, run, stop };
  } catch (err) {
    await site.close();
    throw err;
  }
}

/** A port in use is the commonest start-up failure: say which one and where to change it. */
async function listenOn(what: string, listen: () => Promise<unknown>, port: number, dir: string): Promise<void> {
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE" && code !== "EACCES") throw err;
    throw Object.assign(new Error(`cannot listen for the ${what} on port ${port}: ${code === "EADDRINUSE" ? "another process uses it" : "not allowed"}`, { cause: err }), {
      hint: `stop the other process, or change the port in ${dir}/lifeline.yaml`,
    });
  }
}
