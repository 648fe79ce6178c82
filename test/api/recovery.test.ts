/** api-recovery: the recovery routes' answers to clients' mistakes (the operations themselves: test/cli/recovery.test.ts). */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { bearer, openTestSite, pair, tempRoot, type TestSite } from "./harness.js";

describe("api-recovery", () => {
  const root = tempRoot();
  let a: TestSite;
  let b: TestSite;
  let viewer: string;
  before(async () => {
    [a, b] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
    await pair(a, b);
    const post = (url: string, payload: object) => a.app.inject({ method: "POST", url, headers: bearer(a.admin), payload });
    assert.equal((await post("/api/v1/groups", { name: "erp", recoverySite: "B" })).statusCode, 201);
    assert.equal((await post("/api/v1/groups/erp/vms", { name: "db", disks: [{ name: "data", sizeBytes: 1 << 20 }] })).statusCode, 201);
    viewer = (await b.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(b.admin), payload: { role: "viewer", name: "wall screen" } })).json().token;
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const call = (s: TestSite, url: string, payload?: object, token = s === a ? a.admin : b.admin) =>
    s.app.inject({ method: "POST", url, headers: bearer(token), ...(payload ? { payload } : {}) });

  it("401 without a token, 403 for a viewer; a viewer may read tasks and reports", async () => {
    const anon = await b.app.inject({ method: "POST", url: "/api/v1/groups/erp/test", payload: {} });
    assert.equal(anon.statusCode, 401);
    for (const route of ["test", "test/stop", "failover", "commit", "rollback", "move", "reverse"]) {
      const r = await call(b, `/api/v1/groups/erp/${route}`, {}, viewer);
      assert.equal(r.statusCode, 403, route);
      assert.match(r.json().error.message, /operator role/);
    }
    for (const url of ["/api/v1/tasks", "/api/v1/tasks?all=true", "/api/v1/reports", "/api/v1/reports?group=erp"]) {
      const r = await b.app.inject({ url, headers: bearer(viewer) });
      assert.equal(r.statusCode, 200, url);
      assert.deepEqual(r.json(), []);
    }
  });

  it("400 for a bad body, naming the field", async () => {
    const cases: [string, object, string][] = [
      ["test/stop", { result: "maybe" }, "body.result"],
      ["test", { point: 5 }, "body.point"],
      ["failover", { point: "latest", extra: true }, "body"],
      ["restore", { disk: "db/data", out: "relative.raw" }, "body.out"],
      ["restore", { disk: "data", out: "/tmp/x.raw" }, "body.disk"],
      ["move", { reverseProtect: "yes" }, "body.reverseProtect"],
    ];
    for (const [route, body, field] of cases) {
      const r = await call(b, `/api/v1/groups/erp/${route}`, body);
      assert.equal(r.statusCode, 400, `${route} ${JSON.stringify(body)}: ${r.body}`);
      assert.equal(r.json().error.code, "invalid_request");
      assert.ok(r.json().error.field.startsWith(field), `${r.json().error.field} names ${field}`);
    }
  });

  it("404 for an unknown group, task or report", async () => {
    assert.equal((await call(b, "/api/v1/groups/nope/test", {})).statusCode, 404);
    assert.equal((await b.app.inject({ url: "/api/v1/tasks/test-start-xyz", headers: bearer(b.admin) })).statusCode, 404);
    assert.equal((await b.app.inject({ url: "/api/v1/reports/test_123", headers: bearer(b.admin) })).statusCode, 404);
  });

  it("409 for an operation that does not fit the group's state or this site; 422 when it cannot be done", async () => {
    // The protected site forwards it to the recovery site, whose answer comes back.
    const atA = await call(a, "/api/v1/groups/erp/test", {});
    assert.equal(atA.statusCode, 422, atA.body);
    assert.equal(atA.json().error.code, "no_journal");
    for (const [route, code] of [["commit", "not_failed_over"], ["rollback", "not_failed_over"], ["test/stop", "no_test"], ["reverse", "not_committed"]]) {
      const r = await call(b, `/api/v1/groups/erp/${route}`, {});
      assert.equal(r.statusCode, 409, route);
      assert.equal(r.json().error.code, code);
    }
    // This test site's appliance keeps no journal: nothing to recover from yet.
    const none = await call(b, "/api/v1/groups/erp/test", {});
    assert.equal(none.statusCode, 422);
    assert.equal(none.json().error.code, "no_journal");
    const shutdown = await call(b, "/api/v1/groups/erp/failover", { shutdownSource: true });
    assert.equal(shutdown.statusCode, 422);
  });
});
