/** Pairing two sites over real mutual TLS: both directions known, a reused or foreign token refused. */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { callPeer } from "../../src/site/index.js";
import { bearer, openTestSite, pair, tempRoot, type TestSite } from "./harness.js";

describe("api-pairing", () => {
  const root = tempRoot();
  let a: TestSite;
  let b: TestSite;
  let c: TestSite;
  before(async () => {
    [a, b, c] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B"), openTestSite(root, "C")]);
  });
  after(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("pairs both directions with pinned fingerprints", async () => {
    await pair(a, b);
    const atA = (await a.app.inject({ url: "/api/v1/peers", headers: bearer(a.admin) })).json();
    const atB = (await b.app.inject({ url: "/api/v1/peers", headers: bearer(b.admin) })).json();
    assert.deepEqual(atA.map((p: { name: string }) => p.name), ["B"]);
    assert.deepEqual(atB.map((p: { name: string }) => p.name), ["A"]);
    assert.equal(atA[0].fingerprint, b.site.ctx.identity.fingerprint);
    assert.equal(atB[0].fingerprint, a.site.ctx.identity.fingerprint);
  });

  it("sets the bandwidth of the link to a peer, which the appliance shares among its groups; refuses bad values, unknown sites and non-admins", async () => {
    const set = await a.app.inject({ method: "PATCH", url: "/api/v1/peers/B", headers: bearer(a.admin), payload: { bandwidthBytesPerSec: 25_000_000 } });
    assert.equal(set.statusCode, 200);
    assert.equal(set.json().bandwidthBytesPerSec, 25_000_000);
    assert.equal(a.appliance.pairBandwidth.get("B"), 25_000_000);
    const listed = (await a.app.inject({ url: "/api/v1/peers", headers: bearer(a.admin) })).json();
    assert.equal(listed[0].bandwidthBytesPerSec, 25_000_000);
    const lifted = await a.app.inject({ method: "PATCH", url: "/api/v1/peers/B", headers: bearer(a.admin), payload: { bandwidthBytesPerSec: null } });
    assert.equal(lifted.json().bandwidthBytesPerSec, null);
    assert.equal(a.appliance.pairBandwidth.get("B"), null);
    for (const payload of [{ bandwidthBytesPerSec: -1 }, { bandwidthBytesPerSec: "fast" }, {}, { bandwidthBytesPerSec: 1, extra: true }]) {
      const bad = await a.app.inject({ method: "PATCH", url: "/api/v1/peers/B", headers: bearer(a.admin), payload });
      assert.equal(bad.statusCode, 400, JSON.stringify(payload));
    }
    assert.equal((await a.app.inject({ method: "PATCH", url: "/api/v1/peers/Z", headers: bearer(a.admin), payload: { bandwidthBytesPerSec: 1 } })).statusCode, 404);
    const viewer = (await a.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(a.admin), payload: { role: "operator" } })).json().token as string;
    assert.equal((await a.app.inject({ method: "PATCH", url: "/api/v1/peers/B", headers: bearer(viewer), payload: { bandwidthBytesPerSec: 1 } })).statusCode, 403);
    assert.equal(a.appliance.pairBandwidth.get("B"), null, "nothing changed by refused requests");
  });

  it("refuses a reused token", async () => {
    const t = (await b.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(b.admin) })).json().token;
    const first = await c.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(c.admin), payload: { token: t } });
    assert.equal(first.statusCode, 201);
    const again = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: t } });
    assert.equal(again.statusCode, 422);
    assert.equal(again.json().error.code, "pairing_token_used");
    assert.match(again.json().error.message, /already used \(by site C\)/);
  });

  it("refuses garbage, a token of this very site, and a tampered secret", async () => {
    const garbage = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: "hello" } });
    assert.equal(garbage.statusCode, 422);
    assert.equal(garbage.json().error.code, "pairing_token_malformed");
    const own = (await a.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(a.admin) })).json().token;
    const self = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: own } });
    assert.equal(self.json().error.code, "pairing_self");
    const t = (await b.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(b.admin) })).json().token as string;
    const body = JSON.parse(Buffer.from(t.slice(7), "base64url").toString());
    body.k = "not-the-secret";
    const forged = "llpair_" + Buffer.from(JSON.stringify(body)).toString("base64url");
    const r = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: forged } });
    assert.equal(r.statusCode, 422);
    assert.equal(r.json().error.code, "pairing_token_invalid");
  });

  it("refuses a peer whose certificate is not the pinned one", async () => {
    const t = (await b.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(b.admin) })).json().token as string;
    const body = JSON.parse(Buffer.from(t.slice(7), "base64url").toString());
    body.f = c.site.ctx.identity.fingerprint; // B's address, C's fingerprint: a man in the middle
    const forged = "llpair_" + Buffer.from(JSON.stringify(body)).toString("base64url");
    const r = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: forged } });
    assert.equal(r.statusCode, 422);
    assert.equal(r.json().error.code, "peer_unauthenticated");
  });

  it("reports an unreachable peer as 503 with a hint", async () => {
    const t = (await b.app.inject({ method: "POST", url: "/api/v1/pairing-tokens", headers: bearer(b.admin) })).json().token as string;
    const body = JSON.parse(Buffer.from(t.slice(7), "base64url").toString());
    body.u = "https://127.0.0.1:1";
    const r = await a.app.inject({ method: "POST", url: "/api/v1/peers", headers: bearer(a.admin), payload: { token: "llpair_" + Buffer.from(JSON.stringify(body)).toString("base64url") } });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().error.code, "peer_unreachable");
    assert.ok(r.json().error.hint);
  });

  it("the site-to-site API refuses a caller whose certificate is not a paired site's", async () => {
    // C is paired with B only; A must not take a group definition from it.
    const def = { name: "evil", protectedSite: "C", recoverySite: "A", settings: { rpoTargetMs: 1, historyMs: 1, journalLimitBytes: 1, checkpointIntervalMs: 1000, bandwidthBytesPerSec: null, priority: "low", compression: true }, vms: [] };
    await assert.rejects(
      callPeer(c.site.ctx.identity, { url: a.site.ctx.endpoints.peerUrl, fingerprint: a.site.ctx.identity.fingerprint, method: "PUT", path: "/peer/v1/groups/evil", body: def }),
      /not one of a paired site/,
    );
    assert.equal(a.site.ctx.manager.groups.has("evil"), false);
  });

  it("GET /site says who this site is and whom it is paired with; a peer in use cannot be unpaired, an unknown one is a 404", async () => {
    const r = await a.app.inject({ url: "/api/v1/site", headers: bearer(a.admin) });
    assert.equal(r.statusCode, 200);
    const siteA = r.json();
    assert.equal(siteA.name, "A");
    assert.equal(siteA.fingerprint, a.site.ctx.identity.fingerprint);
    assert.ok(siteA.peers.some((p: { name: string; certPem?: string }) => p.name === "B" && p.certPem === undefined), "peers, without certificates");
    const group = await a.app.inject({ method: "POST", url: "/api/v1/groups", headers: bearer(a.admin), payload: { name: "uses-b", recoverySite: "B" } });
    assert.equal(group.statusCode, 201, group.body);
    const inUse = await a.app.inject({ method: "DELETE", url: "/api/v1/peers/B", headers: bearer(a.admin) });
    assert.equal(inUse.statusCode, 409);
    assert.equal(inUse.json().error.code, "peer_in_use");
    assert.equal((await a.app.inject({ method: "DELETE", url: "/api/v1/peers/Z", headers: bearer(a.admin) })).statusCode, 404);
    assert.equal((await a.app.inject({ method: "DELETE", url: "/api/v1/groups/uses-b", headers: bearer(a.admin) })).statusCode, 204);
    assert.equal((await a.app.inject({ method: "DELETE", url: "/api/v1/peers/B", headers: bearer(a.admin) })).statusCode, 204);
    assert.ok(!(await a.app.inject({ url: "/api/v1/site", headers: bearer(a.admin) })).json().peers.some((p: { name: string }) => p.name === "B"));
  });
});
