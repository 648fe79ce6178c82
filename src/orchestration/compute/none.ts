/**
 * The `none` driver: the disks are served and that is all; an operator or an
 * outside tool boots the VMs from the URIs it reports.
 */
import type { ComputeDriver, RunningVm, VmLaunch } from "./driver.js";

export class NoneDriver implements ComputeDriver {
  readonly kind = "none" as const;

  async start(vm: VmLaunch): Promise<RunningVm> {
    const details = Object.fromEntries(vm.disks.map((d) => [`disk:${d.name}`, d.uri]));
    return { name: vm.name, details, stop: async () => {} };
  }
}
