/** Auth (401/403 per role), tokens, docs, metrics and the error format on every path. */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { bearer, openTestSite, tempRoot, type TestSite } from "./harness.js";

describe("api-auth", () => {
  const root = tempRoot();
  let a: TestSite;
  let viewer: string;
  let operator: string;
  before(async () => {
    a = await openTestSite(root, "A");
    const mk = async (role: string) => (await a.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(a.admin), payload: { role, name: role } })).json().token as string;
    viewer = await mk("viewer");
    operator = await mk("operator");
  });
  after(async () => {
    await a.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("401 without a token, with a wrong one, with a malformed header", async () => {
    for (const headers of [{}, bearer("llt_nope"), { authorization: "Basic abc" }]) {
      const r = await a.app.inject({ url: "/api/v1/groups", headers });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().error.code, "unauthenticated");
      assert.ok(r.json().error.hint);
    }
    assert.equal((await a.app.inject({ url: "/metrics" })).statusCode, 401);
  });

  it("403 for a role too low, before the body is looked at", async () => {
    const cases: [string, string, string, number][] = [
      [viewer, "GET", "/api/v1/groups", 200],
      [viewer, "POST", "/api/v1/groups", 403],
      [viewer, "POST", "/api/v1/groups/x/checkpoints", 403],
      [operator, "POST", "/api/v1/groups/x/checkpoints", 404],
      [operator, "POST", "/api/v1/groups", 403],
      [operator, "GET", "/api/v1/tokens", 403],
      [viewer, "GET", "/api/v1/audit", 403],
      [viewer, "POST", "/api/v1/pairing-tokens", 403],
    ];
    for (const [token, method, url, status] of cases) {
      const r = await a.app.inject({ method: method as "GET", url, headers: bearer(token), payload: method === "POST" ? {} : undefined });
      assert.equal(r.statusCode, status, `${method} ${url}: ${r.body}`);
      if (status === 403) assert.match(r.json().error.message, /needs the (operator|admin) role/);
    }
  });

  it("lists tokens without secrets, revokes one, and the revoked one is refused", async () => {
    const list = (await a.app.inject({ url: "/api/v1/tokens", headers: bearer(a.admin) })).json();
    assert.ok(list.length >= 4);
    assert.ok(list.every((t: Record<string, unknown>) => !("token" in t) && !("hash" in t)));
    const v = list.find((t: { name: string }) => t.name === "viewer");
    const r = await a.app.inject({ method: "DELETE", url: `/api/v1/tokens/${v.id}`, headers: bearer(a.admin) });
    assert.equal(r.statusCode, 200);
    assert.ok(r.json().revokedAt);
    assert.equal((await a.app.inject({ url: "/api/v1/groups", headers: bearer(viewer) })).statusCode, 401);
    assert.equal((await a.app.inject({ method: "DELETE", url: "/api/v1/tokens/tok_nope", headers: bearer(a.admin) })).statusCode, 404);
    const bad = await a.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(a.admin), payload: { role: "root" } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, "body.role");
  });

  it("serves OpenAPI at /api/docs without a token", async () => {
    const r = await a.app.inject({ url: "/api/docs/json" });
    assert.equal(r.statusCode, 200);
    const doc = r.json();
    assert.ok(doc.paths["/api/v1/groups"]);
    assert.ok(doc.paths["/api/v1/groups/{name}/checkpoints"]);
    assert.equal((await a.app.inject({ url: "/api/docs" })).statusCode < 400, true);
  });

  it("exports Prometheus metrics with a token", async () => {
    const r = await a.app.inject({ url: "/metrics", headers: bearer(operator) });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /lifeline_alerts_active\{site="A"\} 0/);
    assert.match(r.body, /# TYPE lifeline_group_rpo_seconds gauge/);
  });

  it("answers unknown routes with a JSON 404", async () => {
    const r = await a.app.inject({ url: "/api/v1/nope", headers: bearer(a.admin) });
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().error.code, "route_not_found");
  });
});
