/**
 * The `qemu` driver: runs `qemu-system-x86_64` with the recovered disks as NBD
 * drives. On the test network the VM gets no NIC at all (or, if the mapping
 * asks for it, user-mode networking with `restrict=on`, which cannot reach
 * anything outside the VM), so a failover test can never talk to production.
 * The serial console goes to a log file in the work dir: it is how an
 * operator (and our tests) see what the recovered VM did.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ComputeError, type ComputeDriver, type RunningVm, type VmLaunch } from "./driver.js";

export interface QemuDriverOptions {
  /** The emulator binary (default qemu-system-x86_64 on PATH). */
  binary?: string;
  /** Hardware acceleration: "kvm" where /dev/kvm exists, else "tcg" (software). */
  accel?: "kvm" | "tcg";
}

const STOP_GRACE_MS = 5_000;

export class QemuDriver implements ComputeDriver {
  readonly kind = "qemu" as const;
  readonly #binary: string;
  readonly #accel: "kvm" | "tcg";

  constructor(options: QemuDriverOptions = {}) {
    this.#binary = options.binary ?? "qemu-system-x86_64";
    this.#accel = options.accel ?? (fs.existsSync("/dev/kvm") ? "kvm" : "tcg");
  }

  /** The command line for a VM (pure, so that a plan can show it before anything runs). */
  commandLine(vm: VmLaunch): string[] {
    const consoleLog = path.join(vm.workDir, `${vm.name}.console.log`);
    const args = [
      "-name", `${vm.group}/${vm.name}`,
      "-machine", `accel=${this.#accel}`,
      "-m", String(vm.memoryMiB ?? 512),
      "-smp", String(vm.cpus ?? 1),
      "-display", "none",
      "-monitor", "none",
      "-serial", `file:${consoleLog}`,
      "-no-reboot",
    ];
    vm.disks.forEach((disk, i) => {
      args.push("-drive", `file=${disk.uri},format=raw,if=${i === 0 ? "ide" : "virtio"},cache=none`);
    });
    args.push(...this.#network(vm));
    args.push(...(vm.extraArgs ?? []));
    return args;
  }

  async start(vm: VmLaunch): Promise<RunningVm> {
    fs.mkdirSync(vm.workDir, { recursive: true });
    const args = this.commandLine(vm);
    const consoleLog = path.join(vm.workDir, `${vm.name}.console.log`);
    fs.writeFileSync(consoleLog, "");
    const child = spawn(this.#binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (err) =>
        reject(new ComputeError(`cannot run ${this.#binary}: ${err.message}`, { cause: err, hint: "install qemu-system-x86" })),
      );
    });
    // A VM that dies at once (bad disk URI, bad arguments) is a failed start, with qemu's words.
    const early = await Promise.race([exitOf(child), delay(300).then(() => null)]);
    if (early !== null) {
      throw new ComputeError(`${vm.name}: qemu exited at once (${early})`, { output: stderr });
    }
    return {
      name: vm.name,
      details: { pid: String(child.pid), console: consoleLog, command: [this.#binary, ...args].join(" ") },
      stop: () => stopChild(child),
    };
  }

  #network(vm: VmLaunch): string[] {
    if (vm.network === "test") {
      return vm.networkMapping["isolated-user-net"] === "on" ? ["-nic", "user,restrict=on,model=virtio-net-pci"] : ["-nic", "none"];
    }
    return vm.networkMapping["bridge"] ? ["-nic", `bridge,br=${vm.networkMapping["bridge"]},model=virtio-net-pci`] : ["-nic", "user,model=virtio-net-pci"];
  }
}

function exitOf(child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(describeExit(child));
  return new Promise((resolve) => child.once("exit", () => resolve(describeExit(child))));
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** SIGTERM (qemu stops cleanly on it), then SIGKILL if it lingers. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitOf(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
