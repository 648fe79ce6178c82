/**
 * The signed-in token, kept for the browser session only (sessionStorage: a
 * closed tab forgets it), and the role it carries. The API has no "who am I"
 * yet on every site, so the role is learnt from what the token may do:
 * `GET /whoami` where it exists, else the admin-only token list (200: admin;
 * a 403 says which role the token has). When in doubt: viewer, which shows
 * the fewest buttons — the server checks every action anyway.
 */
import { Api, ApiError } from "../api/client";
import type { Role, SiteInfo } from "../api/types";
import { ROLES } from "../api/types";

const KEY = "lifeline.token";

export function savedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, token);
}

export interface Session {
  token: string;
  role: Role;
  site: SiteInfo;
  api: Api;
}

function roleIn(text: string): Role | undefined {
  const m = /the token has (\w+)/.exec(text);
  return m && (ROLES as readonly string[]).includes(m[1]!) ? (m[1] as Role) : undefined;
}

async function learnRole(api: Api): Promise<Role> {
  try {
    const me = await api.get<{ role?: unknown }>("/whoami");
    if (typeof me.role === "string" && (ROLES as readonly string[]).includes(me.role)) return me.role as Role;
  } catch (err) {
    if (!(err instanceof ApiError) || err.kind !== "unavailable-route") throw err;
  }
  try {
    await api.get("/tokens");
    return "admin";
  } catch (err) {
    if (err instanceof ApiError && err.kind === "forbidden") return roleIn(err.message) ?? "viewer";
    throw err;
  }
}

/** Checks the token against the site; throws ApiError (401 for a wrong token). */
export async function signIn(token: string): Promise<Session> {
  const api = new Api(token);
  const site = await api.get<SiteInfo>("/site");
  const role = await learnRole(api);
  return { token, role, site, api };
}

export function can(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
