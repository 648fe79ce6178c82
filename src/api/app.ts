/**
 * The operators' HTTP API: fastify with zod schemas, `/api/v1`, OpenAPI at
 * `/api/docs`, `/metrics`. Built from an open Site, so tests drive it with
 * `app.inject` and the daemon with `listen`.
 */
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Site } from "../site/index.js";
import { installAuth } from "./auth.js";
import { frameworkErrors, installErrorHandling } from "./errors.js";
import { makeRegistry } from "./metrics.js";
import { groupRoutes } from "./routes/groups.js";
import { liveRoutes } from "./routes/live.js";
import { recoveryRoutes } from "./routes/recovery.js";
import { siteRoutes } from "./routes/site.js";

export interface AppOptions {
  /** Request logs go here; none when left out. */
  logger?: FastifyBaseLogger;
}

export async function buildApp(site: Site, options: AppOptions = {}): Promise<FastifyInstance> {
  const app: FastifyInstance = options.logger
    ? Fastify({ loggerInstance: options.logger, bodyLimit: 1 << 20, frameworkErrors })
    : Fastify({ logger: false, bodyLimit: 1 << 20, frameworkErrors });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  installAuth(app, site.ctx.manager);
  // Lets a client name the site in its messages ("group erp not found at site A").
  app.addHook("onSend", async (_req, reply) => {
    reply.header("x-lifeline-site", site.name);
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: "Lifeline site API", description: `Site ${site.name}: protection groups, VMs, checkpoints, pairing, tokens, events.`, version: "1" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/api/docs", uiConfig: { docExpansion: "list" } });

  await app.register(siteRoutes(site), { prefix: "/api/v1" });
  await app.register(groupRoutes(site), { prefix: "/api/v1" });
  await app.register(recoveryRoutes(site), { prefix: "/api/v1" });
  await app.register(liveRoutes(site), { prefix: "/api/v1" });

  const registry = makeRegistry(site);
  app.get("/metrics", { config: { role: "viewer" }, schema: { hide: true } }, async (_req, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  return app;
}
