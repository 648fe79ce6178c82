/**
 * Bearer-token auth. Each route names the least role it needs in its config
 * (`config: { role: "operator" }`); a missing or unknown token is a 401, a
 * role too low a 403, both before the body is even looked at.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ForbiddenError, UnauthenticatedError, roleAtLeast, type Manager, type Role, type TokenInfo } from "../manager/index.js";

declare module "fastify" {
  interface FastifyContextConfig {
    role?: Role;
    /** Open to anyone (the docs). */
    public?: boolean;
  }
  interface FastifyRequest {
    principal: TokenInfo | undefined;
  }
}

export function installAuth(app: FastifyInstance, manager: Manager): void {
  app.decorateRequest("principal", undefined);
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    const url = request.routeOptions.url;
    // The OpenAPI document and its UI are open; so are unknown routes, which answer 404.
    if (config.public || !url || url.startsWith("/api/docs")) return;
    const header = request.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new UnauthenticatedError("an Authorization: Bearer token is required");
    const principal = manager.tokens.verify(m[1]!);
    if (!principal) throw new UnauthenticatedError("the token is unknown or revoked");
    const needed = config.role ?? "admin";
    if (!roleAtLeast(principal.role, needed)) throw new ForbiddenError(principal.role, needed);
    request.principal = principal;
  });
}

/** Who did it, for the audit log. */
export function actorOf(request: FastifyRequest): string {
  const p = request.principal;
  return p ? `token:${p.id} (${p.name}, ${p.role})` : "anonymous";
}
