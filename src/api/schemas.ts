/** Request schemas (zod): each body, query and path checked once, here, at the boundary (STYLE 8). */
import { z } from "zod";
import { PRIORITIES, ROLES } from "../manager/index.js";

/** Group, VM and disk names go into NBD export names and file paths. */
const NAME = "[A-Za-z0-9][A-Za-z0-9._-]{0,62}";
export const Name = z.string().regex(new RegExp(`^${NAME}$`), "use letters, digits, '.', '_' or '-' (at most 63, not starting with . _ or -)");
const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();
const bytes = z.number().int().positive();

export const ComputeBody = z.object({
  driver: z.enum(["none", "qemu", "script"]),
  memoryMiB: z.number().int().min(16).max(1024 * 1024).optional(),
  cpus: z.number().int().min(1).max(256).optional(),
  start: z.string().min(1).max(4096).optional(),
  stop: z.string().min(1).max(4096).optional(),
  timeoutMs: positiveMs.optional(),
  testNetwork: z.enum(["none", "isolated"]).optional(),
  liveBridge: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, "a network interface name").optional(),
  beforeScript: z.string().min(1).max(4096).optional(),
  afterScript: z.string().min(1).max(4096).optional(),
  scriptTimeoutMs: positiveMs.optional(),
}).strict().refine((c) => c.driver !== "script" || (c.start && c.stop), "the script driver needs start and stop commands");

/** "from → to" pairs of a network mapping: names of networks, bridges, or a driver's keys. */
const NetworkMapping = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a network name"), z.string().min(1).max(200));

/** A VM's own compute settings, each over the group's. */
export const VmComputeBody = z.object({
  memoryMiB: z.number().int().min(16).max(1024 * 1024).optional(),
  cpus: z.number().int().min(1).max(256).optional(),
  qemuArgs: z.array(z.string().min(1).max(1000)).max(100).optional(),
  testNetwork: NetworkMapping.optional(),
  liveNetwork: NetworkMapping.optional(),
}).strict();

/** A change of a VM's settings: null drops one, so that the group's applies again. */
export const UpdateVmBody = z.object({
  memoryMiB: VmComputeBody.shape.memoryMiB.unwrap().nullable().optional(),
  cpus: VmComputeBody.shape.cpus.unwrap().nullable().optional(),
  qemuArgs: VmComputeBody.shape.qemuArgs.unwrap().nullable().optional(),
  testNetwork: NetworkMapping.nullable().optional(),
  liveNetwork: NetworkMapping.nullable().optional(),
}).strict();

export const GroupSettingsBody = z.object({
  rpoTargetMs: positiveMs.optional(),
  historyMs: positiveMs.optional(),
  journalLimitBytes: bytes.optional(),
  checkpointIntervalMs: positiveMs.optional(),
  bandwidthBytesPerSec: bytes.nullable().optional(),
  priority: z.enum(PRIORITIES).optional(),
  compression: z.boolean().optional(),
  compute: ComputeBody.optional(),
}).strict();

export const CreateGroupBody = GroupSettingsBody.extend({ name: Name, recoverySite: Name }).strict();

export const AddVmBody = z.object({
  name: Name,
  bootOrder: z.number().int().nonnegative().optional(),
  bootDelayMs: ms.optional(),
  compute: VmComputeBody.optional(),
  disks: z.array(z.object({
    name: Name,
    sizeBytes: bytes.refine((n) => n % 512 === 0, "a disk's size must be a multiple of 512 bytes"),
    path: z.string().refine((p) => p.startsWith("/"), "must be an absolute path").optional(),
  }).strict()).min(1, "a VM needs at least one disk").refine((d) => new Set(d.map((x) => x.name)).size === d.length, "disk names must differ"),
}).strict();

export const GroupParams = z.object({ name: Name });
export const VmParams = z.object({ name: Name, vm: Name });
export const DeleteGroupQuery = z.object({ keepDisks: z.enum(["true", "false"]).optional() });

/** An instant: epoch milliseconds or an ISO-8601 time. */
export const Instant = z.string().transform((s, ctx) => {
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: "custom", message: "not a time (epoch ms or ISO-8601)" });
    return z.NEVER;
  }
  return n;
});

export const CheckpointBody = z.object({ tag: z.string().min(1).max(200).optional() }).strict();
export const CheckpointQuery = z.object({ since: Instant.optional(), tag: z.string().optional() });
export const SinceQuery = z.object({ since: Instant.optional(), group: Name.optional() });
export const AlertsQuery = z.object({ all: z.enum(["true", "false"]).optional() });

export const CreateTokenBody = z.object({ role: z.enum(ROLES), name: z.string().min(1).max(100).optional() }).strict();
export const TokenParams = z.object({ id: z.string().min(1) });
export const PairBody = z.object({ token: z.string().min(1), peerHost: z.string().min(1).optional() }).strict();
export const PeerParams = z.object({ site: Name });
export const PeerSettingsBody = z.object({ bandwidthBytesPerSec: bytes.nullable() }).strict();

/** A point in a group's journal: latest, a checkpoint id, seq:N, an ISO time, "5.7s ago", tag:NAME. */
export const Point = z.string().min(1).max(200).optional();
/** A disk of a group as VM/DISK. */
export const VmDisk = z.string().regex(new RegExp(`^${NAME}/${NAME}$`), "name the disk as VM/DISK");

export const TestStartBody = z.object({ point: Point }).strict();
export const TestResult = z.enum(["pass", "fail", "unknown"]);
export const Notes = z.string().max(10_000);
export const TestStopBody = z.object({ result: TestResult.optional(), notes: Notes.optional() }).strict();
export const FailoverBody = z.object({ point: Point, shutdownSource: z.boolean().optional() }).strict();
export const RestoreBody = z.object({
  point: Point,
  disk: VmDisk,
  /** Default: restores/<group>-<vm>-<disk>-<seq>.raw in the site's directory. */
  out: z.string().refine((p) => p.startsWith("/"), "must be an absolute path on the site's machine").optional(),
}).strict();
export const TaskParams = z.object({ id: z.string().min(1).max(100) });
export const TasksQuery = z.object({ all: z.enum(["true", "false"]).optional(), group: Name.optional() });
export const ReportsQuery = z.object({ group: Name.optional() });
export const CommitBody = z.object({ reverseProtect: z.boolean().optional() }).strict();
export const MoveBody = z.object({ reverseProtect: z.boolean().optional() }).strict();
