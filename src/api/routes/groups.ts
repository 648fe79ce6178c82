/** Groups, their VMs, their status and checkpoints. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { addCheckpoint, addVm, createGroup, deleteGroup, groupStatus, listCheckpoints, removeVm, updateGroup, updateVm, type Site } from "../../site/index.js";
import { actorOf } from "../auth.js";
import { AddVmBody, CheckpointBody, CheckpointQuery, CreateGroupBody, DeleteGroupQuery, GroupParams, GroupSettingsBody, UpdateVmBody, VmParams } from "../schemas.js";

export function groupRoutes(site: Site): FastifyPluginAsyncZod {
  const ctx = site.ctx;
  return async (app) => {
    app.get("/groups", { config: { role: "viewer" }, schema: { tags: ["groups"], summary: "every group with its status" } }, async () =>
      ctx.manager.groups.list().map((g) => groupStatus(ctx, g)),
    );

    app.get("/groups/:name", { config: { role: "viewer" }, schema: { tags: ["groups"], params: GroupParams } }, async (req) =>
      groupStatus(ctx, ctx.manager.groups.get(req.params.name)),
    );

    app.post("/groups", { config: { role: "admin" }, schema: { tags: ["groups"], body: CreateGroupBody } }, async (req, reply) => {
      const { name, recoverySite, ...settings } = req.body;
      const g = await createGroup(ctx, name, recoverySite, settings, actorOf(req));
      return reply.code(201).send(groupStatus(ctx, g));
    });

    app.patch("/groups/:name", { config: { role: "admin" }, schema: { tags: ["groups"], params: GroupParams, body: GroupSettingsBody } }, async (req) =>
      groupStatus(ctx, await updateGroup(ctx, req.params.name, req.body, actorOf(req))),
    );

    app.delete("/groups/:name", { config: { role: "admin" }, schema: { tags: ["groups"], params: GroupParams, querystring: DeleteGroupQuery } }, async (req, reply) => {
      await deleteGroup(ctx, req.params.name, req.query.keepDisks === "true", actorOf(req));
      return reply.code(204).send();
    });

    app.post("/groups/:name/vms", { config: { role: "admin" }, schema: { tags: ["vms"], params: GroupParams, body: AddVmBody } }, async (req, reply) => {
      const g = await addVm(ctx, req.params.name, req.body, actorOf(req));
      return reply.code(201).send(groupStatus(ctx, g));
    });

    app.patch("/groups/:name/vms/:vm", { config: { role: "admin" }, schema: { tags: ["vms"], params: VmParams, body: UpdateVmBody } }, async (req) =>
      groupStatus(ctx, await updateVm(ctx, req.params.name, req.params.vm, req.body, actorOf(req))),
    );

    app.delete("/groups/:name/vms/:vm", { config: { role: "admin" }, schema: { tags: ["vms"], params: VmParams } }, async (req) =>
      groupStatus(ctx, await removeVm(ctx, req.params.name, req.params.vm, actorOf(req))),
    );

    app.post("/groups/:name/checkpoints", { config: { role: "operator" }, schema: { tags: ["checkpoints"], params: GroupParams, body: CheckpointBody.optional() } }, async (req, reply) => {
      const cp = await addCheckpoint(ctx, req.params.name, req.body?.tag ?? null, actorOf(req));
      return reply.code(201).send(cp);
    });

    app.get("/groups/:name/checkpoints", { config: { role: "viewer" }, schema: { tags: ["checkpoints"], params: GroupParams, querystring: CheckpointQuery } }, async (req) =>
      listCheckpoints(ctx, req.params.name, { sinceMs: req.query.since, tag: req.query.tag }),
    );
  };
}
