/** Recovery operations (operator role), each answered with its task as soon as it started; tasks and reports (viewer). */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Site } from "../../site/index.js";
import { actorOf } from "../auth.js";
import { CommitBody, FailoverBody, GroupParams, MoveBody, ReportsQuery, RestoreBody, TaskParams, TasksQuery, TestStartBody, TestStopBody } from "../schemas.js";

export function recoveryRoutes(site: Site): FastifyPluginAsyncZod {
  const { recovery, ctx } = site;
  const operator = { role: "operator" } as const;
  return async (app) => {
    app.post("/groups/:name/test", { config: operator, schema: { tags: ["recovery"], summary: "start a failover test at a point", params: GroupParams, body: TestStartBody.optional() } }, async (req, reply) => {
      const task = await recovery.startTest(req.params.name, req.body?.point, actorOf(req));
      ctx.manager.audit.record(actorOf(req), "test.start", req.params.name, { point: req.body?.point ?? "latest", task: task.id });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/test/stop", { config: operator, schema: { tags: ["recovery"], summary: "stop the failover test, with its result", params: GroupParams, body: TestStopBody.optional() } }, async (req, reply) => {
      const task = await recovery.stopTest(req.params.name, req.body?.result ?? "unknown", req.body?.notes ?? "", actorOf(req));
      ctx.manager.audit.record(actorOf(req), "test.stop", req.params.name, { result: req.body?.result ?? "unknown", task: task.id });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/failover", { config: operator, schema: { tags: ["recovery"], summary: "live failover to a point", params: GroupParams, body: FailoverBody.optional() } }, async (req, reply) => {
      const task = await recovery.failover(req.params.name, req.body?.point, actorOf(req), { shutdownSource: req.body?.shutdownSource ?? false });
      ctx.manager.audit.record(actorOf(req), "failover", req.params.name, { point: req.body?.point ?? "latest", task: task.id });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/commit", { config: operator, schema: { tags: ["recovery"], summary: "make the failover permanent, optionally protecting back", params: GroupParams, body: CommitBody.optional() } }, async (req, reply) => {
      const task = await recovery.commit(req.params.name, actorOf(req), { reverseProtect: req.body?.reverseProtect ?? false });
      ctx.manager.audit.record(actorOf(req), "failover.commit", req.params.name, { task: task.id, reverseProtect: req.body?.reverseProtect ?? false });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/reverse", { config: operator, schema: { tags: ["recovery"], summary: "after a commit: protect the group back to its old site (delta sync)", params: GroupParams } }, async (req, reply) => {
      const task = await recovery.reverseProtect(req.params.name, actorOf(req));
      ctx.manager.audit.record(actorOf(req), "reverse-protect", req.params.name, { task: task.id });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/move", { config: operator, schema: { tags: ["recovery"], summary: "planned move to this site, nothing lost; protects back unless reverseProtect is false", params: GroupParams, body: MoveBody.optional() } }, async (req, reply) => {
      const task = await recovery.move(req.params.name, actorOf(req), { reverseProtect: req.body?.reverseProtect ?? true });
      ctx.manager.audit.record(actorOf(req), "move", req.params.name, { task: task.id, reverseProtect: req.body?.reverseProtect ?? true });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/rollback", { config: operator, schema: { tags: ["recovery"], summary: "undo an uncommitted failover; replication resumes", params: GroupParams } }, async (req, reply) => {
      const task = await recovery.rollback(req.params.name, actorOf(req));
      ctx.manager.audit.record(actorOf(req), "failover.rollback", req.params.name, { task: task.id });
      return reply.code(202).send(task);
    });

    app.post("/groups/:name/restore", { config: operator, schema: { tags: ["recovery"], summary: "write a disk at a point to a raw image on the site's machine", params: GroupParams, body: RestoreBody } }, async (req, reply) => {
      const task = await recovery.restore(req.params.name, req.body.disk, req.body.point, req.body.out, actorOf(req));
      ctx.manager.audit.record(actorOf(req), "restore", req.params.name, { disk: req.body.disk, point: req.body.point ?? "latest", out: req.body.out, task: task.id });
      return reply.code(202).send(task);
    });

    app.get("/tasks", { config: { role: "viewer" }, schema: { tags: ["recovery"], summary: "running tasks and those ended in the last hour (all: every one)", querystring: TasksQuery } }, async (req) =>
      ctx.manager.tasks.list({ all: req.query.all === "true", ...(req.query.group ? { group: req.query.group } : {}) }),
    );

    app.get("/tasks/:id", { config: { role: "viewer" }, schema: { tags: ["recovery"], params: TaskParams } }, async (req) => ctx.manager.tasks.get(req.params.id));

    app.get("/reports", { config: { role: "viewer" }, schema: { tags: ["recovery"], summary: "failover test and failover reports, newest first", querystring: ReportsQuery } }, async (req) =>
      ctx.manager.reports.list(req.query.group ? { group: req.query.group } : {}),
    );

    app.get("/reports/:id", { config: { role: "viewer" }, schema: { tags: ["recovery"], params: TaskParams } }, async (req) => ctx.manager.reports.get(req.params.id));
  };
}
