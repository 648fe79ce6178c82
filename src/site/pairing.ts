/**
 * Pairing two sites. Site B (recovery) makes a one-time token; site A calls
 * B's site-to-site API with it, over TLS pinned to the fingerprint in the
 * token and showing A's own certificate. B checks the secret, checks that the
 * certificate A sent in the body is the one A's TLS connection proved it holds,
 * stores A, and answers with its own details; A stores B. Both directions are
 * then known, and every later call between them is pinned.
 */
import { UnprocessableError, type Peer } from "../manager/index.js";
import type { SiteContext } from "./context.js";
import { fingerprintOf } from "./identity.js";
import { callPeer } from "./peer-client.js";
import { decodePairingToken, encodePairingToken } from "./pairing-token.js";
import { applianceSpec } from "./group-ops.js";

/** What each side tells the other about itself. */
export interface SiteCard {
  site: string;
  apiUrl: string;
  peerUrl: string;
  replicationHost: string;
  replicationPort: number;
  certPem: string;
}

export function siteCard(ctx: SiteContext): SiteCard {
  return { site: ctx.name, ...ctx.endpoints, certPem: ctx.identity.certPem };
}

export function createPairingToken(ctx: SiteContext, actor: string): { token: string; expiresAt: number } {
  const { secret, expiresAt, id } = ctx.manager.peers.createPairingSecret();
  ctx.manager.audit.record(actor, "pairing-token.create", id);
  const token = encodePairingToken({ site: ctx.name, peerUrl: ctx.endpoints.peerUrl, fingerprint: ctx.identity.fingerprint, secret });
  return { token, expiresAt };
}

/**
 * This site (A) pairs with the site that made `token` (B). `peerHost`, when
 * given, is how A reaches B (the host of the URL the operator typed): the
 * token names the address B listens on, which may be 0.0.0.0 or a private one.
 */
export async function pairWith(ctx: SiteContext, token: string, actor: string, peerHost?: string): Promise<Peer> {
  const t = decodePairingToken(token);
  if (peerHost) {
    const u = new URL(t.peerUrl);
    u.hostname = peerHost;
    t.peerUrl = u.origin;
  }
  if (t.site === ctx.name || t.fingerprint === ctx.identity.fingerprint) {
    throw new UnprocessableError("pairing_self", `the token was made by this site (${ctx.name}); a site cannot pair with itself`, "run lifeline site pair-token on the other site");
  }
  const answer = await callPeer<SiteCard>(ctx.identity, {
    url: t.peerUrl,
    fingerprint: t.fingerprint,
    method: "POST",
    path: "/peer/v1/pair",
    body: { secret: t.secret, card: siteCard(ctx) },
  });
  if (fingerprintOf(answer.certPem) !== t.fingerprint || answer.site !== t.site) {
    throw new UnprocessableError("pairing_mismatch", `the site at ${t.peerUrl} answered as ${answer.site} with another certificate than its token names`, "make a new token on the other site");
  }
  const peer = ctx.manager.peers.upsert({ name: answer.site, ...cardToPeer(reachable(answer, new URL(t.peerUrl).hostname)) });
  ctx.manager.audit.record(actor, "site.pair", answer.site, { peerUrl: answer.peerUrl, fingerprint: peer.fingerprint });
  ctx.manager.events.add({ severity: "info", kind: "site-paired", message: `paired with site ${answer.site} (${answer.apiUrl})`, data: { fingerprint: peer.fingerprint } });
  return peer;
}

/** This site (B) accepts a pairing call from A; `clientFingerprint` is what A's TLS connection proved. */
export function acceptPairing(ctx: SiteContext, secret: string, card: SiteCard, clientFingerprint: string | undefined, remoteAddress?: string): SiteCard {
  if (!clientFingerprint || fingerprintOf(card.certPem) !== clientFingerprint) {
    throw new UnprocessableError("pairing_mismatch", "the certificate in the pairing request is not the one the connection showed", "pair from the site daemon itself (lifeline pair)");
  }
  if (card.site === ctx.name) throw new UnprocessableError("pairing_self", `site ${card.site} has this site's name; site names must differ`);
  ctx.manager.peers.spendPairingSecret(secret, card.site);
  ctx.manager.peers.upsert({ name: card.site, ...cardToPeer(remoteAddress ? reachable(card, remoteAddress) : card) });
  ctx.manager.audit.record(`site:${card.site}`, "site.pair", card.site, { peerUrl: card.peerUrl, fingerprint: clientFingerprint });
  ctx.manager.events.add({ severity: "info", kind: "site-paired", message: `paired with site ${card.site} (${card.apiUrl})`, data: { fingerprint: clientFingerprint } });
  return siteCard(ctx);
}

/** A card whose addresses listen on every interface (0.0.0.0, ::) is reached at the address we know the site by. */
function reachable(c: SiteCard, knownHost: string): SiteCard {
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::" || h === "[::]";
  const fix = (url: string) => {
    const u = new URL(url);
    if (wildcard(u.hostname)) u.hostname = knownHost.includes(":") ? `[${knownHost.replace(/^::ffff:/, "")}]` : knownHost;
    return u.origin;
  };
  return { ...c, apiUrl: fix(c.apiUrl), peerUrl: fix(c.peerUrl), replicationHost: wildcard(c.replicationHost) ? knownHost.replace(/^::ffff:/, "") : c.replicationHost };
}

function cardToPeer(c: SiteCard): Omit<Peer, "name" | "pairedAt" | "bandwidthBytesPerSec"> {
  return {
    peerUrl: c.peerUrl,
    apiUrl: c.apiUrl,
    replicationHost: c.replicationHost,
    replicationPort: c.replicationPort,
    fingerprint: fingerprintOf(c.certPem),
    certPem: c.certPem,
  };
}

/**
 * Tells every paired site where this one listens now (its ports may have
 * changed at a restart), and learns where they listen. Best effort: a site
 * that is down now learns it when it starts and announces itself; the result
 * says which could not be told.
 */
export async function announceEndpoints(ctx: SiteContext): Promise<{ site: string; error: string }[]> {
  const failed: { site: string; error: string }[] = [];
  await Promise.all(
    ctx.manager.peers.list().map(async (peer) => {
      try {
        // The answer is the peer's own card: both sides learn each other's current addresses.
        const theirs = await callPeer<SiteCard>(ctx.identity, { url: peer.peerUrl, fingerprint: peer.fingerprint, method: "PUT", path: "/peer/v1/site", body: siteCard(ctx), timeoutMs: 5000 });
        await updatePeerEndpoints(ctx, peer.name, theirs, new URL(peer.peerUrl).hostname);
      } catch (err) {
        failed.push({ site: peer.name, error: (err as Error).message });
      }
    }),
  );
  return failed;
}

/** A paired site says where it listens now; groups shared with it pick the new address up. */
export async function updatePeerEndpoints(ctx: SiteContext, caller: string, card: SiteCard, remoteAddress?: string): Promise<void> {
  if (card.site !== caller) throw new UnprocessableError("peer_mismatch", `site ${caller} sent the card of ${card.site}`);
  const known = ctx.manager.peers.get(caller);
  if (fingerprintOf(card.certPem) !== known.fingerprint) throw new UnprocessableError("peer_mismatch", `site ${caller} sent another certificate than the pinned one`, "pair the sites again");
  const next = cardToPeer(remoteAddress ? reachable(card, remoteAddress) : card);
  ctx.manager.peers.upsert({ name: caller, ...next });
  for (const g of ctx.manager.groups.list()) {
    if (g.protectedSite === caller || g.recoverySite === caller) await ctx.appliance.protect(applianceSpec(ctx, g));
  }
}

/**
 * The bandwidth limit of the link to a paired site (null: unlimited): one
 * limit for every group that replicates over it, shared by priority.
 */
export function setPeerBandwidth(ctx: SiteContext, site: string, bytesPerSec: number | null, actor: string): Peer {
  const peer = ctx.manager.peers.setBandwidth(site, bytesPerSec);
  ctx.appliance.setPairBandwidth(site, bytesPerSec);
  ctx.manager.audit.record(actor, "site.bandwidth", site, { bandwidthBytesPerSec: bytesPerSec });
  const limit = bytesPerSec === null ? "unlimited" : `${(bytesPerSec / 1e6).toFixed(bytesPerSec < 1e7 ? 1 : 0)} MB/s`;
  ctx.manager.events.add({ severity: "info", kind: "peer-bandwidth", message: `replication to site ${site}: bandwidth ${limit}, shared by its groups by priority` });
  return peer;
}
