/**
 * The pairing token: what one site needs to reach and authenticate the other
 * (its site-to-site URL and its certificate's fingerprint), plus a one-time
 * secret. Carrying the fingerprint in the token means the first connection is
 * already pinned: no trust-on-first-use.
 */
import { UnprocessableError } from "../manager/index.js";

export interface PairingToken {
  site: string;
  peerUrl: string;
  fingerprint: string;
  secret: string;
}

const PREFIX = "llpair_";

export function encodePairingToken(t: PairingToken): string {
  return PREFIX + Buffer.from(JSON.stringify({ v: 1, s: t.site, u: t.peerUrl, f: t.fingerprint, k: t.secret })).toString("base64url");
}

export function decodePairingToken(text: string): PairingToken {
  const bad = () =>
    new UnprocessableError("pairing_token_malformed", "that is not a pairing token (it starts with llpair_)", "copy the whole token printed by: lifeline site pair-token --dir DIR");
  if (!text.startsWith(PREFIX)) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text.slice(PREFIX.length), "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const o = v as Record<string, unknown>;
  if (o.v !== 1 || typeof o.s !== "string" || typeof o.u !== "string" || typeof o.f !== "string" || typeof o.k !== "string") throw bad();
  // The site-to-site API is HTTPS: any other URL could only fail later, and less clearly.
  if (!URL.canParse(o.u) || new URL(o.u).protocol !== "https:") throw bad();
  return { site: o.s, peerUrl: o.u, fingerprint: o.f, secret: o.k };
}
