/**
 * Paired sites and one-time pairing tokens. A pairing token's secret is kept
 * only as a hash; it expires, and it is spent by the first site that uses it,
 * so a token that leaks after pairing is worthless.
 */
import { randomBytes } from "node:crypto";
import type { Db } from "./database.js";
import { ConflictError, NotFoundError, UnprocessableError } from "./errors.js";
import { hashSecret, randomId } from "./tokens.js";

export interface Peer {
  name: string;
  /** The site-to-site API (HTTPS with mutual TLS). */
  peerUrl: string;
  /** The operators' API, for links shown to people. */
  apiUrl: string;
  replicationHost: string;
  replicationPort: number;
  /** SHA-256 fingerprint of the peer's certificate, as Node prints it (AB:CD:…). */
  fingerprint: string;
  certPem: string;
  pairedAt: number;
  /** The limit of the link to this site, shared by every group replicating over it; null: unlimited. */
  bandwidthBytesPerSec: number | null;
}

interface PeerRow {
  name: string;
  peer_url: string;
  api_url: string;
  replication_host: string;
  replication_port: number;
  fingerprint: string;
  cert_pem: string;
  paired_at: number;
  bandwidth_bytes_per_s: number | null;
}

export const PAIRING_TOKEN_TTL_MS = 60 * 60_000;

export class PeerStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  /** Stores (or re-pairs) a peer. */
  upsert(p: Omit<Peer, "pairedAt" | "bandwidthBytesPerSec">): Peer {
    this.#db
      .prepare(
        `INSERT INTO peers (name, peer_url, api_url, replication_host, replication_port, fingerprint, cert_pem, paired_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET peer_url = excluded.peer_url, api_url = excluded.api_url, replication_host = excluded.replication_host,
           replication_port = excluded.replication_port, fingerprint = excluded.fingerprint, cert_pem = excluded.cert_pem, paired_at = excluded.paired_at`,
      )
      .run(p.name, p.peerUrl, p.apiUrl, p.replicationHost, p.replicationPort, p.fingerprint, p.certPem, Date.now());
    return this.get(p.name);
  }

  get(name: string): Peer {
    const row = this.#db.prepare("SELECT * FROM peers WHERE name = ?").get(name) as PeerRow | undefined;
    if (!row) throw new NotFoundError("site", name, "pair it first: lifeline site pair-token on that site, then lifeline pair here");
    return toPeer(row);
  }

  find(name: string): Peer | undefined {
    const row = this.#db.prepare("SELECT * FROM peers WHERE name = ?").get(name) as PeerRow | undefined;
    return row ? toPeer(row) : undefined;
  }

  byFingerprint(fingerprint: string): Peer | undefined {
    const row = this.#db.prepare("SELECT * FROM peers WHERE fingerprint = ?").get(fingerprint) as PeerRow | undefined;
    return row ? toPeer(row) : undefined;
  }

  list(): Peer[] {
    return (this.#db.prepare("SELECT * FROM peers ORDER BY name").all() as PeerRow[]).map(toPeer);
  }

  /** Sets the limit of the link to `name` (null: unlimited). */
  setBandwidth(name: string, bytesPerSec: number | null): Peer {
    this.get(name);
    this.#db.prepare("UPDATE peers SET bandwidth_bytes_per_s = ? WHERE name = ?").run(bytesPerSec, name);
    return this.get(name);
  }

  remove(name: string): void {
    this.get(name);
    const used = this.#db.prepare("SELECT name FROM groups WHERE protected_site = ? OR recovery_site = ?").get(name, name) as { name: string } | undefined;
    if (used) throw new ConflictError("peer_in_use", `site "${name}" is used by group "${used.name}"`, `delete the group first: lifeline group delete ${used.name}`);
    this.#db.prepare("DELETE FROM peers WHERE name = ?").run(name);
  }

  /** A new one-time pairing secret (returned once). */
  createPairingSecret(ttlMs = PAIRING_TOKEN_TTL_MS): { id: string; secret: string; expiresAt: number } {
    const id = randomId("pair");
    const secret = randomBytes(24).toString("base64url");
    const now = Date.now();
    this.#db.prepare("INSERT INTO pairing_tokens (id, hash, created_at, expires_at) VALUES (?, ?, ?, ?)").run(id, hashSecret(secret), now, now + ttlMs);
    return { id, secret, expiresAt: now + ttlMs };
  }

  /** Spends a pairing secret for `site`: refused if unknown, expired or already used. */
  spendPairingSecret(secret: string, site: string): void {
    const row = this.#db.prepare("SELECT * FROM pairing_tokens WHERE hash = ?").get(hashSecret(secret)) as
      | { id: string; expires_at: number; used_at: number | null; used_by: string | null }
      | undefined;
    const hint = "make a new one on this site with: lifeline site pair-token";
    if (!row) throw new UnprocessableError("pairing_token_invalid", "the pairing token is not one this site made", hint);
    if (row.used_at !== null) throw new UnprocessableError("pairing_token_used", `the pairing token was already used (by site ${row.used_by})`, hint);
    if (row.expires_at < Date.now()) throw new UnprocessableError("pairing_token_expired", "the pairing token has expired", hint);
    this.#db.prepare("UPDATE pairing_tokens SET used_at = ?, used_by = ? WHERE id = ?").run(Date.now(), site, row.id);
  }
}

function toPeer(r: PeerRow): Peer {
  return {
    name: r.name,
    peerUrl: r.peer_url,
    apiUrl: r.api_url,
    replicationHost: r.replication_host,
    replicationPort: r.replication_port,
    fingerprint: r.fingerprint,
    certPem: r.cert_pem,
    pairedAt: r.paired_at,
    bandwidthBytesPerSec: r.bandwidth_bytes_per_s,
  };
}
