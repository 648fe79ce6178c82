/**
 * Two sites in this process, A and B, each with its operators' API (driven by
 * app.inject) and its site-to-site API on a real TLS port (0: any free one),
 * over a fake appliance whose facts a test sets. Enough to test every route,
 * pairing over real mutual TLS included, without daemons.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { buildApp, buildPeerApp } from "../../src/api/index.js";
import { silentLogger } from "../../src/nbd/index.js";
import { initSite, Site, type Appliance, type ApplianceEvent, type ApplianceGroupStatus, type Checkpoint, type GroupSpec } from "../../src/site/index.js";

export class FakeAppliance implements Appliance {
  readonly specs = new Map<string, GroupSpec>();
  readonly facts = new Map<string, Partial<ApplianceGroupStatus>>();
  readonly checkpoints: Checkpoint[] = [];
  readonly listeners: ((e: ApplianceEvent) => void)[] = [];
  readonly nbdAddress = { host: "127.0.0.1", port: 10809 };
  async protect(spec: GroupSpec): Promise<void> {
    this.specs.set(spec.name, spec);
  }
  async unprotect(group: string): Promise<void> {
    this.specs.delete(group);
  }
  status(group: string): ApplianceGroupStatus | undefined {
    const spec = this.specs.get(group);
    if (!spec) return undefined;
    return {
      link: "up",
      sync: { kind: "none" },
      rpoMs: 800,
      throughputBytesPerSec: 1000,
      queueBytes: 0,
      replicatedBytes: 4096,
      replicatedWrites: 1,
      compressionRatio: 1.5,
      exports: spec.role === "protected" ? spec.disks.map((d) => `${group}/${d.vm}/${d.disk}`) : [],
      ...this.facts.get(group),
    };
  }
  async addCheckpoint(group: string, tag: string | null): Promise<Checkpoint> {
    const cp = { id: `cp-${this.checkpoints.length + 1}`, seq: this.checkpoints.length * 10, time: Date.now(), tag, consistent: true };
    this.checkpoints.push(cp);
    void group;
    return cp;
  }
  async listCheckpoints(_group: string, filter: { sinceMs?: number; tag?: string }): Promise<Checkpoint[]> {
    return this.checkpoints.filter((c) => (filter.tag === undefined || c.tag === filter.tag) && c.time >= (filter.sinceMs ?? 0));
  }
  device(): undefined {
    return undefined;
  }
  readonly pairBandwidth = new Map<string, number | null>();
  setPairBandwidth(peer: string, bytesPerSec: number | null): void {
    this.pairBandwidth.set(peer, bytesPerSec);
  }
  onEvent(listener: (e: ApplianceEvent) => void): void {
    this.listeners.push(listener);
  }
  async close(): Promise<void> {}
}

export interface TestSite {
  name: string;
  site: Site;
  app: FastifyInstance;
  appliance: FakeAppliance;
  admin: string;
  close(): Promise<void>;
}

export async function openTestSite(root: string, name: string): Promise<TestSite> {
  const dir = path.join(root, name);
  const { adminToken } = await initSite({ dir, name, host: "127.0.0.1", apiPort: 0, nbdPort: 0, replicationPort: 0 });
  const appliance = new FakeAppliance();
  const site = await Site.open(dir, { logger: silentLogger, appliance: async () => appliance });
  const peer = await buildPeerApp(site);
  await peer.listen({ host: "127.0.0.1", port: 0 });
  site.setEndpoints({ peerUrl: `https://127.0.0.1:${(peer.server.address() as AddressInfo).port}` });
  const app = await buildApp(site);
  return {
    name,
    site,
    app,
    appliance,
    admin: adminToken,
    async close() {
      await app.close();
      await peer.close();
      await site.close();
    },
  };
}

export function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-api-"));
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}

/** Pairs A with B as the CLI would: a token made at B, used at A. */
export async function pair(a: TestSite, b: TestSite): Promise<void> {
  const t = await b.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(b.admin) });
  const r = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: t.json().token } });
  if (r.statusCode !== 201) throw new Error(`pairing failed: ${r.body}`);
}
