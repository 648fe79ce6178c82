/** A site directory and the local appliance: what init writes, and disks really served over NBD. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { silentLogger } from "../../src/nbd/index.js";
import { decodePairingToken, encodePairingToken, fingerprintOf, initSite, LocalAppliance, readConfig, type GroupSpec } from "../../src/site/index.js";

/** Async: the NBD server runs in this process, so the event loop must stay free. */
const qemuIo = (cmd: string, uri: string) => promisify(execFile)("qemu-io", ["-f", "raw", "-c", cmd, uri], { timeout: 30_000 });
const root = fs.mkdtempSync(path.join(os.tmpdir(), "lifeline-site-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe("site-init", () => {
  it("writes config, database, key, certificate and a CLI token; refuses to run twice", async () => {
    const dir = path.join(root, "paris");
    const r = await initSite({ dir, name: "paris", host: "127.0.0.1", apiPort: 8080, nbdPort: 10809, replicationPort: 9440 });
    const yaml = parse(fs.readFileSync(path.join(dir, "lifeline.yaml"), "utf8"));
    assert.deepEqual(yaml, { name: "paris", host: "127.0.0.1", apiPort: 8080, nbdPort: 10809, replicationPort: 9440, peerPort: 8081 });
    assert.deepEqual(await readConfig(path.join(dir, "lifeline.yaml")), yaml);
    assert.equal(fs.statSync(path.join(dir, "tls", "site.key")).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, "cli-token")).mode & 0o777, 0o600);
    assert.equal(fingerprintOf(fs.readFileSync(path.join(dir, "tls", "site.crt"), "utf8")), r.fingerprint);
    assert.match(r.adminToken, /^llt_/);
    await assert.rejects(initSite({ dir, name: "paris", host: "127.0.0.1", apiPort: 1, nbdPort: 1, replicationPort: 1 }), /already holds a site/);
  });

  it("reports a config mistake with the field's name", async () => {
    const file = path.join(root, "bad.yaml");
    fs.writeFileSync(file, "name: x\nhost: h\napiPort: 99999\nnbdPort: 1\nreplicationPort: 1\npeerPort: 1\n");
    await assert.rejects(readConfig(file), /apiPort/);
  });

  it("round-trips a pairing token and refuses a foreign string", () => {
    const t = { site: "B", peerUrl: "https://10.0.0.2:8081", fingerprint: "AB:CD", secret: "s3cret" };
    assert.deepEqual(decodePairingToken(encodePairingToken(t)), t);
    assert.throws(() => decodePairingToken("llpair_bm90IGpzb24"), /not a pairing token/);
  });
});

describe("site-local-appliance", () => {
  it("serves each disk of a protected group as <group>/<vm>/<disk>, and stops serving removed ones", async () => {
    const appliance = await LocalAppliance.start({ host: "127.0.0.1", nbdPort: 0, logger: silentLogger });
    try {
      const disk = (vm: string, name: string) => ({ vm, disk: name, sizeBytes: 1 << 20, path: path.join(root, "prod", vm, `${name}.raw`), existing: false });
      const spec: GroupSpec = {
        name: "erp",
        role: "protected",
        peer: { site: "B", host: "127.0.0.1", port: 1, fingerprint: "x" },
        disks: [disk("db", "data"), disk("app", "os")],
        historyMs: 1,
        journalLimitBytes: 1,
        checkpointIntervalMs: 1,
        bandwidthBytesPerSec: null,
        priority: "medium",
        compression: true,
        paused: false,
      };
      await appliance.protect(spec);
      const uri = `nbd://127.0.0.1:${appliance.nbdAddress.port}/erp/db/data`;
      await qemuIo("write -P 0x33 4096 8192", uri);
      const { stdout } = await qemuIo("read -P 0x33 4096 8192", uri);
      assert.match(stdout, /read 8192\/8192 bytes/);
      assert.doesNotMatch(stdout, /verification failed/i);
      assert.equal(fs.readFileSync(spec.disks[0]!.path).subarray(4096, 4100).toString("hex"), "33333333");
      assert.deepEqual(appliance.status("erp")!.exports, ["erp/db/data", "erp/app/os"]);
      await appliance.protect({ ...spec, disks: [spec.disks[0]!] });
      assert.deepEqual(appliance.status("erp")!.exports, ["erp/db/data"]);
      await appliance.unprotect("erp", { deleteData: true });
      assert.equal(appliance.status("erp"), undefined);
      assert.ok(!fs.existsSync(spec.disks[0]!.path));
    } finally {
      await appliance.close();
    }
  });
});
