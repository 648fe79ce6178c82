/**
 * The two-site demo as a function, for `lifeline demo` (src/cli/demo.ts) and
 * its test: sites A (protected) and B (recovery) in DIR/A and DIR/B, paired,
 * with group `erp` (erp-db: data + log, erp-app: os) and a workload writing to
 * it. Run again on the same DIR, it resumes: nothing is made twice.
 */
import fs from "node:fs";
import path from "node:path";
import type { FastifyBaseLogger } from "fastify";
import { DemoWorkload, nbdUri, addVm, createGroup, createPairingToken, initSite, pairWith, siteLayout } from "../site/index.js";
import { startDaemon, type Daemon } from "./daemon.js";

export interface DemoPorts {
  api: number;
  nbd: number;
  replication: number;
  peer: number;
}

export interface DemoOptions {
  dir: string;
  logger: FastifyBaseLogger;
  /** Default: A on 8080/10809/9440/8081, B on 8090/10819/9450/8091; tests pass zeros. */
  ports?: { A: DemoPorts; B: DemoPorts };
}

export interface Demo {
  a: Daemon;
  b: Daemon;
  /** Admin tokens of A and B (their cli-token files). */
  tokens: { A: string; B: string };
  nbdUris: string[];
  workload: DemoWorkload;
  banner(): string;
  stop(): Promise<void>;
}

const DEFAULT_PORTS = {
  A: { api: 8080, nbd: 10809, replication: 9440, peer: 8081 },
  B: { api: 8090, nbd: 10819, replication: 9450, peer: 8091 },
};

const MiB = 1024 * 1024;
const VMS = [
  { name: "erp-db", disks: [{ name: "data", sizeBytes: 1024 * MiB, kind: "random" as const }, { name: "log", sizeBytes: 256 * MiB, kind: "log" as const }] },
  { name: "erp-app", disks: [{ name: "os", sizeBytes: 512 * MiB, kind: "random" as const }] },
];

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const ports = o.ports ?? DEFAULT_PORTS;
  for (const name of ["A", "B"] as const) {
    const dir = path.join(o.dir, name);
    if (fs.existsSync(siteLayout(dir).config)) continue;
    const p = ports[name];
    await initSite({ dir, name, host: "127.0.0.1", apiPort: p.api, nbdPort: p.nbd, replicationPort: p.replication, peerPort: p.peer });
  }
  const a = await startDaemon(path.join(o.dir, "A"), { logger: o.logger });
  let b: Daemon;
  try {
    b = await startDaemon(path.join(o.dir, "B"), { logger: o.logger });
  } catch (err) {
    await a.stop();
    throw err;
  }
  const ctxA = a.site.ctx;
  if (!ctxA.manager.peers.find("B")) await pairWith(ctxA, createPairingToken(b.site.ctx, "demo").token, "demo");
  if (!ctxA.manager.groups.has("erp")) await createGroup(ctxA, "erp", "B", { rpoTargetMs: 5000 }, "demo");
  const have = new Set(ctxA.manager.groups.get("erp").vms.map((v) => v.name));
  for (const vm of VMS.filter((v) => !have.has(v.name))) {
    await addVm(ctxA, "erp", { name: vm.name, disks: vm.disks.map(({ name, sizeBytes }) => ({ name, sizeBytes })) }, "demo");
  }
  // The workload follows the group: after a move it writes where the disks are served now.
  const served = (name: string) => ctxA.appliance.device(name) ?? b.site.ctx.appliance.device(name);
  const targets = VMS.flatMap((vm) =>
    vm.disks.map((d) => {
      const name = `erp/${vm.name}/${d.name}`;
      if (!served(name)) throw new Error(`the demo's disk ${name} is not served`);
      return {
        get device() {
          const device = served(name);
          if (!device) throw new Error(`${name} is not served at either site now (a move is under way)`);
          return device;
        },
        kind: d.kind,
      };
    }),
  );
  const workload = new DemoWorkload(targets);
  workload.start();
  const token = (name: "A" | "B") => fs.readFileSync(siteLayout(path.join(o.dir, name)).cliToken, "utf8").trim();
  const nbd = ctxA.appliance.nbdAddress;
  const nbdUris = VMS.flatMap((vm) => vm.disks.map((d) => nbdUri(nbd, `erp/${vm.name}/${d.name}`)));
  const tokens = { A: token("A"), B: token("B") };
  return {
    a,
    b: b!,
    tokens,
    nbdUris,
    workload,
    banner() {
      const dirA = path.join(o.dir, "A");
      return [
        "",
        "Lifeline demo: site A protects group erp (VMs erp-db and erp-app) to site B, with a workload writing to its disks.",
        "",
        `  site A  API ${a.run.apiUrl}/api/v1   docs ${a.run.apiUrl}/api/docs   admin token ${tokens.A}`,
        `  site B  API ${b!.run.apiUrl}/api/v1   docs ${b!.run.apiUrl}/api/docs   admin token ${tokens.B}`,
        "",
        "Protected disks (attach them to QEMU, qemu-io, nbdcopy or fio):",
        ...nbdUris.map((u) => `  ${u}`),
        "",
        "Try, from another terminal:",
        `  lifeline status --dir ${dirA}`,
        `  lifeline checkpoint add erp --tag before-upgrade --dir ${dirA}`,
        `  lifeline checkpoints erp --dir ${path.join(o.dir, "B")}`,
        "",
        "Ctrl-C stops both sites; running the demo again resumes.",
        "",
      ].join("\n");
    },
    async stop() {
      await workload.stop();
      await a.stop();
      await b!.stop();
    },
  };
}
