/**
 * The `script` driver: the operator's own start and stop commands (for
 * libvirt, Proxmox, anything), run by /bin/sh with what they need in the
 * environment. A command that fails or outlives its timeout fails the step,
 * and its output goes with the error into the task.
 */
import { spawn } from "node:child_process";
import { ComputeError, type ComputeDriver, type RunningVm, type VmLaunch } from "./driver.js";

export interface ScriptDriverOptions {
  start: string;
  stop: string;
  timeoutMs?: number;
}

export interface ScriptResult {
  exitCode: number | null;
  output: string;
  timedOut: boolean;
}

/** The environment a VM's scripts see. */
export function scriptEnvironment(vm: VmLaunch): Record<string, string> {
  const env: Record<string, string> = {
    LIFELINE_GROUP: vm.group,
    LIFELINE_VM: vm.name,
    LIFELINE_NETWORK: vm.network,
    // The whole mapping too, for scripts that loop over it ("prod-net=bubble-net dmz=bubble-dmz").
    LIFELINE_NETWORK_MAPPING: Object.entries(vm.networkMapping).map(([from, to]) => `${from}=${to}`).join(" "),
    LIFELINE_DISK_URIS: vm.disks.map((d) => d.uri).join(" "),
    LIFELINE_WORK_DIR: vm.workDir,
  };
  for (const d of vm.disks) env[`LIFELINE_DISK_${envName(d.name)}`] = d.uri;
  for (const [from, to] of Object.entries(vm.networkMapping)) env[`LIFELINE_NET_${envName(from)}`] = to;
  if (vm.memoryMiB) env.LIFELINE_MEMORY_MIB = String(vm.memoryMiB);
  if (vm.cpus) env.LIFELINE_CPUS = String(vm.cpus);
  return env;
}

/** Runs one shell command with a timeout; never rejects. Output is capped at 64 KiB. */
export function runScript(command: string, env: Record<string, string>, timeoutMs: number): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    const collect = (d: Buffer) => (output = (output + d.toString()).slice(-65536));
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole process group: a script's own children must not outlive it.
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ exitCode: null, output: output + err.message, timedOut });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, output, timedOut });
    });
  });
}

export class ScriptDriver implements ComputeDriver {
  readonly kind = "script" as const;
  readonly #options: Required<ScriptDriverOptions>;

  constructor(options: ScriptDriverOptions) {
    this.#options = { timeoutMs: 120_000, ...options };
  }

  async start(vm: VmLaunch): Promise<RunningVm> {
    const env = scriptEnvironment(vm);
    await this.#run("start", vm.name, this.#options.start, env);
    return {
      name: vm.name,
      details: { start: this.#options.start },
      stop: () => this.#run("stop", vm.name, this.#options.stop, env),
    };
  }

  async #run(what: string, vmName: string, command: string, env: Record<string, string>): Promise<void> {
    const result = await runScript(command, env, this.#options.timeoutMs);
    if (result.timedOut) {
      throw new ComputeError(`${vmName}: the ${what} script ran longer than ${this.#options.timeoutMs} ms`, { output: result.output });
    }
    if (result.exitCode !== 0) {
      throw new ComputeError(`${vmName}: the ${what} script failed (exit code ${result.exitCode})`, { output: result.output });
    }
  }
}

function envName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}
