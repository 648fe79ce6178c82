/** Client commands for groups, VMs, status and checkpoints. */
import path from "node:path";
import type { Command } from "commander";
import type { Checkpoint, GroupStatusView, ListedCheckpoint } from "../../site/index.js";
import { formatBytes, parseDurationMs, parseSize } from "../units.js";
import { api, CliError, clientCommand, resolveTarget, type ClientOptions } from "./connection.js";
import { formatDuration, formatRate, formatTime, print, table } from "./format.js";
import { followSync } from "./progress.js";

interface SettingsOptions extends ClientOptions {
  rpo?: string;
  history?: string;
  journalLimit?: string;
  checkpointInterval?: string;
  bandwidth?: string;
  priority?: string;
  compression?: string;
  compute?: string;
  vmMemory?: string;
  vmCpus?: string;
  computeStart?: string;
  computeStop?: string;
  testNetwork?: string;
  beforeScript?: string;
  afterScript?: string;
  scriptTimeout?: string;
}

function settingOptions(cmd: Command): Command {
  return cmd
    .option("--rpo <DURATION>", "RPO target (default 30s)")
    .option("--history <DURATION>", "history kept in the journal (default 4h)")
    .option("--journal-limit <SIZE>", "journal size limit (default 20GiB)")
    .option("--checkpoint-interval <DURATION>", "automatic checkpoints (default 1s)")
    .option("--bandwidth <RATE>", "bandwidth limit, e.g. 100MB/s, or 'unlimited'")
    .option("--priority <high|medium|low>", "priority (default medium)")
    .option("--compression <on|off>", "compress the stream (default on)")
    .option("--compute <none|qemu|script>", "how recovered VMs start: none (serve the disks), qemu, or your scripts")
    .option("--vm-memory <MiB>", "qemu: memory of each recovered VM")
    .option("--vm-cpus <N>", "qemu: CPUs of each recovered VM")
    .option("--compute-start <CMD>", "script: the command that starts a VM (its disks' NBD URIs in the environment)")
    .option("--compute-stop <CMD>", "script: the command that stops it")
    .option("--test-network <none|isolated>", "a test VM's network: none (default) or isolated user-mode networking")
    .option("--before-script <CMD>", "runs first in every recovery operation; a failure stops it (LIFELINE_OPERATION, LIFELINE_POINT, … in the environment)")
    .option("--after-script <CMD>", "runs last when a test or failover starts (re-IP, DNS); a failure undoes it")
    .option("--script-timeout <DURATION>", "how long a script may run (default 60s)");
}

/** Reads human units into the API's fields; a mistake names its flag. */
export function settingsBody(o: SettingsOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const read = <T>(flag: string, text: string | undefined, parse: (s: string) => T, key: string) => {
    if (text === undefined) return;
    try {
      body[key] = parse(text);
    } catch (err) {
      throw new CliError(`${flag}: ${(err as Error).message}`);
    }
  };
  read("--rpo", o.rpo, (s) => Math.round(parseDurationMs(s)), "rpoTargetMs");
  read("--history", o.history, (s) => Math.round(parseDurationMs(s)), "historyMs");
  read("--journal-limit", o.journalLimit, parseSize, "journalLimitBytes");
  read("--checkpoint-interval", o.checkpointInterval, (s) => Math.round(parseDurationMs(s)), "checkpointIntervalMs");
  read("--bandwidth", o.bandwidth, (s) => (/^(unlimited|none|0)$/i.test(s) ? null : parseSize(s.replace(/\/s$/i, ""))), "bandwidthBytesPerSec");
  read("--priority", o.priority, (s) => {
    if (!["high", "medium", "low"].includes(s)) throw new Error(`"${s}" is not high, medium or low`);
    return s;
  }, "priority");
  read("--compression", o.compression, (s) => {
    if (s !== "on" && s !== "off") throw new Error(`"${s}" is not on or off`);
    return s === "on";
  }, "compression");
  const computeFlags = [o.vmMemory, o.vmCpus, o.computeStart, o.computeStop, o.testNetwork, o.beforeScript, o.afterScript, o.scriptTimeout];
  if (o.compute === undefined && computeFlags.some((f) => f !== undefined)) throw new CliError("the compute options need --compute none|qemu|script");
  if (o.compute !== undefined) {
    if (!["none", "qemu", "script"].includes(o.compute)) throw new CliError(`--compute "${o.compute}" is not none, qemu or script`);
    const whole = (flag: string, text: string | undefined) => {
      if (text === undefined) return undefined;
      if (!/^\d+$/.test(text)) throw new CliError(`${flag} "${text}" is not a whole number`);
      return Number(text);
    };
    if (o.testNetwork !== undefined && !["none", "isolated"].includes(o.testNetwork)) throw new CliError(`--test-network "${o.testNetwork}" is not none or isolated`);
    const compute: Record<string, unknown> = { driver: o.compute };
    const memoryMiB = whole("--vm-memory", o.vmMemory);
    const cpus = whole("--vm-cpus", o.vmCpus);
    if (memoryMiB !== undefined) compute.memoryMiB = memoryMiB;
    if (cpus !== undefined) compute.cpus = cpus;
    if (o.computeStart !== undefined) compute.start = o.computeStart;
    if (o.computeStop !== undefined) compute.stop = o.computeStop;
    if (o.testNetwork !== undefined) compute.testNetwork = o.testNetwork;
    if (o.beforeScript !== undefined) compute.beforeScript = o.beforeScript;
    if (o.afterScript !== undefined) compute.afterScript = o.afterScript;
    if (o.scriptTimeout !== undefined) {
      try {
        compute.scriptTimeoutMs = Math.round(parseDurationMs(o.scriptTimeout));
      } catch (err) {
        throw new CliError(`--script-timeout: ${(err as Error).message}`);
      }
    }
    body.compute = compute;
  }
  return body;
}

interface VmUpdateOptions extends ClientOptions {
  memory?: string;
  cpus?: string;
  qemuArgs?: string;
  testNetwork?: string;
  liveNetwork?: string;
}

/**
 * `vm update` flags as a PATCH body: each given flag sets the VM's own value;
 * "group" (or "" for --qemu-args) drops it so that the group's applies again.
 */
export function vmUpdateBody(o: VmUpdateOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const whole = (flag: string, key: string, text: string | undefined) => {
    if (text === undefined) return;
    if (text === "group") body[key] = null;
    else if (/^\d+$/.test(text)) body[key] = Number(text);
    else throw new CliError(`${flag} "${text}" is not a whole number`, `or "group" for the group's value`);
  };
  whole("--memory", "memoryMiB", o.memory);
  whole("--cpus", "cpus", o.cpus);
  if (o.qemuArgs !== undefined) body.qemuArgs = o.qemuArgs.trim() === "" || o.qemuArgs === "group" ? null : o.qemuArgs.trim().split(/\s+/);
  const mapping = (flag: string, key: string, text: string | undefined) => {
    if (text === undefined) return;
    if (text === "group") return void (body[key] = null);
    const pairs = text.split(",").filter((p) => p.trim() !== "").map((p) => p.split("="));
    if (pairs.some((p) => p.length !== 2 || !p[0] || !p[1])) throw new CliError(`${flag} "${text}" is not FROM=TO[,FROM=TO…]`, "e.g. --test-network prod-net=bubble-net");
    body[key] = Object.fromEntries(pairs.map(([from, to]) => [from!.trim(), to!.trim()]));
  };
  mapping("--test-network", "testNetwork", o.testNetwork);
  mapping("--live-network", "liveNetwork", o.liveNetwork);
  if (Object.keys(body).length === 0) throw new CliError("nothing to change", "give --memory, --cpus, --qemu-args, --test-network or --live-network");
  return body;
}

/** NAME:SIZE[:PATH] */
export function parseDiskSpec(text: string): { name: string; sizeBytes: number; path?: string } {
  const [name, size, ...rest] = text.split(":");
  if (!name || !size) throw new CliError(`--disk "${text}" is not NAME:SIZE[:PATH]`, "e.g. --disk data:20GiB or --disk data:20GiB:/var/lib/vms/data.raw");
  let sizeBytes: number;
  try {
    sizeBytes = parseSize(size);
  } catch (err) {
    throw new CliError(`--disk ${text}: ${(err as Error).message}`);
  }
  const file = rest.join(":");
  return file ? { name, sizeBytes, path: path.resolve(file) } : { name, sizeBytes };
}

/** "5m" (that long ago) or an ISO time, as epoch ms. */
export function parseSince(text: string): number {
  try {
    return Date.now() - parseDurationMs(text);
  } catch {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new CliError(`--since "${text}" is neither a duration (5m, 2h) nor a time (2026-01-31T12:00:00Z)`);
    return t;
  }
}

function statusTable(groups: GroupStatusView[]): string {
  if (groups.length === 0) return "no groups yet; make one with: lifeline group create NAME --recovery-site SITE\n";
  return table(
    ["GROUP", "ROLE", "STATE", "RPO / TARGET", "HISTORY", "THROUGHPUT", "ALERTS", "REASON"],
    groups.map((g) => [
      g.name,
      g.role === "protected" ? `protected → ${g.recoverySite}` : `recovery ← ${g.protectedSite}`,
      g.percent === null ? g.state : `${g.state} ${g.percent.toFixed(0)}%`,
      `${formatDuration(g.rpoMs)} / ${formatDuration(g.rpoTargetMs)}`,
      `${formatDuration(g.historyCoveredMs)} / ${formatDuration(g.historyTargetMs)}`,
      formatRate(g.throughputBytesPerSec),
      g.alerts,
      g.reason,
    ]),
  );
}

function groupDetail(g: GroupStatusView): string {
  const disks = g.vms.flatMap((v) => v.disks.map((d) => [v.name, d.name, formatBytes(d.sizeBytes), d.uri ?? "-", d.path]));
  return (
    statusTable([g]) +
    `\nlink ${g.link}, queue ${formatBytes(g.queueBytes)}, replicated ${formatBytes(g.replicatedBytes)} in ${g.replicatedWrites} writes, compression ${g.compressionRatio.toFixed(2)}x\n\n` +
    (disks.length ? table(["VM", "DISK", "SIZE", "NBD", "PATH"], disks) : "no VMs; add one with: lifeline vm add GROUP VM --disk NAME:SIZE\n")
  );
}

export function registerGroupCommands(program: Command): void {
  const group = program.command("group").description("protection groups");
  settingOptions(clientCommand(group.command("create <NAME>").description("create a protection group")))
    .requiredOption("--recovery-site <SITE>", "the paired site that keeps the group's journal")
    .action(async (name: string, o: SettingsOptions & { recoverySite: string }) => {
      const g = await api<GroupStatusView>(resolveTarget(o), "POST", "/groups", { name, recoverySite: o.recoverySite, ...settingsBody(o) });
      print(o.json, g, () => `group ${g.name} created (recovery site ${g.recoverySite}); add VMs with: lifeline vm add ${g.name} VM --disk NAME:SIZE\n`);
    });
  settingOptions(clientCommand(group.command("update <NAME>").description("change a group's settings"))).action(async (name: string, o: SettingsOptions) => {
    const body = settingsBody(o);
    if (Object.keys(body).length === 0) throw new CliError("nothing to change", "give at least one option, e.g. --rpo 10s");
    const g = await api<GroupStatusView>(resolveTarget(o), "PATCH", `/groups/${encodeURIComponent(name)}`, body);
    print(o.json, g, () => `group ${g.name} updated\n`);
  });
  clientCommand(group.command("delete <NAME>").description("stop protecting a group and delete it"))
    .option("--keep-disks", "keep the disk files this site created")
    .action(async (name: string, o: ClientOptions & { keepDisks?: boolean }) => {
      await api(resolveTarget(o), "DELETE", `/groups/${encodeURIComponent(name)}${o.keepDisks ? "?keepDisks=true" : ""}`);
      print(o.json, { deleted: name }, () => `group ${name} deleted\n`);
    });

  const vm = program.command("vm").description("VMs of a group");
  clientCommand(vm.command("add <GROUP> <VM>").description("add a VM with its disks to a group"))
    .requiredOption("--disk <NAME:SIZE[:PATH]>", "a disk (repeatable); PATH: an existing file to protect", (v: string, p: string[]) => [...p, v], [])
    .option("--boot-order <N>", "boot order at recovery")
    .option("--boot-delay <DURATION>", "wait this long after booting it")
    .option("--no-wait", "do not follow the initial sync on a terminal")
    .action(async (groupName: string, vmName: string, o: ClientOptions & { disk: string[]; bootOrder?: string; bootDelay?: string; wait?: boolean }) => {
      const body: Record<string, unknown> = { name: vmName, disks: o.disk.map(parseDiskSpec) };
      if (o.bootOrder !== undefined) {
        if (!/^\d+$/.test(o.bootOrder)) throw new CliError(`--boot-order "${o.bootOrder}" is not a whole number`);
        body.bootOrder = Number(o.bootOrder);
      }
      if (o.bootDelay !== undefined) body.bootDelayMs = Math.round(parseDurationMs(o.bootDelay));
      const t = resolveTarget(o);
      let g = await api<GroupStatusView>(t, "POST", `/groups/${encodeURIComponent(groupName)}/vms`, body);
      if (!o.json && o.wait !== false) g = (await followSync(t, groupName)) ?? g;
      print(o.json, g, () => groupDetail(g));
    });
  clientCommand(vm.command("update <GROUP> <VM>").description("a VM's own compute settings at recovery, over the group's (\"group\" drops one)"))
    .option("--memory <MiB>", "qemu: memory of this VM")
    .option("--cpus <N>", "qemu: CPUs of this VM")
    .option("--qemu-args <ARGS>", "qemu: extra arguments, split at spaces")
    .option("--test-network <FROM=TO,…>", "network mapping on the test network (script: LIFELINE_NET_<FROM>; qemu: isolated-user-net=on)")
    .option("--live-network <FROM=TO,…>", "network mapping on the live network (script: LIFELINE_NET_<FROM>; qemu: bridge=BR)")
    .action(async (groupName: string, vmName: string, o: VmUpdateOptions) => {
      const g = await api<GroupStatusView>(resolveTarget(o), "PATCH", `/groups/${encodeURIComponent(groupName)}/vms/${encodeURIComponent(vmName)}`, vmUpdateBody(o));
      print(o.json, g, () => `VM ${vmName} of ${groupName}: ${JSON.stringify(g.vms.find((v) => v.name === vmName)?.compute ?? {})}\n`);
    });
  clientCommand(vm.command("remove <GROUP> <VM>").description("remove a VM from a group")).action(async (groupName: string, vmName: string, o: ClientOptions) => {
    const g = await api<GroupStatusView>(resolveTarget(o), "DELETE", `/groups/${encodeURIComponent(groupName)}/vms/${encodeURIComponent(vmName)}`);
    print(o.json, g, () => `VM ${vmName} removed from ${groupName}\n`);
  });

  clientCommand(program.command("status [GROUP]").description("groups: state, RPO against target, history, throughput, alerts")).action(async (name: string | undefined, o: ClientOptions) => {
    const t = resolveTarget(o);
    if (name) {
      const g = await api<GroupStatusView>(t, "GET", `/groups/${encodeURIComponent(name)}`);
      return print(o.json, g, () => groupDetail(g));
    }
    const groups = await api<GroupStatusView[]>(t, "GET", "/groups");
    print(o.json, groups, () => statusTable(groups));
  });

  clientCommand(program.command("checkpoint").command("add <GROUP>").description("add a checkpoint; prints its id once it is durable at the recovery site"))
    .option("--tag <TAG>", "a name for it, e.g. before-upgrade")
    .action(async (name: string, o: ClientOptions & { tag?: string }) => {
      if (!o.json && process.stderr.isTTY) process.stderr.write(`waiting for the checkpoint to be durable at the recovery site…\r`);
      const cp = await api<Checkpoint>(resolveTarget(o), "POST", `/groups/${encodeURIComponent(name)}/checkpoints`, o.tag ? { tag: o.tag } : {});
      print(o.json, cp, () => `${cp.id}\n`);
    });
  clientCommand(program.command("checkpoints <GROUP>").description("a group's checkpoints"))
    .option("--since <T>", "only newer ones: a duration (10m) or a time")
    .option("--tag <TAG>", "only those with this tag (given when taken, or added later: \"tested at …\")")
    .action(async (name: string, o: ClientOptions & { since?: string; tag?: string }) => {
      const q = new URLSearchParams();
      if (o.since) q.set("since", String(parseSince(o.since)));
      if (o.tag) q.set("tag", o.tag);
      const list = await api<ListedCheckpoint[]>(resolveTarget(o), "GET", `/groups/${encodeURIComponent(name)}/checkpoints${q.size ? `?${q}` : ""}`);
      print(o.json, list, () =>
        list.length === 0 ? "no checkpoints\n" : table(["ID", "SEQ", "TIME", "TAGS", "CONSISTENT"], list.map((c) => [c.id, c.seq, formatTime(c.time), c.tags.join(", "), c.consistent ? "yes" : "no"])),
      );
    });
}
