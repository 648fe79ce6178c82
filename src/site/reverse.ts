/**
 * Reverse protection: after a committed failover, the recovered disks become
 * production at the recovery site, and the old protected site becomes the
 * recovery site, with its old production disks as the replica of a new
 * journal. The two copies differ only by what changed since the failover
 * point, so replication starts with a delta sync (blocks compared by hash,
 * only those that differ sent) instead of a full copy. Failback is a move
 * back.
 *
 * Files move by rename within the site's data directory (a disk on another
 * file system is refused with a hint); nothing is copied.
 *
 *   old production site (becomeRecoverySite)   new production site (becomeProtectedSite)
 *   stop protecting, keep the disk files       hold the recovered disks (writes wait)
 *   new journal; disk files → its replica      close the journal; replica files → production
 *   receive the group from the other site      protect the group, delta sync marker set
 *                                              switch the held disks to the splitter, release
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { SwitchDevice } from "../blockdev/index.js";
import { Journal } from "../journal/index.js";
import { UnprocessableError, type Group, type Vm } from "../manager/index.js";
import type { Checkpoint } from "./appliance.js";
import type { SiteContext } from "./context.js";
import { writeFileAtomic } from "./files.js";
import { applianceSpec, type GroupDefinition } from "./group-ops.js";
import { deltaMarker, diskSignature } from "./protected-side.js";

/**
 * After a change of direction, the new link needs a moment to connect (and
 * the new protected site to run its delta sync's handshake): so long, a down
 * link is expected and raises no critical link-down alert. Past it, it does.
 */
export const LINK_EXPECTED_MS = 60_000;

/**
 * Crash safety. Each site writes a marker (`data/.reverse-<group>.json`,
 * atomically) before it changes anything, and removes it when its half is
 * done; the group's new direction in the database is the last change but the
 * marker's removal. A site that starts with a marker finishes its half before
 * any group is opened (`finishReversals`): reverse protection only ever goes
 * forward once a site began it, and every step is idempotent (a rename whose
 * source is gone is done; a direction already changed is left). The recovery
 * site asks the old site first, and asks again (idempotent) when a restart
 * resumes the operation, so the two halves meet whichever site died when.
 *
 * A quiesce for a move is persisted the same way (`.quiesced-<group>.json`):
 * a protected site that restarts in the middle of a move keeps its writes
 * waiting until the recovery site lets them go or takes the group over.
 */
type ReverseMarker = { role: "recovery"; from: string } | { role: "protected"; aside: string };

const reverseMarker = (ctx: SiteContext, group: string) => path.join(ctx.layout.data, `.reverse-${group}.json`);
const quiesceMarker = (ctx: SiteContext, group: string) => path.join(ctx.layout.data, `.quiesced-${group}.json`);

/** At the protected site, asked by the recovery site for a move: writes wait, everything reaches it, a final checkpoint. */
export async function quiesceForMove(ctx: SiteContext, name: string, tag: string, from: string): Promise<Checkpoint> {
  const g = ctx.manager.groups.get(name);
  if (g.protectedSite !== ctx.name || g.recoverySite !== from) throw new UnprocessableError("not_reversible", `group ${name} is ${g.protectedSite} → ${g.recoverySite} here; ${from} cannot move it`);
  if (!ctx.appliance.quiesce) throw new UnprocessableError("not_supported", "this site's appliance cannot quiesce its disks");
  await writeFileAtomic(quiesceMarker(ctx, name), JSON.stringify({ for: from, tag }));
  // From here the recovery site fails over (its receiver hangs up on this site) and protection changes direction.
  ctx.linkExpectedUntil.set(name, Date.now() + LINK_EXPECTED_MS);
  let cp: Checkpoint;
  try {
    cp = await ctx.appliance.quiesce(name, tag);
  } catch (err) {
    // The appliance let the writes go again (it could not catch up): so does a restart.
    await fs.rm(quiesceMarker(ctx, name), { force: true });
    ctx.linkExpectedUntil.delete(name);
    throw err;
  }
  ctx.manager.events.add({ severity: "warning", kind: "quiesced", group: name, message: `group ${name} quiesced for a move to ${from}: writes wait; final checkpoint ${cp.id} at seq ${cp.seq}` });
  return cp;
}

export async function unquiesce(ctx: SiteContext, name: string, from: string): Promise<void> {
  const g = ctx.manager.groups.get(name);
  if (g.recoverySite !== from) throw new UnprocessableError("not_reversible", `group ${name} is not recovered at ${from}`);
  ctx.appliance.unquiesce?.(name);
  await fs.rm(quiesceMarker(ctx, name), { force: true });
  ctx.linkExpectedUntil.delete(name);
  ctx.manager.events.add({ severity: "info", kind: "unquiesced", group: name, message: `group ${name}: the move to ${from} did not happen; writes go on` });
}

/** At the old protected site: the other site protects `def` now; this site keeps its journal. Idempotent. */
export async function becomeRecoverySite(ctx: SiteContext, def: GroupDefinition, from: string): Promise<void> {
  const g = ctx.manager.groups.get(def.name);
  // Done before: the recovery site asks again when it retries or resumes after a restart.
  if (g.protectedSite === from && g.recoverySite === ctx.name && def.protectedSite === from) return;
  if (g.protectedSite !== ctx.name || g.recoverySite !== from || def.protectedSite !== from || def.recoverySite !== ctx.name) {
    throw new UnprocessableError("not_reversible", `group ${def.name} is ${g.protectedSite} → ${g.recoverySite} here; ${from} cannot reverse it to ${def.protectedSite} → ${def.recoverySite}`);
  }
  ctx.linkExpectedUntil.set(g.name, Date.now() + LINK_EXPECTED_MS);
  await writeFileAtomic(reverseMarker(ctx, g.name), JSON.stringify({ role: "recovery", from } satisfies ReverseMarker));
  await ctx.appliance.unprotect(g.name, { deleteData: false });
  const next = await finishRecoverySite(ctx, g, from);
  await ctx.appliance.protect(applianceSpec(ctx, next));
  ctx.manager.events.add({ severity: "warning", kind: "reverse-protection", group: g.name, message: `group ${g.name} is protected by ${from} now; this site keeps its journal (delta sync against the old production disks)` });
}

/** The files and the database of the old protected site's half, each step idempotent; the marker goes last. */
async function finishRecoverySite(ctx: SiteContext, g: Group, from: string): Promise<Group> {
  const dir = path.join(ctx.layout.data, g.name);
  if (g.protectedSite === from) {
    await dropMarkers(ctx, g.name);
    return g;
  }
  const disks = g.vms.flatMap((v) => v.disks.map((d) => ({ vm: v.name, ...d })));
  if (!(await exists(path.join(dir, "group.json")))) {
    await (await Journal.create(dir, { disks: disks.map((d) => ({ name: `${d.vm}/${d.name}`, sizeBytes: d.sizeBytes })), historyWindowMs: g.historyMs, limitBytes: g.journalLimitBytes })).close();
  }
  for (const d of disks) {
    const replica = path.join(dir, "replica", d.vm, `${d.name}.raw`);
    if (d.path !== replica && (await exists(d.path))) await moveFile(d.path, replica, `disk ${d.vm}/${d.name}`);
  }
  // What the protected side kept (activity logs, the synced disk set) belongs to its old role.
  for (const f of await fs.readdir(dir)) if (f.startsWith("activity-") || f === "synced-disks.json") await fs.rm(path.join(dir, f), { force: true });
  const vms: Vm[] = g.vms.map((v) => ({ ...v, disks: v.disks.map((d) => ({ ...d, path: path.join(dir, "replica", v.name, `${d.name}.raw`), existing: false })) }));
  const next = ctx.manager.groups.reverse(g.name, from, ctx.name, vms);
  ctx.manager.audit.record(`site:${from}`, "group.reverse", g.name, { protectedSite: from, recoverySite: ctx.name });
  await dropMarkers(ctx, g.name);
  return next;
}

/**
 * At the site a group was failed over to and committed at: its disks (held
 * by `devices`, the SwitchDevices the recovered VMs write through) become
 * the production stores of the group, protected towards its old site.
 */
export async function becomeProtectedSite(ctx: SiteContext, g: Group, devices: Map<string, SwitchDevice>): Promise<Group> {
  const aside = path.join(ctx.layout.data, `.reversed-${g.name}-${Date.now()}`);
  const access = ctx.appliance.recovery?.(g.name);
  if (!access) throw new UnprocessableError("no_journal", `group ${g.name} has no journal open here`);
  ctx.linkExpectedUntil.set(g.name, Date.now() + LINK_EXPECTED_MS);
  await Promise.all([...devices.values()].map((d) => d.hold()));
  try {
    // Through the target: the held device itself would make the flush wait for the release.
    for (const d of devices.values()) await d.target.flush();
    for (const name of devices.keys()) access.exports.remove(name);
    await writeFileAtomic(reverseMarker(ctx, g.name), JSON.stringify({ role: "protected", aside } satisfies ReverseMarker));
    await ctx.appliance.unprotect(g.name, { deleteData: false });
    const next = await finishProtectedSite(ctx, g, aside);
    await ctx.appliance.protect(applianceSpec(ctx, next));
    for (const [name, held] of devices) {
      const splitter = ctx.appliance.device(name);
      if (!splitter) throw new Error(`${name} is not served after protecting ${g.name}`);
      held.switchTo(splitter);
    }
    return next;
  } finally {
    for (const d of devices.values()) d.release();
  }
}

/** The files and the database of the new protected site's half, each step idempotent; the marker goes last. */
async function finishProtectedSite(ctx: SiteContext, g: Group, aside: string): Promise<Group> {
  const dir = path.join(ctx.layout.data, g.name);
  if (g.protectedSite === ctx.name) {
    await dropMarkers(ctx, g.name);
    return g;
  }
  // The journal's directory goes aside whole; its replica files come back as production disks.
  if (!(await exists(aside))) await fs.rename(dir, aside);
  const vms: Vm[] = [];
  for (const v of g.vms) {
    const disks = [];
    for (const d of v.disks) {
      const file = path.join(dir, v.name, `${d.name}.raw`);
      const replica = path.join(aside, "replica", v.name, `${d.name}.raw`);
      if (await exists(replica)) await moveFile(replica, file, `disk ${v.name}/${d.name}`);
      else if (!(await exists(file))) throw new Error(`disk ${v.name}/${d.name} is neither at ${replica} nor at ${file}`);
      disks.push({ ...d, path: file, existing: true });
    }
    vms.push({ ...v, disks });
  }
  const spec = applianceSpec(ctx, { ...g, protectedSite: ctx.name, recoverySite: g.protectedSite, vms });
  await writeFileAtomic(path.join(dir, "synced-disks.json"), deltaMarker(diskSignature(spec)));
  const next = ctx.manager.groups.reverse(g.name, ctx.name, g.protectedSite, vms);
  await fs.rm(aside, { recursive: true, force: true });
  await dropMarkers(ctx, g.name);
  return next;
}

async function dropMarkers(ctx: SiteContext, group: string): Promise<void> {
  await fs.rm(quiesceMarker(ctx, group), { force: true });
  await fs.rm(reverseMarker(ctx, group), { force: true });
}

/**
 * At start, before any group opens: finishes the half of a reverse
 * protection that this site began (its marker says which), so that the
 * group opens in its new direction. A group quiesced for a move is returned,
 * to be held quiesced once it is open.
 */
export async function finishReversals(ctx: SiteContext): Promise<string[]> {
  const quiesced: string[] = [];
  for (const g of ctx.manager.groups.list()) {
    try {
      const marker = await readMarker(reverseMarker(ctx, g.name));
      if (marker?.role === "recovery") await finishRecoverySite(ctx, g, marker.from);
      else if (marker?.role === "protected") await finishProtectedSite(ctx, g, marker.aside);
      else if (await exists(quiesceMarker(ctx, g.name))) quiesced.push(g.name);
    } catch (err) {
      // Loud, and the group left as it is for an operator: guessing here could lose a disk.
      ctx.log.error({ err, group: g.name }, "an interrupted reverse protection could not be finished");
      ctx.manager.events.raise("reverse-resume-failed", g.name, "critical", `group ${g.name}: an interrupted reverse protection could not be finished: ${(err as Error).message}`, g.name);
    }
  }
  return quiesced;
}

async function readMarker(file: string): Promise<ReverseMarker | undefined> {
  const text = await fs.readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  return text === undefined ? undefined : (JSON.parse(text) as ReverseMarker);
}

async function moveFile(from: string, to: string, what: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EXDEV") {
      throw new UnprocessableError("disk_elsewhere", `${what}: ${from} is on another file system than the site's data`, `move it into ${path.dirname(to)} by hand, or keep disks in the site's data directory`);
    }
    throw err;
  }
}

const exists = (p: string) => fs.stat(p).then(() => true, () => false);
