export { ComputeError, type ComputeDriver, type NetworkKind, type RunningVm, type VmLaunch } from "./driver.js";
export { NoneDriver } from "./none.js";
export { QemuDriver, type QemuDriverOptions } from "./qemu.js";
export { ScriptDriver, runScript, scriptEnvironment, type ScriptDriverOptions, type ScriptResult } from "./script.js";
