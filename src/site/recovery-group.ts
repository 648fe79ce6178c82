/**
 * A group at its recovery site as the orchestration sees it (RecoveryGroup):
 * its journal and exports from the appliance, its VMs with the group's
 * compute settings, the compute driver they name, and the operator's before
 * and after scripts as steps of an operation. Pure wiring over the manager's
 * model; recovery.ts decides when each is used.
 */
import path from "node:path";
import type { ComputeSettings, Group, Vm } from "../manager/index.js";
import {
  NoneDriver,
  QemuDriver,
  ScriptDriver,
  runScript,
  type ComputeDriver,
  type RecoveryGroup,
  type RecoveryVm,
  type ResolvedPoint,
  type StepHooks,
} from "../orchestration/index.js";
import type { RecoveryAccess } from "./appliance.js";
import type { SiteContext } from "./context.js";
import { callPeer } from "./peer-client.js";

const DEFAULT_SCRIPT_TIMEOUT_MS = 60_000;

export function recoveryGroup(ctx: SiteContext, g: Group, access: RecoveryAccess): RecoveryGroup {
  return {
    name: g.name,
    journal: access.journal,
    vms: g.vms.map((v) => recoveryVm(g.compute, v)),
    exports: access.exports,
    driver: driverFor(g),
    workDir: path.join(ctx.layout.dir, "recovery", g.name),
  };
}

/** A VM's compute settings: its own where it has them, else the group's. */
export function recoveryVm(c: ComputeSettings, v: Vm): RecoveryVm {
  const own = v.compute ?? {};
  // The qemu driver reads these keys: an isolated user-mode NIC on the test network, a bridge on the live one.
  const test: Record<string, string> = c.testNetwork === "isolated" ? { "isolated-user-net": "on" } : {};
  const live: Record<string, string> = c.liveBridge ? { bridge: c.liveBridge } : {};
  const memoryMiB = own.memoryMiB ?? c.memoryMiB;
  const cpus = own.cpus ?? c.cpus;
  return {
    name: v.name,
    bootOrder: v.bootOrder,
    bootDelayMs: v.bootDelayMs,
    disks: v.disks.map((d) => ({ name: d.name, journalDisk: `${v.name}/${d.name}` })),
    ...(memoryMiB ? { memoryMiB } : {}),
    ...(cpus ? { cpus } : {}),
    ...(own.qemuArgs?.length ? { extraArgs: own.qemuArgs } : {}),
    networkMapping: { test: { ...test, ...own.testNetwork }, live: { ...live, ...own.liveNetwork } },
  };
}

function driverFor(g: Group): ComputeDriver {
  const c = g.compute;
  if (c.driver === "qemu") return new QemuDriver();
  if (c.driver === "script") return new ScriptDriver({ start: c.start ?? "", stop: c.stop ?? "", ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}) });
  return new NoneDriver();
}

/**
 * The group's before and after scripts, run around an operation's steps
 * (orchestration/tasks.ts decides which), with what they need in the
 * environment: the operation, the step, the point, the disks' URIs (`prefix`
 * "test/" for a test's disks). A failing script rejects with its last lines.
 */
export function scriptHooks(ctx: SiteContext, g: Group, operation: string, point: ResolvedPoint, prefix: string): StepHooks {
  const { beforeScript, afterScript, scriptTimeoutMs = DEFAULT_SCRIPT_TIMEOUT_MS } = g.compute;
  const access = ctx.appliance.recovery?.(g.name);
  const uris = g.vms.flatMap((v) => v.disks.map((d) => access?.exports.uri(`${prefix}${g.name}/${v.name}/${d.name}`) ?? ""));
  const script = (phase: "before" | "after", command: string) => async (stepName: string): Promise<string> => {
    const env = { LIFELINE_OPERATION: operation, LIFELINE_STEP: stepName, LIFELINE_PHASE: phase, LIFELINE_GROUP: g.name, LIFELINE_SITE: ctx.name, LIFELINE_POINT: point.label, LIFELINE_SEQ: String(point.seq), LIFELINE_DISK_URIS: uris.join(" ") };
    const r = await runScript(command, env, scriptTimeoutMs);
    const output = r.output.trim().split("\n").slice(-5).join(" | ");
    if (r.timedOut) throw new Error(`the ${phase} script ran longer than ${scriptTimeoutMs} ms${output ? `: ${output}` : ""}`);
    if (r.exitCode !== 0) throw new Error(`the ${phase} script failed with exit code ${r.exitCode}${output ? `: ${output}` : ""}`);
    return output || "done";
  };
  return { ...(beforeScript ? { before: script("before", beforeScript) } : {}), ...(afterScript ? { after: script("after", afterScript) } : {}) };
}

/** A call to the other site's `/peer/v1/groups/:group/:op` (quiesce, unquiesce, reverse). */
export function groupPeerCall<T>(ctx: SiteContext, site: string, group: string, op: string, body: unknown): Promise<T> {
  const peer = ctx.manager.peers.get(site);
  return callPeer<T>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "POST", path: `/peer/v1/groups/${encodeURIComponent(group)}/${op}`, body });
}
