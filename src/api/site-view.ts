/** What `GET /site` answers, shared with the live stream so both say the same about the site. */
import type { SiteContext } from "../site/index.js";

export function siteView(ctx: SiteContext) {
  return {
    name: ctx.name,
    fingerprint: ctx.identity.fingerprint,
    ...ctx.endpoints,
    nbd: ctx.appliance.nbdAddress,
    peers: ctx.manager.peers.list().map(({ certPem: _pem, ...p }) => p),
  };
}

export type SiteView = ReturnType<typeof siteView>;
