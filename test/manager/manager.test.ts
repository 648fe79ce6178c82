/** The manager's model over a real SQLite file: migrations, tokens, groups, alerts, pairing secrets. */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_SETTINGS, Manager, MIGRATIONS, deriveGroupState, schemaVersion, stateEffects } from "../../src/manager/index.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-manager-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("manager", () => {
  it("applies every migration once and reopens", () => {
    const file = path.join(dir, "m.db");
    Manager.open(file).close();
    const m = Manager.open(file);
    assert.equal(schemaVersion(m.db), MIGRATIONS.length);
    m.close();
  });

  it("keeps tokens as hashes, verifies and revokes them", () => {
    const m = Manager.open(path.join(dir, "t.db"));
    const { token, info } = m.tokens.create("operator", "ci", "test");
    const raw = fs.readFileSync(path.join(dir, "t.db-wal")).toString("latin1") + fs.readFileSync(path.join(dir, "t.db")).toString("latin1");
    assert.ok(!raw.includes(token), "the secret is not stored");
    assert.equal(m.tokens.verify(token)?.role, "operator");
    assert.equal(m.tokens.verify(token + "x"), undefined);
    m.tokens.revoke(info.id);
    assert.equal(m.tokens.verify(token), undefined);
    m.close();
  });

  it("stores groups with VMs and disks and refuses duplicates", () => {
    const m = Manager.open(path.join(dir, "g.db"));
    m.groups.create("erp", "A", "B", DEFAULT_SETTINGS, { state: "empty", reason: "" });
    assert.throws(() => m.groups.create("erp", "A", "B", DEFAULT_SETTINGS, { state: "empty", reason: "" }), /already exists/);
    m.groups.addVm("erp", { name: "db", bootOrder: 1, bootDelayMs: 0 }, [{ name: "d0", sizeBytes: 1 << 20, path: "/x/d0", existing: false }]);
    assert.throws(() => m.groups.addVm("erp", { name: "app", bootOrder: 2, bootDelayMs: 0 }, [{ name: "d0", sizeBytes: 1, path: "/x/d0", existing: false }]), /already erp\/db\/d0/);
    const g = m.groups.update("erp", { rpoTargetMs: 5000 });
    assert.equal(g.rpoTargetMs, 5000);
    assert.deepEqual(g.vms.map((v) => v.disks.map((d) => d.name)), [["d0"]]);
    m.groups.removeVm("erp", "db");
    assert.equal(m.groups.get("erp").vms.length, 0);
    m.groups.delete("erp");
    assert.throws(() => m.groups.get("erp"), /not found/);
    m.close();
  });

  it("raises an alert once and clears it, logging both", () => {
    const m = Manager.open(path.join(dir, "a.db"));
    assert.equal(m.events.raise("link-down", "erp", "critical", "down", "erp"), true);
    assert.equal(m.events.raise("link-down", "erp", "critical", "down", "erp"), false);
    assert.equal(m.events.alerts().length, 1);
    assert.equal(m.events.clear("link-down", "erp", "up", "erp"), true);
    assert.equal(m.events.alerts().length, 0);
    assert.equal(m.events.alerts({ all: true }).length, 1);
    assert.deepEqual(m.events.list().map((e) => e.kind), ["link-down", "link-down-cleared"]);
    m.close();
  });

  it("spends a pairing secret once", () => {
    const m = Manager.open(path.join(dir, "p.db"));
    const { secret } = m.peers.createPairingSecret();
    m.peers.spendPairingSecret(secret, "A");
    assert.throws(() => m.peers.spendPairingSecret(secret, "C"), /already used \(by site A\)/);
    assert.throws(() => m.peers.spendPairingSecret("nope", "C"), /not one this site made/);
    const old = m.peers.createPairingSecret(-1);
    assert.throws(() => m.peers.spendPairingSecret(old.secret, "C"), /expired/);
    m.close();
  });
});

describe("group state", () => {
  const base = { hasDisks: true, paused: false, rpoTargetMs: 30_000, link: "up" as const, sync: { kind: "none" as const }, rpoMs: 1000 };
  it("derives one state from the facts", () => {
    assert.equal(deriveGroupState(base).state, "protected");
    assert.equal(deriveGroupState({ ...base, hasDisks: false }).state, "empty");
    assert.equal(deriveGroupState({ ...base, link: "down" }).state, "link-down");
    assert.equal(deriveGroupState({ ...base, rpoMs: 60_000 }).state, "rpo-breach");
    assert.equal(deriveGroupState({ ...base, sync: { kind: "initial", percent: 40, reason: "new" } }).state, "initial-sync");
  });
  it("raises and clears alerts on transitions", () => {
    const down = stateEffects("erp", "protected", deriveGroupState({ ...base, link: "down" }));
    assert.ok(down.some((e) => e.do === "raise" && e.alert === "link-down"));
    const up = stateEffects("erp", "link-down", deriveGroupState(base));
    assert.ok(up.some((e) => e.do === "clear" && e.alert === "link-down"));
    assert.deepEqual(stateEffects("erp", "protected", deriveGroupState(base)), []);
  });
  it("a link expected to come up after a change of direction is not link-down and raises no alert", () => {
    const connecting = deriveGroupState({ ...base, link: "down", linkExpected: true });
    assert.equal(connecting.state, "not-replicating");
    assert.match(connecting.reason, /changed direction/);
    assert.ok(!stateEffects("erp", "protected", connecting).some((e) => e.do === "raise"));
  });
});
