/** The site itself, its peers and pairing, tokens, events, alerts and the audit log. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { createPairingToken, pairWith, setPeerBandwidth, type Site } from "../../site/index.js";
import { actorOf } from "../auth.js";
import { siteView } from "../site-view.js";
import { AlertsQuery, CreateTokenBody, PairBody, PeerParams, PeerSettingsBody, SinceQuery, TokenParams } from "../schemas.js";

export function siteRoutes(site: Site): FastifyPluginAsyncZod {
  const ctx = site.ctx;
  return async (app) => {
    app.get("/site", { config: { role: "viewer" }, schema: { tags: ["site"], summary: "this site: name, endpoints, certificate fingerprint" } }, async () => siteView(ctx));

    app.get("/peers", { config: { role: "viewer" }, schema: { tags: ["site"] } }, async () => ctx.manager.peers.list().map(({ certPem: _pem, ...p }) => p));

    app.post("/pairing-tokens", { config: { role: "admin" }, schema: { tags: ["site"], summary: "a one-time token another site uses to pair with this one" } }, async (req, reply) =>
      reply.code(201).send(createPairingToken(ctx, actorOf(req))),
    );

    app.post("/peers", { config: { role: "admin" }, schema: { tags: ["site"], summary: "pair with the site that made the token (both directions)", body: PairBody } }, async (req, reply) => {
      const { certPem: _pem, ...peer } = await pairWith(ctx, req.body.token, actorOf(req), req.body.peerHost);
      return reply.code(201).send(peer);
    });

    app.patch("/peers/:site", { config: { role: "admin" }, schema: { tags: ["site"], summary: "the bandwidth limit of the link to a paired site, shared by its groups by priority", params: PeerParams, body: PeerSettingsBody } }, async (req) => {
      const { certPem: _pem, ...peer } = setPeerBandwidth(ctx, req.params.site, req.body.bandwidthBytesPerSec, actorOf(req));
      return peer;
    });

    app.delete("/peers/:site", { config: { role: "admin" }, schema: { tags: ["site"], params: PeerParams } }, async (req, reply) => {
      ctx.manager.peers.remove(req.params.site);
      ctx.manager.audit.record(actorOf(req), "site.unpair", req.params.site);
      return reply.code(204).send();
    });

    app.get("/tokens", { config: { role: "admin" }, schema: { tags: ["tokens"] } }, async () => ctx.manager.tokens.list());

    app.post("/tokens", { config: { role: "admin" }, schema: { tags: ["tokens"], body: CreateTokenBody } }, async (req, reply) => {
      const { token, info } = ctx.manager.tokens.create(req.body.role, req.body.name ?? `${req.body.role} token`, actorOf(req));
      ctx.manager.audit.record(actorOf(req), "token.create", info.id, { role: info.role, name: info.name });
      return reply.code(201).send({ ...info, token });
    });

    app.delete("/tokens/:id", { config: { role: "admin" }, schema: { tags: ["tokens"], params: TokenParams } }, async (req) => {
      const info = ctx.manager.tokens.revoke(req.params.id);
      ctx.manager.audit.record(actorOf(req), "token.revoke", info.id);
      return info;
    });

    app.get("/events", { config: { role: "viewer" }, schema: { tags: ["events"], querystring: SinceQuery } }, async (req) =>
      ctx.manager.events.list({ sinceMs: req.query.since, group: req.query.group }),
    );

    app.get("/alerts", { config: { role: "viewer" }, schema: { tags: ["events"], querystring: AlertsQuery } }, async (req) =>
      ctx.manager.events.alerts({ all: req.query.all === "true" }),
    );

    app.get("/audit", { config: { role: "admin" }, schema: { tags: ["events"], querystring: SinceQuery } }, async (req) => ctx.manager.audit.list({ sinceMs: req.query.since }));
  };
}
