/**
 * The one way the console talks to its site: fetch with the bearer token,
 * JSON in and out, and the site's answers sorted into the few cases the UI
 * treats differently — signed out (401), not allowed (403), a route this
 * site does not have yet (404 route_not_found), the site not answering
 * (network error or 502/503/504), and every other error with its message.
 */
import type { ErrorBody } from "./types";

export type ApiErrorKind = "unauthenticated" | "forbidden" | "unavailable-route" | "unreachable" | "failed";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;
  constructor(kind: ApiErrorKind, status: number, code: string, message: string, hint?: string) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

export type ApiEvent = { kind: "unauthenticated" } | { kind: "reachable"; ok: boolean; message: string };
type Listener = (e: ApiEvent) => void;

const API = "/api/v1";
/** A site that accepts the connection but does not answer counts as not answering. */
const TIMEOUT_MS = 15_000;

function isErrorBody(x: unknown): x is ErrorBody {
  if (typeof x !== "object" || x === null || !("error" in x)) return false;
  const e = (x as { error: unknown }).error;
  return typeof e === "object" && e !== null && typeof (e as { message?: unknown }).message === "string";
}

export class Api {
  readonly #token: string;
  readonly #listeners = new Set<Listener>();
  constructor(token: string) {
    this.#token = token;
  }

  /** 401s and reachability changes, for the shell. */
  subscribe(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  #emit(e: ApiEvent): void {
    for (const l of this.#listeners) l(e);
  }

  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    const q = query ? Object.entries(query).filter((e): e is [string, string | number] => e[1] !== undefined) : [];
    const qs = q.length ? `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)])).toString()}` : "";
    return this.request<T>("GET", `${path}${qs}`);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body), cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.#emit({ kind: "reachable", ok: false, message: `the site does not answer (${message})` });
      throw new ApiError("unreachable", 0, "unreachable", "the site does not answer");
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      const e = await this.#error(res);
      // A 503 with our error body is the site answering that something behind it is unavailable.
      if (e.code === "unreachable" || res.status !== 503) {
        this.#emit({ kind: "reachable", ok: false, message: `the site does not answer (HTTP ${res.status})` });
        throw new ApiError("unreachable", res.status, "unreachable", "the site does not answer");
      }
      this.#emit({ kind: "reachable", ok: true, message: "" });
      throw e;
    }
    this.#emit({ kind: "reachable", ok: true, message: "" });
    if (res.status === 204) return undefined as T;
    if (res.ok) return (await res.json()) as T;
    const e = await this.#error(res);
    if (e.kind === "unauthenticated") this.#emit({ kind: "unauthenticated" });
    throw e;
  }

  async #error(res: Response): Promise<ApiError> {
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch {
      parsed = undefined;
    }
    const body = isErrorBody(parsed) ? parsed.error : { code: "unreachable", message: `HTTP ${res.status}` };
    const kind: ApiErrorKind =
      res.status === 401 ? "unauthenticated" : res.status === 403 ? "forbidden" : res.status === 404 && body.code === "route_not_found" ? "unavailable-route" : "failed";
    return new ApiError(kind, res.status, body.code, body.message, body.hint);
  }
}

/** Says a route this site does not have yet, in words for the operator. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.kind === "unavailable-route") return "not available on this site yet (the site's API does not offer it)";
    return err.hint ? `${err.message} — ${err.hint}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
