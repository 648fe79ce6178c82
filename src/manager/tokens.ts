/**
 * API tokens. A token is shown once, when made; the database keeps only its
 * SHA-256, so a copy of the site directory does not hand out access. Tokens
 * are 32 random bytes, so a plain hash (no salt, no KDF) is enough to make a
 * stolen hash useless.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "./database.js";
import { NotFoundError } from "./errors.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
  createdBy: string;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  created_at: number;
  created_by: string;
  last_used_at: number | null;
  revoked_at: number | null;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function randomId(prefix: string, bytes = 6): string {
  return `${prefix}_${randomBytes(bytes).toString("hex")}`;
}

export class TokenStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  /** Makes a token; the secret is returned here and never again. */
  create(role: Role, name: string, createdBy: string): { token: string; info: TokenInfo } {
    const id = randomId("tok");
    const token = `llt_${randomBytes(32).toString("base64url")}`;
    const now = Date.now();
    this.#db
      .prepare("INSERT INTO tokens (id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)")
      .run(id, name, role, hashSecret(token), now, createdBy);
    return { token, info: this.get(id) };
  }

  /** The live token with this secret, or undefined. */
  verify(token: string): TokenInfo | undefined {
    const row = this.#db.prepare("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL").get(hashSecret(token)) as TokenRow | undefined;
    if (!row) return undefined;
    const now = Date.now();
    // Recorded at most once a minute so that reads do not turn into writes.
    if (row.last_used_at === null || now - row.last_used_at > 60_000) {
      this.#db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?").run(now, row.id);
      row.last_used_at = now;
    }
    return toInfo(row);
  }

  get(id: string): TokenInfo {
    const row = this.#db.prepare("SELECT * FROM tokens WHERE id = ?").get(id) as TokenRow | undefined;
    if (!row) throw new NotFoundError("token", id, "list tokens with: lifeline token list");
    return toInfo(row);
  }

  list(): TokenInfo[] {
    return (this.#db.prepare("SELECT * FROM tokens ORDER BY created_at, id").all() as TokenRow[]).map(toInfo);
  }

  revoke(id: string): TokenInfo {
    const info = this.get(id);
    if (info.revokedAt === null) this.#db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ?").run(Date.now(), id);
    return this.get(id);
  }
}

function toInfo(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    createdBy: r.created_by,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}
