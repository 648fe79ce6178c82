/**
 * Compute drivers start and stop recovered VMs (DESIGN.md, "Compute drivers").
 * A driver is told which VM, which disks (as NBD URIs) and which network
 * mapping; it knows nothing of journals or replication. One interface, one
 * file per driver: `none`, `qemu`, `script`.
 */

export type NetworkKind = "test" | "live";

export interface VmLaunch {
  /** The VM's name in its group. */
  name: string;
  group: string;
  /** Disks in boot order: the first is the boot disk. */
  disks: Array<{ name: string; uri: string }>;
  network: NetworkKind;
  /** The operator's mapping for this network (e.g. "prod-net=test-net"); drivers pass it on. */
  networkMapping: Record<string, string>;
  memoryMiB?: number;
  cpus?: number;
  /** Extra arguments for the driver (qemu: appended to the command line). */
  extraArgs?: string[];
  /** Where the driver may keep files for this VM (console log, pid file). */
  workDir: string;
}

export interface RunningVm {
  readonly name: string;
  /** What an operator needs to reach it: the disks' URIs, a console log, a pid. */
  readonly details: Record<string, string>;
  stop(): Promise<void>;
}

export interface ComputeDriver {
  readonly kind: "none" | "qemu" | "script";
  start(vm: VmLaunch): Promise<RunningVm>;
}

/** A driver failed to start or stop a VM; `output` is what its command printed. */
export class ComputeError extends Error {
  readonly output: string;
  readonly hint: string | undefined;
  constructor(message: string, options: { output?: string; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ComputeError";
    this.output = options.output ?? "";
    this.hint = options.hint;
  }
}
