/** The manager's public face: the metadata database and the model kept in it. */
export { openDatabase, schemaVersion, type Db } from "./database.js";
export { MIGRATIONS } from "./migrations.js";
export * from "./errors.js";
export { TokenStore, ROLES, roleAtLeast, hashSecret, randomId, type Role, type TokenInfo } from "./tokens.js";
export { AuditLog, type AuditEntry } from "./audit.js";
export { EventLog, type LifelineEvent, type Alert, type NewEvent, type Severity } from "./events.js";
export { GroupStore, DEFAULT_SETTINGS, PRIORITIES, type ComputeSettings, type FailoverMark, type Group, type GroupSettings, type Vm, type VmCompute, type Disk, type Priority } from "./groups.js";
export { PeerStore, PAIRING_TOKEN_TTL_MS, type Peer } from "./peers.js";
export { deriveGroupState, stateEffects, GROUP_STATES, type GroupState, type GroupStateName, type GroupFacts, type StateEffect } from "./group-state.js";
export { TaskLog, ReportLog, type TaskHead, type ReportHead } from "./operations.js";
export { CheckpointTagStore, type CheckpointTag } from "./checkpoint-tags.js";
export { Manager } from "./manager.js";
