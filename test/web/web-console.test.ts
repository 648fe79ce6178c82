/**
 * registerWebConsole on the real operators' API (buildApp over a fake
 * appliance): the console's files are public, client routes get index.html,
 * the API and /metrics keep their own answers and 404s, assets are cached
 * for good and index.html never, and an unbuilt console still answers `/`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { registerWebConsole } from "../../src/api/web-console.js";
import { bearer, openTestSite, tempRoot, type TestSite } from "../api/harness.js";

describe("web-console-serving", () => {
  const root = tempRoot();
  const dist = path.join(root, "web");
  let s: TestSite;
  let unbuilt: TestSite;

  before(async () => {
    fs.mkdirSync(path.join(dist, "assets"), { recursive: true });
    fs.writeFileSync(path.join(dist, "index.html"), '<!doctype html><div id="root"></div>');
    fs.writeFileSync(path.join(dist, "assets", "index-abc.js"), "console.log(1)");
    [s, unbuilt] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
    await registerWebConsole(s.app, dist);
    await registerWebConsole(unbuilt.app, path.join(root, "nothing-here"));
  });
  after(async () => {
    await Promise.all([s.close(), unbuilt.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("serves index.html at / and at client routes, without a token, never cached", async () => {
    for (const url of ["/", "/groups/erp", "/tasks?x=1", "/settings/"]) {
      const r = await s.app.inject({ url });
      assert.equal(r.statusCode, 200, url);
      assert.match(r.headers["content-type"] as string, /text\/html/);
      assert.match(r.body, /id="root"/);
      assert.equal(r.headers["cache-control"], "no-store");
      assert.match(r.headers["content-security-policy"] as string, /default-src 'self'/);
    }
  });

  it("serves hashed assets as immutable; a missing asset is a 404, not the page", async () => {
    const r = await s.app.inject({ url: "/assets/index-abc.js" });
    assert.equal(r.statusCode, 200);
    assert.match(r.headers["content-type"] as string, /javascript/);
    assert.match(r.headers["cache-control"] as string, /immutable/);
    assert.equal((await s.app.inject({ url: "/assets/gone-123.js" })).statusCode, 404);
  });

  it("does not shadow the API or /metrics", async () => {
    const missing = await s.app.inject({ url: "/api/v1/nope", headers: bearer(s.admin) });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "route_not_found");
    assert.equal((await s.app.inject({ url: "/api/v1/groups" })).statusCode, 401);
    assert.equal((await s.app.inject({ url: "/api/v1/groups", headers: bearer(s.admin) })).statusCode, 200);
    assert.equal((await s.app.inject({ url: "/metrics" })).statusCode, 401);
    const docs = await s.app.inject({ url: "/api/docs/json" });
    assert.equal(docs.statusCode, 200);
  });

  it("does not serve files outside the build", async () => {
    const r = await s.app.inject({ url: "/..%2f..%2fetc%2fpasswd" });
    assert.ok(!r.body.includes("root:"), "no file from outside the build");
  });

  it("an unbuilt console answers / with how to build it", async () => {
    const r = await unbuilt.app.inject({ url: "/" });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /npm run build/);
    assert.equal((await unbuilt.app.inject({ url: "/api/v1/nope", headers: bearer(unbuilt.admin) })).json().error.code, "route_not_found");
  });
});
