/**
 * Recovery requests as data, so that either site of a group takes them: the
 * recovery site runs them (site/recovery.ts), the protected site forwards
 * them over the site-to-site API (mutual TLS, pinned) with who asked. Tasks
 * and reports live at the site that ran them; listing them at the other site
 * asks its peers too, so the console and the CLI see one history from
 * either end (a peer that does not answer is left out, not an error).
 */
import { NotFoundError, type Group } from "../manager/index.js";
import type { TaskRecord, TestReport } from "../orchestration/index.js";
import type { SiteContext } from "./context.js";
import { callPeer } from "./peer-client.js";
import type { Recovery, Report } from "./recovery.js";

export type RecoveryRequest =
  | { op: "test-start"; group: string; point?: string | undefined }
  | { op: "test-stop"; group: string; result: TestReport["result"]; notes: string }
  | { op: "failover"; group: string; point?: string | undefined; shutdownSource: boolean }
  | { op: "commit"; group: string; reverseProtect: boolean }
  | { op: "rollback"; group: string }
  | { op: "reverse-protect"; group: string }
  | { op: "move"; group: string; reverseProtect: boolean }
  | { op: "restore"; group: string; disk: string; point?: string | undefined; out?: string | undefined };

const LIST_TIMEOUT_MS = 3000;

/** Runs `req` here when this is the group's recovery site, else at that site. */
export async function requestRecovery(ctx: SiteContext, recovery: Recovery, req: RecoveryRequest, actor: string): Promise<TaskRecord> {
  const g = ctx.manager.groups.get(req.group);
  if (g.recoverySite === ctx.name) return runHere(recovery, req, actor);
  const peer = ctx.manager.peers.get(g.recoverySite);
  return callPeer<TaskRecord>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "POST", path: "/peer/v1/recovery", body: { request: req, actor: `${actor} at site ${ctx.name}` } });
}

export function runHere(recovery: Recovery, req: RecoveryRequest, actor: string): Promise<TaskRecord> {
  switch (req.op) {
    case "test-start":
      return recovery.startTest(req.group, req.point, actor);
    case "test-stop":
      return recovery.stopTest(req.group, req.result, req.notes, actor);
    case "failover":
      return recovery.failover(req.group, req.point, actor, { shutdownSource: req.shutdownSource });
    case "commit":
      return recovery.commit(req.group, actor, { reverseProtect: req.reverseProtect });
    case "rollback":
      return recovery.rollback(req.group, actor);
    case "reverse-protect":
      return recovery.reverseProtect(req.group, actor);
    case "move":
      return recovery.move(req.group, actor, { reverseProtect: req.reverseProtect });
    case "restore":
      return recovery.restore(req.group, req.disk, req.point, req.out, actor);
  }
}

/** This site's tasks and its peers', newest first. */
export async function listTasks(ctx: SiteContext, options: { all?: boolean; group?: string }): Promise<TaskRecord[]> {
  const here = ctx.manager.tasks.list(options) as TaskRecord[];
  const q = new URLSearchParams({ ...(options.all ? { all: "true" } : {}), ...(options.group ? { group: options.group } : {}) });
  const there = await fromPeers<TaskRecord[]>(ctx, `/peer/v1/tasks${q.size ? `?${q}` : ""}`);
  return [...here, ...there.flat()].sort((a, b) => b.startedAtMs - a.startedAtMs);
}

export async function getTask(ctx: SiteContext, id: string): Promise<TaskRecord> {
  try {
    return ctx.manager.tasks.get(id) as TaskRecord;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    const found = (await fromPeers<TaskRecord | null>(ctx, `/peer/v1/tasks/${encodeURIComponent(id)}`)).find((t) => t);
    if (!found) throw err;
    return found;
  }
}

export async function listReports(ctx: SiteContext, group: string | undefined): Promise<Report[]> {
  const here = ctx.manager.reports.list<Report>(group ? { group } : {});
  const there = await fromPeers<Report[]>(ctx, `/peer/v1/reports${group ? `?group=${encodeURIComponent(group)}` : ""}`);
  return [...here, ...there.flat()].sort((a, b) => b.timeMs - a.timeMs);
}

export async function getReport(ctx: SiteContext, id: string): Promise<Report> {
  try {
    return ctx.manager.reports.get<Report>(id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    const found = (await fromPeers<Report | null>(ctx, `/peer/v1/reports/${encodeURIComponent(id)}`)).find((r) => r);
    if (!found) throw err;
    return found;
  }
}

/** The answers of the peers that are some group's recovery site, skipping those that fail. */
async function fromPeers<T>(ctx: SiteContext, route: string): Promise<T[]> {
  const sites = new Set(ctx.manager.groups.list().map((g: Group) => g.recoverySite).filter((s) => s !== ctx.name));
  const answers = await Promise.all(
    [...sites].map(async (site) => {
      const peer = ctx.manager.peers.find(site);
      if (!peer) return undefined;
      try {
        return await callPeer<T>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "GET", path: route, timeoutMs: LIST_TIMEOUT_MS });
      } catch (err) {
        ctx.log.debug({ err, site }, "a peer did not list its tasks or reports");
        return undefined;
      }
    }),
  );
  return answers.filter((a): a is Awaited<T> => a !== undefined) as T[];
}
