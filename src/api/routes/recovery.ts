/**
 * Recovery operations (operator role), each answered with its task as soon as
 * it started (202); tasks and reports (viewer). Either site of a group takes
 * them: the protected site forwards them to the recovery site, which runs them.
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { getReport, getTask, listReports, listTasks, requestRecovery, type RecoveryRequest, type Site } from "../../site/index.js";
import { actorOf } from "../auth.js";
import { CommitBody, FailoverBody, GroupParams, MoveBody, ReportsQuery, RestoreBody, TaskParams, TasksQuery, TestStartBody, TestStopBody } from "../schemas.js";

export function recoveryRoutes(site: Site): FastifyPluginAsyncZod {
  const { recovery, ctx } = site;
  const operator = { role: "operator" } as const;
  const tags = ["recovery"];
  return async (app) => {
    const run = async (req: RecoveryRequest, actor: string) => {
      const task = await requestRecovery(ctx, recovery, req, actor);
      const { op, group, ...detail } = req;
      ctx.manager.audit.record(actor, `recovery.${op}`, group, { ...detail, task: task.id });
      return task;
    };

    app.post("/groups/:name/test", { config: operator, schema: { tags, summary: "start a failover test at a point", params: GroupParams, body: TestStartBody.optional() } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "test-start", group: req.params.name, point: req.body?.point }, actorOf(req))),
    );

    app.post("/groups/:name/test/stop", { config: operator, schema: { tags, summary: "stop the failover test, with its result", params: GroupParams, body: TestStopBody.optional() } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "test-stop", group: req.params.name, result: req.body?.result ?? "unknown", notes: req.body?.notes ?? "" }, actorOf(req))),
    );

    app.post("/groups/:name/failover", { config: operator, schema: { tags, summary: "live failover to a point", params: GroupParams, body: FailoverBody.optional() } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "failover", group: req.params.name, point: req.body?.point, shutdownSource: req.body?.shutdownSource ?? false }, actorOf(req))),
    );

    app.post("/groups/:name/commit", { config: operator, schema: { tags, summary: "make the failover permanent, optionally protecting back", params: GroupParams, body: CommitBody.optional() } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "commit", group: req.params.name, reverseProtect: req.body?.reverseProtect ?? false }, actorOf(req))),
    );

    app.post("/groups/:name/rollback", { config: operator, schema: { tags, summary: "undo an uncommitted failover; replication resumes", params: GroupParams } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "rollback", group: req.params.name }, actorOf(req))),
    );

    app.post("/groups/:name/reverse", { config: operator, schema: { tags, summary: "after a commit: protect the group back to its old site (delta sync)", params: GroupParams } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "reverse-protect", group: req.params.name }, actorOf(req))),
    );

    app.post("/groups/:name/move", { config: operator, schema: { tags, summary: "planned move to the recovery site, nothing lost; protects back unless reverseProtect is false", params: GroupParams, body: MoveBody.optional() } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "move", group: req.params.name, reverseProtect: req.body?.reverseProtect ?? true }, actorOf(req))),
    );

    app.post("/groups/:name/restore", { config: operator, schema: { tags, summary: "write a disk at a point to a raw image on the recovery site's machine", params: GroupParams, body: RestoreBody } }, async (req, reply) =>
      reply.code(202).send(await run({ op: "restore", group: req.params.name, disk: req.body.disk, point: req.body.point, out: req.body.out }, actorOf(req))),
    );

    app.get("/tasks", { config: { role: "viewer" }, schema: { tags, summary: "running tasks and those ended in the last hour (all: every one), of this site and its peers", querystring: TasksQuery } }, async (req) =>
      listTasks(ctx, { all: req.query.all === "true", ...(req.query.group ? { group: req.query.group } : {}) }),
    );

    app.get("/tasks/:id", { config: { role: "viewer" }, schema: { tags, params: TaskParams } }, async (req) => getTask(ctx, req.params.id));

    app.get("/reports", { config: { role: "viewer" }, schema: { tags, summary: "failover test and failover reports, newest first", querystring: ReportsQuery } }, async (req) => listReports(ctx, req.query.group));

    app.get("/reports/:id", { config: { role: "viewer" }, schema: { tags, params: TaskParams } }, async (req) => getReport(ctx, req.params.id));
  };
}
