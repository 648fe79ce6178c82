/**
 * The site-to-site API: HTTPS with mutual TLS on its own port. The client's
 * certificate is the caller's identity: its fingerprint must be a paired
 * site's (pinned at pairing), except for the pairing call itself, which is
 * allowed by its one-time secret and records the fingerprint it proves.
 */
import type { TLSSocket } from "node:tls";
import Fastify from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { LifelineError, PRIORITIES, UnprocessableError } from "../manager/index.js";
import { acceptPairing, fingerprintOf, siteCard, updatePeerEndpoints, dropGroup, groupStatus, listCheckpoints, receiveGroup, becomeRecoverySite, quiesceForMove, unquiesce, runHere, type RecoveryRequest, type Site } from "../site/index.js";
import { frameworkErrors, installErrorHandling } from "./errors.js";
import { CheckpointQuery, ComputeBody, Name, Notes, Point, ReportsQuery, TaskParams, TasksQuery, TestResult, VmComputeBody, VmDisk } from "./schemas.js";

const Url = z.string().refine((s) => URL.canParse(s), "not a URL");
const Certificate = z.string().refine((pem) => {
  try {
    return fingerprintOf(pem).length > 0;
  } catch {
    return false;
  }
}, "not a PEM certificate");

const Card = z.object({
  site: Name,
  apiUrl: Url,
  peerUrl: Url,
  replicationHost: z.string(),
  replicationPort: z.number().int(),
  certPem: Certificate,
});

const Definition = z.object({
  name: Name,
  protectedSite: Name,
  recoverySite: Name,
  settings: z.object({
    rpoTargetMs: z.number().int().positive(),
    historyMs: z.number().int().positive(),
    journalLimitBytes: z.number().int().positive(),
    checkpointIntervalMs: z.number().int().positive(),
    bandwidthBytesPerSec: z.number().int().positive().nullable(),
    priority: z.enum(PRIORITIES),
    compression: z.boolean(),
    compute: ComputeBody.default({ driver: "none" }),
  }),
  vms: z.array(z.object({ name: Name, bootOrder: z.number().int(), bootDelayMs: z.number().int(), compute: VmComputeBody.default({}), disks: z.array(z.object({ name: Name, sizeBytes: z.number().int().positive() })) })),
});

const RecoveryRequestBody = z.discriminatedUnion("op", [
  z.object({ op: z.literal("test-start"), group: Name, point: Point }),
  z.object({ op: z.literal("test-stop"), group: Name, result: TestResult, notes: Notes }),
  z.object({ op: z.literal("failover"), group: Name, point: Point, shutdownSource: z.boolean() }),
  z.object({ op: z.literal("commit"), group: Name, reverseProtect: z.boolean() }),
  z.object({ op: z.literal("rollback"), group: Name }),
  z.object({ op: z.literal("reverse-protect"), group: Name }),
  z.object({ op: z.literal("move"), group: Name, reverseProtect: z.boolean() }),
  z.object({ op: z.literal("restore"), group: Name, disk: VmDisk, point: Point, out: z.string().startsWith("/").optional() }),
]);

class PeerNotPairedError extends LifelineError {
  constructor(fingerprint: string | undefined) {
    super("unauthenticated", "peer_unauthenticated", `the caller's certificate (${fingerprint ?? "none"}) is not one of a paired site`, {
      hint: "pair the sites first: lifeline site pair-token on this site, lifeline pair on the other",
    });
  }
}

export async function buildPeerApp(site: Site) {
  const ctx = site.ctx;
  const app = Fastify({
    logger: false,
    bodyLimit: 1 << 20,
    frameworkErrors,
    https: { key: ctx.identity.keyPem, cert: ctx.identity.certPem, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.3" },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);

  const fingerprintOf = (socket: unknown): string | undefined => (socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
  const callerSite = (socket: unknown): string => {
    const fp = fingerprintOf(socket);
    const peer = fp ? ctx.manager.peers.byFingerprint(fp) : undefined;
    if (!peer) throw new PeerNotPairedError(fp);
    return peer.name;
  };

  app.post("/peer/v1/pair", { schema: { body: z.object({ secret: z.string(), card: Card }) } }, async (req) =>
    acceptPairing(ctx, req.body.secret, req.body.card, fingerprintOf(req.raw.socket), req.raw.socket.remoteAddress),
  );

  app.put("/peer/v1/site", { schema: { body: Card } }, async (req) => {
    await updatePeerEndpoints(ctx, callerSite(req.raw.socket), req.body, req.raw.socket.remoteAddress);
    return siteCard(ctx);
  });

  app.put("/peer/v1/groups/:name", { schema: { params: z.object({ name: Name }), body: Definition } }, async (req) => {
    await receiveGroup(ctx, req.body, callerSite(req.raw.socket));
    return { ok: true };
  });

  app.delete("/peer/v1/groups/:name", { schema: { params: z.object({ name: Name }) } }, async (req) => {
    await dropGroup(ctx, req.params.name, callerSite(req.raw.socket));
    return { ok: true };
  });

  app.get("/peer/v1/groups/:name/checkpoints", { schema: { params: z.object({ name: Name }), querystring: CheckpointQuery } }, async (req) => {
    callerSite(req.raw.socket);
    return listCheckpoints(ctx, req.params.name, { sinceMs: req.query.since, tag: req.query.tag });
  });

  app.get("/peer/v1/groups/:name/status", { schema: { params: z.object({ name: Name }) } }, async (req) => {
    callerSite(req.raw.socket);
    return groupStatus(ctx, ctx.manager.groups.get(req.params.name));
  });
  // Recovery operations that an operator asked of the group's protected site, run here at its recovery site.
  app.post("/peer/v1/recovery", { schema: { body: z.object({ request: RecoveryRequestBody, actor: z.string().max(300) }) } }, async (req, reply) => {
    const from = callerSite(req.raw.socket);
    const g = ctx.manager.groups.get(req.body.request.group);
    if (g.protectedSite !== from) throw new UnprocessableError("group_not_yours", `group "${g.name}" is protected by ${g.protectedSite}, not ${from}`);
    return reply.code(202).send(await runHere(site.recovery, req.body.request as RecoveryRequest, req.body.actor));
  });

  app.get("/peer/v1/tasks", { schema: { querystring: TasksQuery } }, async (req) => {
    callerSite(req.raw.socket);
    return ctx.manager.tasks.list({ all: req.query.all === "true", ...(req.query.group ? { group: req.query.group } : {}) });
  });

  app.get("/peer/v1/tasks/:id", { schema: { params: TaskParams } }, async (req) => {
    callerSite(req.raw.socket);
    return ctx.manager.tasks.get(req.params.id);
  });

  app.get("/peer/v1/reports", { schema: { querystring: ReportsQuery } }, async (req) => {
    callerSite(req.raw.socket);
    return ctx.manager.reports.list(req.query.group ? { group: req.query.group } : {});
  });

  app.get("/peer/v1/reports/:id", { schema: { params: TaskParams } }, async (req) => {
    callerSite(req.raw.socket);
    return ctx.manager.reports.get(req.params.id);
  });

  // A move and reverse protection, asked by the group's recovery site.
  app.post("/peer/v1/groups/:name/quiesce", { schema: { params: z.object({ name: Name }), body: z.object({ tag: z.string().min(1).max(100) }) } }, async (req) =>
    quiesceForMove(ctx, req.params.name, req.body.tag, callerSite(req.raw.socket)),
  );

  app.post("/peer/v1/groups/:name/unquiesce", { schema: { params: z.object({ name: Name }) } }, async (req) => {
    await unquiesce(ctx, req.params.name, callerSite(req.raw.socket));
    return { ok: true };
  });

  app.post("/peer/v1/groups/:name/reverse", { schema: { params: z.object({ name: Name }), body: Definition } }, async (req) => {
    await becomeRecoverySite(ctx, req.body, callerSite(req.raw.socket));
    return { ok: true };
  });
  return app;
}
