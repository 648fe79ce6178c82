/**
 * A site: its directory (config, database, key and certificate, data), the
 * manager over its database, and the appliance. `initSite` makes the
 * directory once; `Site.open` brings it up and resumes every group it had,
 * so a restart (after SIGTERM or SIGKILL) carries on where it was.
 */
import fs from "node:fs/promises";
import { Manager, ConflictError } from "../manager/index.js";
import type { Logger } from "../nbd/index.js";
import type { Appliance } from "./appliance.js";
import { readConfig, writeConfig, type SiteConfig } from "./config.js";
import type { SiteContext, SiteEndpoints } from "./context.js";
import { siteLayout, writeFileAtomic, type SiteLayout } from "./files.js";
import { applianceSpec } from "./group-ops.js";
import { createIdentity, loadIdentity } from "./identity.js";
import { Recovery } from "./recovery.js";
import { MetricsHistory } from "./metrics-history.js";
import { finishReversals } from "./reverse.js";
import { ReplicatingAppliance } from "./replicating-appliance.js";
import type { SiteIdentity } from "./identity.js";
import { fetchRemoteJournals, recordApplianceEvent, refreshStates } from "./status.js";

export interface InitOptions {
  dir: string;
  name: string;
  host: string;
  apiPort: number;
  nbdPort: number;
  replicationPort: number;
  peerPort?: number;
  replicationAdvertise?: string;
  streamBufferBytes?: number;
}

export interface InitResult {
  layout: SiteLayout;
  config: SiteConfig;
  adminToken: string;
  fingerprint: string;
}

export async function initSite(o: InitOptions): Promise<InitResult> {
  const layout = siteLayout(o.dir);
  if (await fs.stat(layout.config).then(() => true, () => false)) {
    throw new ConflictError("site_exists", `${layout.dir} already holds a site`, `start it with: lifeline site start --dir ${o.dir}`);
  }
  await fs.mkdir(layout.dir, { recursive: true, mode: 0o700 });
  await fs.mkdir(layout.data, { recursive: true });
  const config: SiteConfig = {
    name: o.name,
    host: o.host,
    apiPort: o.apiPort,
    nbdPort: o.nbdPort,
    replicationPort: o.replicationPort,
    peerPort: o.peerPort ?? (o.apiPort === 0 ? 0 : o.apiPort + 1),
    ...(o.replicationAdvertise ? { replicationAdvertise: o.replicationAdvertise } : {}),
    ...(o.streamBufferBytes ? { streamBufferBytes: o.streamBufferBytes } : {}),
  };
  const identity = await createIdentity(o.name, layout.key, layout.cert);
  const manager = Manager.open(layout.database);
  try {
    manager.db.prepare("INSERT INTO meta (key, value) VALUES ('site', ?)").run(o.name);
    const admin = manager.tokens.create("admin", "first admin", "site init");
    const cli = manager.tokens.create("admin", "local CLI (cli-token file)", "site init");
    await writeFileAtomic(layout.cliToken, cli.token + "\n", 0o600);
    manager.audit.record("site init", "site.init", o.name, { fingerprint: identity.fingerprint });
    manager.events.add({ severity: "info", kind: "site-created", message: `site ${o.name} created` });
    // Written last: a directory with a config is a whole site.
    await writeConfig(layout.config, config);
    return { layout, config, adminToken: admin.token, fingerprint: identity.fingerprint };
  } finally {
    manager.close();
  }
}

export interface OpenOptions {
  logger: Logger;
  /** Makes the appliance; the default is the ReplicatingAppliance (NBD, splitter, sender, receiver, journals). */
  appliance?: (o: ApplianceContext) => Promise<Appliance>;
}

export interface ApplianceContext {
  config: SiteConfig;
  layout: SiteLayout;
  identity: SiteIdentity;
  /** Fingerprints of the paired sites. */
  pinnedPeers: string[];
  logger: Logger;
}

export class Site {
  readonly ctx: SiteContext;
  /** Failover tests, failovers, commits, rollbacks and restores of the groups recovered here. */
  readonly recovery: Recovery;
  /** The last hour of each group's RPO, throughput and queue, sampled with the states (the console's charts). */
  readonly history = new MetricsHistory();
  #timer: NodeJS.Timeout | undefined;
  #remoteTimer: NodeJS.Timeout | undefined;
  #remoteBusy = false;

  private constructor(ctx: SiteContext) {
    this.ctx = ctx;
    this.recovery = new Recovery(ctx);
  }

  static async open(dir: string, options: OpenOptions): Promise<Site> {
    const layout = siteLayout(dir);
    const config = await readConfig(layout.config);
    const identity = await loadIdentity(layout.key, layout.cert);
    const manager = Manager.open(layout.database);
    let appliance: Appliance;
    try {
      const ac: ApplianceContext = { config, layout, identity, pinnedPeers: manager.peers.list().map((p) => p.fingerprint), logger: options.logger };
      appliance = options.appliance
        ? await options.appliance(ac)
        : await ReplicatingAppliance.start({
            site: config.name,
            host: config.host,
            nbdPort: config.nbdPort,
            replicationPort: config.replicationPort,
            identity,
            pinnedPeers: ac.pinnedPeers,
            dataDir: layout.data,
            logger: options.logger,
            ...(config.streamBufferBytes ? { streamBufferBytes: config.streamBufferBytes } : {}),
          });
    } catch (err) {
      manager.close();
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw Object.assign(new Error(`cannot listen for NBD (port ${config.nbdPort}) or replication (port ${config.replicationPort}): another process uses it`, { cause: err }), {
          hint: `stop the other process, or change nbdPort / replicationPort in ${layout.config}`,
        });
      }
      throw err;
    }
    const endpoints: SiteEndpoints = {
      apiUrl: `http://${config.host}:${config.apiPort}`,
      peerUrl: `https://${config.host}:${config.peerPort}`,
      ...replicationEndpoint(config, appliance.replicationPort ?? config.replicationPort),
    };
    const ctx: SiteContext = { name: config.name, config, layout, identity, manager, appliance, log: options.logger, endpoints, linkExpectedUntil: new Map(), remoteJournals: new Map() };
    appliance.onEvent((e) => recordApplianceEvent(ctx, e));
    return new Site(ctx);
  }

  get name(): string {
    return this.ctx.name;
  }

  setEndpoints(e: Partial<SiteEndpoints>): void {
    Object.assign(this.ctx.endpoints, e);
  }

  /** Restarts every group in the appliance, then keeps states, events and alerts current. */
  async resume(refreshMs = 1000): Promise<void> {
    for (const p of this.ctx.manager.peers.list()) this.ctx.appliance.setPairBandwidth(p.name, p.bandwidthBytesPerSec);
    // A reverse protection this site began goes forward before its groups open (site/reverse.ts).
    const quiesced = await finishReversals(this.ctx);
    for (const g of this.ctx.manager.groups.list()) {
      try {
        await this.ctx.appliance.protect(applianceSpec(this.ctx, g));
        this.ctx.manager.events.clear("group-start-failed", g.name, `group ${g.name} started`, g.name);
      } catch (err) {
        this.ctx.log.error({ err, group: g.name }, "group could not be resumed");
        this.ctx.manager.events.raise("group-start-failed", g.name, "critical", `group ${g.name} could not be started: ${(err as Error).message}`, g.name);
      }
    }
    for (const name of quiesced) {
      await this.ctx.appliance.holdWrites?.(name);
      this.ctx.manager.events.add({ severity: "warning", kind: "quiesced", group: name, message: `group ${name} is still quiesced for a move after a restart: writes wait until its recovery site takes it over or lets it go` });
    }
    await this.recovery.resume();
    refreshStates(this.ctx);
    this.#timer = setInterval(() => {
      try {
        refreshStates(this.ctx);
        this.history.sample(this.ctx);
        this.recovery.checkLongTests();
      } catch (err) {
        this.ctx.log.error({ err }, "refreshing group states failed");
      }
    }, refreshMs);
    this.#timer.unref();
    this.#remoteTimer = setInterval(() => {
      if (this.#remoteBusy) return;
      this.#remoteBusy = true;
      void fetchRemoteJournals(this.ctx).finally(() => (this.#remoteBusy = false));
    }, 5 * refreshMs);
    this.#remoteTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#remoteTimer) clearInterval(this.#remoteTimer);
    try {
      await this.ctx.appliance.close();
    } finally {
      this.ctx.manager.close();
    }
  }
}

/** The replication address peers dial: the advertised one, or where this site listens. */
function replicationEndpoint(config: SiteConfig, listening: number): { replicationHost: string; replicationPort: number } {
  if (!config.replicationAdvertise) return { replicationHost: config.host, replicationPort: listening };
  const at = config.replicationAdvertise.lastIndexOf(":");
  return { replicationHost: config.replicationAdvertise.slice(0, at).replace(/^\[|\]$/g, ""), replicationPort: Number(config.replicationAdvertise.slice(at + 1)) };
}
