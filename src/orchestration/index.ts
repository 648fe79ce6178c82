export * from "./compute/index.js";
export { parsePoint, resolvePoint, type PointRequest, type ResolvedPoint, type TagLookup } from "./point.js";
export { MemoryTaskStore, newTask, runTask, aroundEachStep, beforeAllSteps, type StepHooks, type Step, type StepRecord, type TaskRecord, type TaskState, type TaskStore } from "./tasks.js";
export { bootSequence, type ExportRegistry, type RecoveryGroup, type RecoveryVm } from "./recovery-group.js";
export { FailoverTest, type TestReport } from "./failover-test.js";
export { LiveFailover, type FailoverState, type ReplicationControl } from "./live-failover.js";
export { restoreDisk } from "./restore.js";
export { recoverAfterRestart, type RestartReport } from "./restart.js";
