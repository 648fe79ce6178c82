/** Groups, VMs, status and checkpoints through the API, with the definition reaching the recovery site. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { refreshStates } from "../../src/site/index.js";
import { bearer, openTestSite, pair, tempRoot, type TestSite } from "./harness.js";

describe("api-groups", () => {
  const root = tempRoot();
  let a: TestSite;
  let b: TestSite;
  before(async () => {
    [a, b] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
    await pair(a, b);
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const post = (s: TestSite, url: string, payload?: object) => s.app.inject({ method: "POST", url, headers: bearer(s.admin), payload });
  const get = (s: TestSite, url: string) => s.app.inject({ url, headers: bearer(s.admin) });

  it("creates a group, known at both sites", async () => {
    const r = await post(a, "/api/v1/groups", { name: "erp", recoverySite: "B", rpoTargetMs: 10_000 });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().state, "empty");
    const atB = (await get(b, "/api/v1/groups/erp")).json();
    assert.equal(atB.role, "recovery");
    assert.equal(atB.protectedSite, "A");
    assert.equal(atB.rpoTargetMs, 10_000);
  });

  it("adds VMs; the disks are specified to both appliances and exported at A", async () => {
    const r = await post(a, "/api/v1/groups/erp/vms", { name: "erp-db", disks: [{ name: "data", sizeBytes: 1 << 20 }, { name: "log", sizeBytes: 1 << 20 }] });
    assert.equal(r.statusCode, 201, r.body);
    const spec = a.appliance.specs.get("erp")!;
    assert.equal(spec.role, "protected");
    assert.equal(spec.peer.fingerprint, b.site.ctx.identity.fingerprint);
    assert.deepEqual(spec.disks.map((d) => `${d.vm}/${d.disk}`), ["erp-db/data", "erp-db/log"]);
    assert.equal(b.appliance.specs.get("erp")!.role, "recovery");
    assert.ok(b.appliance.specs.get("erp")!.disks[0]!.path.includes(path.join("B", "data", "erp", "replica")));
    const status = r.json();
    assert.equal(status.state, "protected");
    assert.equal(status.vms[0].disks[0].uri, "nbd://127.0.0.1:10809/erp/erp-db/data");
  });

  it("refuses a VM twice (409), a disk file of another size (422), a bad body (400 naming the field)", async () => {
    const again = await post(a, "/api/v1/groups/erp/vms", { name: "erp-db", disks: [{ name: "d", sizeBytes: 4096 }] });
    assert.equal(again.statusCode, 409);
    const file = path.join(root, "existing.raw");
    fs.writeFileSync(file, Buffer.alloc(8192));
    const wrong = await post(a, "/api/v1/groups/erp/vms", { name: "erp-app", disks: [{ name: "d", sizeBytes: 4096, path: file }] });
    assert.equal(wrong.statusCode, 422);
    assert.equal(wrong.json().error.code, "disk_size_mismatch");
    const bad = await post(a, "/api/v1/groups/erp/vms", { name: "erp-app", disks: [{ name: "d", sizeBytes: -1 }] });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, "body.disks.0.sizeBytes");
    const rel = await post(a, "/api/v1/groups/erp/vms", { name: "erp-app", disks: [{ name: "d", sizeBytes: 4096, path: "x.raw" }] });
    assert.equal(rel.json().error.field, "body.disks.0.path");
    const ok = await post(a, "/api/v1/groups/erp/vms", { name: "erp-app", disks: [{ name: "d", sizeBytes: 8192, path: file }] });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(a.appliance.specs.get("erp")!.disks.find((d) => d.vm === "erp-app")!.existing, true);
  });

  it("refuses bad group requests: duplicate 409, unpaired site 422, self 422, unknown field 400, missing 404", async () => {
    assert.equal((await post(a, "/api/v1/groups", { name: "erp", recoverySite: "B" })).statusCode, 409);
    const unpaired = await post(a, "/api/v1/groups", { name: "crm", recoverySite: "Z" });
    assert.equal(unpaired.statusCode, 422);
    assert.equal(unpaired.json().error.code, "site_not_paired");
    assert.equal((await post(a, "/api/v1/groups", { name: "crm", recoverySite: "A" })).json().error.code, "recovery_site_is_self");
    const unknown = await post(a, "/api/v1/groups", { name: "crm", recoverySite: "B", rpo: 5 });
    assert.equal(unknown.statusCode, 400);
    const badName = await post(a, "/api/v1/groups", { name: "../etc", recoverySite: "B" });
    assert.equal(badName.json().error.field, "body.name");
    const missing = await get(a, "/api/v1/groups/nope");
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.message, 'group "nope" not found');
    const notJson = await a.app.inject({ method: "POST", url: "/api/v1/groups", headers: { ...bearer(a.admin), "content-type": "application/json" }, payload: "{" });
    assert.equal(notJson.statusCode, 400);
  });

  it("updates settings at both sites; changes at the recovery site are refused with 409", async () => {
    const r = await a.app.inject({ method: "PATCH", url: "/api/v1/groups/erp", headers: bearer(a.admin), payload: { rpoTargetMs: 500, priority: "high" } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await get(b, "/api/v1/groups/erp")).json().rpoTargetMs, 500);
    const atB = await b.app.inject({ method: "PATCH", url: "/api/v1/groups/erp", headers: bearer(b.admin), payload: { rpoTargetMs: 5 } });
    assert.equal(atB.statusCode, 409);
    assert.equal(atB.json().error.code, "not_protected_site");
  });

  it("derives states from the appliance and raises and clears alerts", async () => {
    refreshStates(a.site.ctx);
    assert.equal((await get(a, "/api/v1/groups/erp")).json().state, "rpo-breach"); // 800 ms > 500 ms target
    a.appliance.facts.set("erp", { link: "down", linkReason: "connection refused" });
    refreshStates(a.site.ctx);
    let alerts = (await get(a, "/api/v1/alerts")).json();
    assert.deepEqual(alerts.map((x: { kind: string }) => x.kind), ["link-down"]);
    a.appliance.facts.set("erp", { rpoMs: 100 });
    refreshStates(a.site.ctx);
    alerts = (await get(a, "/api/v1/alerts")).json();
    assert.equal(alerts.length, 0);
    assert.equal((await get(a, "/api/v1/alerts?all=true")).json().length, 2);
    const kinds = (await get(a, "/api/v1/events?group=erp")).json().map((e: { kind: string }) => e.kind);
    assert.ok(kinds.includes("link-down") && kinds.includes("link-down-cleared"), kinds.join());
  });

  it("adds and lists checkpoints (operator), only at the protected site", async () => {
    const r = await post(a, "/api/v1/groups/erp/checkpoints", { tag: "before-upgrade" });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(Object.keys(r.json()).sort(), ["consistent", "id", "seq", "tag", "time"]);
    await post(a, "/api/v1/groups/erp/checkpoints");
    b.appliance.checkpoints.push(...a.appliance.checkpoints); // what replication does; A asks B's journal
    const tagged = (await get(a, "/api/v1/groups/erp/checkpoints?tag=before-upgrade")).json();
    assert.equal(tagged.length, 1);
    assert.equal((await get(a, "/api/v1/groups/erp/checkpoints?since=yesterday")).statusCode, 400);
    assert.equal((await post(b, "/api/v1/groups/erp/checkpoints", {})).statusCode, 409);
  });

  it("removes a VM and deletes the group at both sites", async () => {
    const r = await a.app.inject({ method: "DELETE", url: "/api/v1/groups/erp/vms/erp-app", headers: bearer(a.admin) });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await a.app.inject({ method: "DELETE", url: "/api/v1/groups/erp/vms/erp-app", headers: bearer(a.admin) })).statusCode, 404);
    assert.equal(b.appliance.specs.get("erp")!.disks.length, 2);
    const d = await a.app.inject({ method: "DELETE", url: "/api/v1/groups/erp?keepDisks=true", headers: bearer(a.admin) });
    assert.equal(d.statusCode, 204);
    assert.equal((await get(b, "/api/v1/groups/erp")).statusCode, 404);
    assert.equal(a.appliance.specs.size, 0);
    const audit = (await get(a, "/api/v1/audit")).json().map((e: { action: string }) => e.action);
    for (const action of ["group.create", "vm.add", "group.update", "checkpoint.add", "vm.remove", "group.delete"]) assert.ok(audit.includes(action), action);
  });
});
