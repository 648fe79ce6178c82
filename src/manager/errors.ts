/**
 * The manager's failures, in our words (STYLE 7): one class per kind, with a
 * one-line hint. The API's single error handler turns each kind into one HTTP
 * status; nothing below the API knows about HTTP.
 */
export type ErrorKind = "invalid" | "unauthenticated" | "forbidden" | "not_found" | "conflict" | "unprocessable" | "unavailable";

export class LifelineError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
    this.hint = options?.hint;
  }
}

/** A field of a request is wrong; `field` names it (e.g. "body.rpo"). */
export class ValidationError extends LifelineError {
  readonly field: string;
  constructor(field: string, message: string, hint?: string) {
    super("invalid", "invalid_request", `${field}: ${message}`, { hint });
    this.field = field;
  }
}

export class NotFoundError extends LifelineError {
  constructor(what: string, name: string, hint?: string) {
    super("not_found", `${what}_not_found`, `${what} "${name}" not found`, { hint });
  }
}

/** The request is well formed but clashes with what exists or runs now. */
export class ConflictError extends LifelineError {
  constructor(code: string, message: string, hint?: string) {
    super("conflict", code, message, { hint });
  }
}

/** Well formed, no conflict, but it cannot be done (a peer that is not paired, a disk file too small). */
export class UnprocessableError extends LifelineError {
  constructor(code: string, message: string, hint?: string) {
    super("unprocessable", code, message, { hint });
  }
}

export class UnauthenticatedError extends LifelineError {
  constructor(message = "a valid bearer token is required") {
    super("unauthenticated", "unauthenticated", message, {
      hint: "pass --token or set LIFELINE_TOKEN (lifeline site init prints the first admin token)",
    });
  }
}

export class ForbiddenError extends LifelineError {
  constructor(role: string, needed: string) {
    super("forbidden", "forbidden", `this needs the ${needed} role; the token has ${role}`, {
      hint: `ask an admin for a token with: lifeline token create --role ${needed}`,
    });
  }
}

/** A peer or the appliance cannot be reached or refused; retrying later may help. */
export class UnavailableError extends LifelineError {
  constructor(code: string, message: string, options?: { cause?: unknown; hint?: string }) {
    super("unavailable", code, message, options);
  }
}
