/**
 * The appliance as it stands before replication is wired in: at the protected
 * site it serves each disk of a group over NBD as `<group>/<vm>/<disk>`,
 * straight from its production store (a FileDevice); at the recovery site it
 * makes the replica files. It reports link "none", so groups show
 * "not-replicating" with the reason, never a made-up "protected".
 *
 * The seam for replication is `protect`: when `src/replication` offers a
 * splitter device and a receiver, the protected role wraps each FileDevice in
 * the splitter (same export names, same NBD server), and the recovery role
 * starts the group's receiver writing to its journal; `status` then reports
 * the link, sync, RPO and queue from them.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { FileDevice } from "../blockdev/index.js";
import { NbdServer, StaticExports, type Logger } from "../nbd/index.js";
import { UnavailableError } from "../manager/index.js";
import type { Appliance, ApplianceEvent, ApplianceGroupStatus, Checkpoint, GroupSpec } from "./appliance.js";

interface RunningGroup {
  spec: GroupSpec;
  exports: Map<string, FileDevice>;
}

export function exportName(group: string, vm: string, disk: string): string {
  return `${group}/${vm}/${disk}`;
}

export class LocalAppliance implements Appliance {
  readonly #exports = new StaticExports();
  readonly #server: NbdServer;
  readonly #groups = new Map<string, RunningGroup>();
  readonly #listeners: ((e: ApplianceEvent) => void)[] = [];
  readonly #log: Logger;
  #address = { host: "127.0.0.1", port: 0 };

  private constructor(log: Logger) {
    this.#log = log;
    this.#server = new NbdServer({ exports: this.#exports, logger: log });
  }

  static async start(options: { host: string; nbdPort: number; logger: Logger }): Promise<LocalAppliance> {
    const a = new LocalAppliance(options.logger);
    a.#address = await a.#server.listen(options.nbdPort, options.host);
    return a;
  }

  get nbdAddress(): { host: string; port: number } {
    return this.#address;
  }

  async protect(spec: GroupSpec): Promise<void> {
    let g = this.#groups.get(spec.name);
    if (!g) {
      g = { spec, exports: new Map() };
      this.#groups.set(spec.name, g);
    }
    g.spec = spec;
    const wanted = new Map(spec.disks.map((d) => [exportName(spec.name, d.vm, d.disk), d]));
    for (const [name, device] of g.exports) {
      if (wanted.has(name) && spec.role === "protected") continue;
      this.#exports.remove(name);
      g.exports.delete(name);
      await device.close();
      this.#log.info({ export: name }, "stopped serving disk");
    }
    for (const [name, d] of wanted) {
      await fs.mkdir(path.dirname(d.path), { recursive: true });
      const device = await FileDevice.open(d.path, { sizeBytes: d.sizeBytes });
      if (spec.role !== "protected") {
        // The replica exists (sparse) for the receiver; the recovery site serves nothing until a test or failover.
        await device.close();
        continue;
      }
      if (g.exports.has(name)) {
        await device.close();
        continue;
      }
      this.#exports.add({ name, description: `${spec.name}: VM ${d.vm}, disk ${d.disk}`, device });
      g.exports.set(name, device);
      this.#log.info({ export: name, path: d.path, sizeBytes: d.sizeBytes }, "serving disk");
    }
  }

  async unprotect(group: string, options: { deleteData: boolean }): Promise<void> {
    const g = this.#groups.get(group);
    if (!g) return;
    for (const [name, device] of g.exports) {
      this.#exports.remove(name);
      await device.close();
    }
    this.#groups.delete(group);
    if (options.deleteData) {
      for (const d of g.spec.disks.filter((x) => !x.existing)) await fs.rm(d.path, { force: true });
    }
  }

  status(group: string): ApplianceGroupStatus | undefined {
    const g = this.#groups.get(group);
    if (!g) return undefined;
    return {
      link: "none",
      linkReason: "replication is not wired into the site daemon yet",
      sync: { kind: "none" },
      rpoMs: null,
      throughputBytesPerSec: 0,
      queueBytes: 0,
      replicatedBytes: 0,
      replicatedWrites: 0,
      compressionRatio: 1,
      exports: [...g.exports.keys()],
    };
  }

  async addCheckpoint(group: string): Promise<Checkpoint> {
    throw new UnavailableError("not_replicating", `group "${group}" is not replicating, so no checkpoint can be made durable at its recovery site`, {
      hint: "checkpoints need replication, which this build of the site daemon does not run yet",
    });
  }

  async listCheckpoints(): Promise<Checkpoint[]> {
    return [];
  }

  device(name: string): FileDevice | undefined {
    for (const g of this.#groups.values()) {
      const d = g.exports.get(name);
      if (d) return d;
    }
    return undefined;
  }

  /** Nothing replicates here: no link to limit. */
  setPairBandwidth(): void {}

  onEvent(listener: (e: ApplianceEvent) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    await this.#server.close();
    for (const g of this.#groups.values()) for (const device of g.exports.values()) await device.close();
    this.#groups.clear();
  }
}
