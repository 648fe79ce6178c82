/**
 * Site-to-site calls: HTTPS with mutual TLS. This site shows its own
 * certificate, and the peer's certificate must have the fingerprint pinned at
 * pairing — CA checks are off because sites sign their own certificates; the
 * pin is the whole of the trust, so it is checked before a byte is sent.
 */
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { LifelineError, UnavailableError } from "../manager/index.js";
import type { SiteIdentity } from "./identity.js";

export class PeerUnauthenticatedError extends LifelineError {
  constructor(message: string) {
    super("unprocessable", "peer_unauthenticated", message, { hint: "pair the sites again with a fresh token (lifeline site pair-token on the other site)" });
  }
}

export interface PeerCall {
  url: string;
  fingerprint: string;
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
  timeoutMs?: number;
}

export async function callPeer<T>(identity: SiteIdentity, call: PeerCall): Promise<T> {
  const target = new URL(call.path, call.url);
  const payload = call.body === undefined ? undefined : Buffer.from(JSON.stringify(call.body));
  return new Promise<T>((resolve, reject) => {
    const req = https.request(
      target,
      {
        method: call.method,
        key: identity.keyPem,
        cert: identity.certPem,
        rejectUnauthorized: false,
        agent: false,
        timeout: call.timeoutMs ?? 10_000,
        headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = undefined;
          }
          if ((res.statusCode ?? 500) < 300) return resolve(body as T);
          const e = (body as { error?: { code?: string; message?: string; hint?: string } } | undefined)?.error;
          const status = res.statusCode ?? 500;
          const kind = status === 400 ? "invalid" : status === 404 ? "not_found" : status === 409 ? "conflict" : status >= 500 ? "unavailable" : "unprocessable";
          reject(new LifelineError(kind, e?.code ?? "peer_error", `site at ${call.url} answered: ${e?.message ?? `HTTP ${status}`}`, { hint: e?.hint }));
        });
      },
    );
    req.on("socket", (socket) => {
      socket.once("secureConnect", () => {
        const seen = (socket as TLSSocket).getPeerCertificate().fingerprint256;
        if (seen !== call.fingerprint) {
          req.destroy(new PeerUnauthenticatedError(`the site at ${call.url} shows certificate ${seen ?? "(none)"}, not the pinned ${call.fingerprint}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${call.timeoutMs ?? 10_000} ms`)));
    req.on("error", (err) => {
      if (err instanceof LifelineError) return reject(err);
      reject(new UnavailableError("peer_unreachable", `cannot reach the site at ${call.url}: ${err.message}`, { cause: err, hint: "is `lifeline site start` running there, and is the address reachable from here?" }));
    });
    req.end(payload);
  });
}
