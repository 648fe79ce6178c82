/**
 * A fixture site for the console: the real operators' API (buildApp, the
 * real manager and database) over the API tests' fake appliance, fed with
 * moving facts (RPO, throughput, queue, journal history) and a journal
 * window of one-a-second checkpoints with a few tagged ones — and, standing
 * in for the orchestration routes the site does not have yet, in-memory
 * recovery tasks (test, stop, failover, commit, rollback) whose steps
 * progress as they are polled, and their reports; an hour of metrics
 * history; no live stream (the console polls, see withoutLiveStream). It lets the browser tests
 * (and people: `node dist/test/web/fixture-serve.js`) see every page with
 * live data. When the real routes land, the fixture's stand-ins give way
 * (they are added only where the API answers 404).
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { registerWebConsole } from "../../src/api/web-console.js";
import { bearer, openTestSite, pair, type TestSite } from "../api/harness.js";
import { WEB_DIST } from "./harness.js";

interface Task {
  id: string;
  kind: string;
  group: string;
  by: string;
  state: "running" | "succeeded" | "failed" | "rolled-back";
  startedAtMs: number;
  endedAtMs: number | null;
  steps: { name: string; state: "pending" | "running" | "done"; progress: number | null; detail: string | null; error: null }[];
  error: null;
  log: string[];
  polls: number;
}

export interface Fixture {
  url: string;
  /** How often the console asked for the live stream (which the fixture does not offer: it polls). */
  liveAsked(): number;
  a: TestSite;
  b: TestSite;
  close(): Promise<void>;
}

const TAGS: [number, string][] = [
  [540_000, "before-upgrade"],
  [300_000, "nightly-backup"],
  [95_000, "before-ransomware"],
];

function seedCheckpoints(site: TestSite, nowMs: number, spanMs: number): void {
  const cps = site.appliance.checkpoints;
  cps.length = 0;
  for (let t = nowMs - spanMs, i = 0; t <= nowMs; t += 1000, i++) {
    const tag = TAGS.find(([ago]) => Math.abs(nowMs - ago - t) < 500)?.[1] ?? null;
    cps.push({ id: `cp-${i + 1}`, seq: i * 37, time: t, tag, consistent: !(t > nowMs - 420_000 && t < nowMs - 400_000) });
  }
}

/** Stand-ins for the orchestration routes on `app`: tasks whose steps move as they are polled, and their reports. */
function addOrchestration(app: FastifyInstance, site: TestSite): void {
  const tasks: Task[] = [];
  const reports: unknown[] = [];
  const running = new Map<string, { kind: "test" | "failover"; task: Task; point: string }>();
  const by = "token:fixture (admin)";
  const start = (kind: string, group: string, steps: string[]): Task => {
    const t: Task = {
      id: `${kind}-${Date.now().toString(36)}`,
      kind,
      group,
      by,
      state: "running",
      startedAtMs: Date.now(),
      endedAtMs: null,
      steps: steps.map((name) => ({ name, state: "pending", progress: null, detail: null, error: null })),
      error: null,
      log: [],
      polls: 0,
    };
    tasks.push(t);
    return t;
  };
  // Each poll moves a running task on by half a step: the UI sees steps run with progress, then end.
  const advance = () => {
    for (const t of tasks.filter((x) => x.state === "running")) {
      const i = t.steps.findIndex((s) => s.state !== "done");
      if (i < 0) {
        t.state = "succeeded";
        t.endedAtMs = Date.now();
        continue;
      }
      const s = t.steps[i]!;
      if (s.state === "pending") {
        s.state = "running";
        s.progress = 0.5;
        s.detail = "working";
        t.log.push(`${new Date().toISOString()} ${s.name}: started`);
      } else {
        s.state = "done";
        s.progress = 1;
        s.detail = null;
        t.log.push(`${new Date().toISOString()} ${s.name}: done`);
      }
    }
  };
  // The real routes exist; the stand-ins answer in their place (after auth and body checks), so the
  // console's whole recovery flow runs over this fake appliance, which keeps no journal.
  const standIns = new Map<string, (req: FastifyRequest) => unknown>();
  app.addHook("preHandler", async (req, reply) => {
    const standIn = standIns.get(`${req.method} ${req.routeOptions.url}`);
    if (!standIn) return;
    const answer = standIn(req);
    return reply.code(req.method === "POST" ? 202 : 200).send(answer);
  });
  const post = (url: string, handler: (group: string, body: Record<string, unknown>) => unknown) => {
    standIns.set(`POST ${url}`, (req) => {
      const group = (req.params as { name: string }).name;
      site.site.ctx.manager.groups.get(group);
      return handler(group, (req.body ?? {}) as Record<string, unknown>);
    });
  };
  post("/api/v1/groups/:name/test", (group, body) => {
    const task = start("failover-test", group, ["pin the point", "open views and overlays", "export test disks", "start VMs (test network)"]);
    running.set(group, { kind: "test", task, point: String(body.point ?? "latest") });
    return task;
  });
  post("/api/v1/groups/:name/test/stop", (group, body) => {
    const r = running.get(group);
    const task = start("failover-test-stop", group, ["stop VMs", "drop overlays", "unpin", "write report"]);
    if (r) {
      reports.push({ id: r.task.id, kind: "failover test", group, by, point: { seq: 1234, timeMs: Date.now() - 10_000, label: r.point }, startedAtMs: r.task.startedAtMs, stoppedAtMs: Date.now(), durationMs: Date.now() - r.task.startedAtMs, result: body.result ?? "unknown", notes: body.notes ?? "", vms: ["erp-db"] });
      running.delete(group);
    }
    return task;
  });
  post("/api/v1/groups/:name/failover", (group, body) => {
    const task = start("failover", group, ["stop replication", "open views and overlays", "start VMs (live network)"]);
    running.set(group, { kind: "failover", task, point: String(body.point ?? "latest") });
    return task;
  });
  for (const end of ["commit", "rollback"]) {
    post(`/api/v1/groups/:name/${end}`, (group) => {
      running.delete(group);
      return start(end, group, end === "commit" ? ["fold journal into replica", "fold overlay into replica"] : ["stop VMs", "drop overlays", "restart replication"]);
    });
  }
  standIns.set("GET /api/v1/tasks", () => {
    advance();
    return tasks.map(({ polls: _p, ...t }) => t);
  });
  standIns.set("GET /api/v1/reports", () => reports);
  // The group's state follows the stand-in operations, as the real state machine will (test-running, failed-over).
  app.addHook("onSend", async (req, _reply, payload) => {
    if (req.method !== "GET" || !req.url.startsWith("/api/v1/groups") || typeof payload !== "string" || running.size === 0 || req.url.includes("/checkpoints")) return payload;
    const data = JSON.parse(payload) as { name: string; state: string; reason: string } | { name: string; state: string; reason: string }[];
    for (const g of Array.isArray(data) ? data : [data]) {
      const r = running.get(g.name);
      if (r?.kind === "test") Object.assign(g, { state: "test-running", reason: `a failover test at ${r.point} is running; replication goes on` });
      if (r?.kind === "failover") Object.assign(g, { state: "failed-over", reason: `failed over to ${r.point}; commit or roll back` });
    }
    return JSON.stringify(data);
  });
}

/**
 * The fixture keeps the console on polling: its stand-ins answer the polled routes (tasks, a group's
 * state during a stand-in test), which the live stream would bypass. So `GET /live` answers as a site
 * without the route does, and the browser test of the fixture covers the console's fallback to polling
 * (the test against real daemons covers the stream).
 */
function withoutLiveStream(app: FastifyInstance): { asked(): number } {
  let asked = 0;
  app.addHook("onRequest", async (req, reply) => {
    if (req.method !== "GET" || req.url.split("?")[0] !== "/api/v1/live") return;
    asked++;
    return reply.code(404).send({ error: { code: "route_not_found", message: "no route GET /api/v1/live (fixture: polling)" } });
  });
  return { asked: () => asked };
}

/** Moving facts of the three groups at `nowMs`, `s` seconds into the fixture's life (negative: before it started). */
function factsAt(site: TestSite, nowMs: number, s: number, startedMs: number): void {
  site.appliance.facts.set("erp", { rpoMs: 1200 + Math.round(900 * Math.sin(s / 4)) + Math.round(Math.random() * 300) + (s > -1900 && s < -1700 ? 7000 : 0), throughputBytesPerSec: 48e6 + Math.round(12e6 * Math.sin(s / 7)) + Math.round(20e6 * Math.sin(s / 600)), queueBytes: Math.round(4e6 + 3e6 * Math.sin(s / 5)), journal: { bytes: 3.2e9, historyMs: 600_000 + (nowMs - startedMs), limitBytes: 20 * 2 ** 30 }, replicatedBytes: 812e9, replicatedWrites: 41_234_567, compressionRatio: 1.8 });
  site.appliance.facts.set("crm", { rpoMs: (s < -600 ? 2500 : 14_000) + Math.round(2000 * Math.sin(s / 3)), throughputBytesPerSec: 3e6, queueBytes: s < -600 ? 20e6 : 180e6, journal: { bytes: 1.1e9, historyMs: 2_400_000, limitBytes: 20 * 2 ** 30 } });
  site.appliance.facts.set("mail", { sync: { kind: "initial", percent: Math.max(0, Math.min(99, 37 + Math.round(s))), reason: "initial sync of 1 disk" }, rpoMs: null, throughputBytesPerSec: 110e6, journal: { bytes: 0, historyMs: 0, limitBytes: 20 * 2 ** 30 } });
}

export async function openFixture(root: string, options: { port?: number } = {}): Promise<Fixture> {
  const [a, b] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
  // Routes first: the first inject makes the app ready, after which none can be added.
  addOrchestration(a.app, a);
  const live = withoutLiveStream(a.app);
  await registerWebConsole(a.app, WEB_DIST);
  await pair(a, b);
  const admin = bearer(a.admin);
  const mk = async (url: string, payload: object) => {
    const r = await a.app.inject({ method: "POST", url, headers: admin, payload });
    if (r.statusCode >= 300) throw new Error(`${url}: ${r.body}`);
  };
  await mk("/api/v1/groups", { name: "erp", recoverySite: "B", rpoTargetMs: 10_000, historyMs: 900_000 });
  await mk("/api/v1/groups/erp/vms", { name: "erp-db", bootOrder: 0, bootDelayMs: 20_000, disks: [{ name: "data", sizeBytes: 64 << 20 }, { name: "log", sizeBytes: 16 << 20 }] });
  await mk("/api/v1/groups/erp/vms", { name: "erp-app", bootOrder: 1, disks: [{ name: "root", sizeBytes: 32 << 20 }] });
  await mk("/api/v1/groups", { name: "crm", recoverySite: "B", rpoTargetMs: 5_000 });
  await mk("/api/v1/groups/crm/vms", { name: "crm-db", disks: [{ name: "data", sizeBytes: 32 << 20 }] });
  await mk("/api/v1/groups", { name: "mail", recoverySite: "B" });
  await mk("/api/v1/groups/mail/vms", { name: "mx1", disks: [{ name: "spool", sizeBytes: 8 << 20 }] });

  const started = Date.now();
  // Checkpoints live in the recovery site's journal; A asks B for them.
  seedCheckpoints(b, started, 600_000);
  // The hour before: what the site's metrics history would hold had it run that long.
  for (let t = started - 3_600_000; t < started; t += 1000) {
    factsAt(a, t, (t - started) / 1000, started);
    a.site.history.sample(a.site.ctx, t);
  }
  let lastSampleMs = 0;
  const tick = () => {
    const now = Date.now();
    const cps = b.appliance.checkpoints;
    const last = cps[cps.length - 1]!;
    for (let t = last.time + 1000; t <= now; t += 1000) cps.push({ id: `cp-${cps.length + 1}`, seq: last.seq + 37, time: t, tag: null, consistent: true });
    factsAt(a, now, (now - started) / 1000, started);
    // Sampled once a second, as the daemon does with its group states.
    if (now - lastSampleMs >= 1000) {
      a.site.history.sample(a.site.ctx, now);
      lastSampleMs = now;
    }
  };
  tick();
  const timer = setInterval(tick, 500);
  a.site.ctx.manager.events.raise("rpo-breach", "crm", "warning", "group crm: RPO 14.2s is above the target of 5.0s", "crm");
  a.site.ctx.manager.events.add({ severity: "info", kind: "checkpoint", group: "erp", message: 'checkpoint cp-60 "before-upgrade" at seq 2183 is durable at B' });

  await a.app.listen({ host: "127.0.0.1", port: options.port ?? 0 });
  const url = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`;
  return {
    url,
    a,
    b,
    liveAsked: live.asked,
    close: async () => {
      clearInterval(timer);
      await Promise.all([a.close(), b.close()]);
    },
  };
}
