/**
 * The one place where errors become HTTP (STYLE 7): our error kinds map to
 * statuses, a schema violation becomes a 400 naming the field, and anything
 * else is a 500 that is logged — a client's mistake never lands there.
 * Every error body is `{"error": {"code", "message", "hint"?}}`.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { LifelineError, type ErrorKind } from "../manager/index.js";

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; hint?: string; field?: string };
}

export function sendError(reply: FastifyReply, status: number, body: ErrorBody["error"]): FastifyReply {
  return reply.code(status).type("application/json").send({ error: body });
}

/**
 * Fastify's `frameworkErrors` option: what its router refuses before any hook
 * or handler runs (a path that does not percent-decode, a path parameter longer
 * than fastify's limit) gets the same body as every other error.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = typeof err.statusCode === "number" ? err.statusCode : 500;
  if (status >= 500) void sendError(reply, 500, { code: "internal", message: "internal error; see the site daemon's log" });
  else void sendError(reply, status, { code: err.code.toLowerCase(), message: err.message });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const v = err.validation[0]!;
      const where = v.instancePath.split("/").filter(Boolean).join(".");
      const field = [err.validationContext ?? "body", where].filter(Boolean).join(".");
      return sendError(reply, 400, { code: "invalid_request", message: `${field}: ${v.message}`, field });
    }
    if (err instanceof LifelineError) {
      const body: ErrorBody["error"] = { code: err.code, message: err.message };
      if (err.hint) body.hint = err.hint;
      if ("field" in err && typeof err.field === "string") body.field = err.field;
      return sendError(reply, STATUS[err.kind], body);
    }
    const status = typeof err.statusCode === "number" ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: a body that is not JSON, a wrong content type, a body too large.
      return sendError(reply, status, { code: (err.code ?? "bad_request").toLowerCase(), message: err.message });
    }
    request.log.error({ err }, "request failed");
    return sendError(reply, 500, { code: "internal", message: "internal error; see the site daemon's log", hint: `request id ${request.id}` });
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, { code: "route_not_found", message: `no route ${request.method} ${request.url.split("?")[0]}`, hint: "the API is described at /api/docs" }),
  );
}
