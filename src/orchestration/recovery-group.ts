/**
 * What a recovery operation needs of a group at the recovery site: its
 * journal, its VMs and their disks (with recovery settings), where to export
 * recovered disks, a compute driver, and a work directory for overlays.
 */
import type { Journal } from "../journal/index.js";
import type { NbdExport } from "../nbd/index.js";
import type { ComputeDriver } from "./compute/index.js";

export interface RecoveryVm {
  name: string;
  bootOrder: number;
  bootDelayMs: number;
  memoryMiB?: number;
  cpus?: number;
  /** qemu: appended to its command line. */
  extraArgs?: string[];
  /** Disks in the VM's order (the first boots); `journalDisk` is the disk's name in the journal. */
  disks: Array<{ name: string; journalDisk: string }>;
  networkMapping: { test: Record<string, string>; live: Record<string, string> };
}

export interface ExportRegistry {
  add(exp: NbdExport): void;
  remove(name: string): void;
  /** The URI a client (a hypervisor) attaches the export with. */
  uri(name: string): string;
}

export interface RecoveryGroup {
  name: string;
  journal: Journal;
  vms: RecoveryVm[];
  exports: ExportRegistry;
  driver: ComputeDriver;
  /** A directory of this group's own (scratch files of overlays, VM consoles). */
  workDir: string;
}

/** VMs in boot order (ties keep their listed order). */
export function bootSequence(vms: readonly RecoveryVm[]): RecoveryVm[] {
  return [...vms].sort((a, b) => a.bootOrder - b.bootOrder);
}
