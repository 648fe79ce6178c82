/** The client's reading of human units and specs, and its drawing helpers. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDiskSpec, parseSince, settingsBody, vmUpdateBody } from "../../src/cli/client/groups.js";
import { bar } from "../../src/cli/client/progress.js";
import { formatDuration, table } from "../../src/cli/client/format.js";

describe("cli-parse", () => {
  it("reads group settings in human units, naming the flag on a mistake", () => {
    assert.deepEqual(settingsBody({ rpo: "5.7s", history: "4h", journalLimit: "20GiB", checkpointInterval: "1s", bandwidth: "100MB/s", priority: "high", compression: "off" }), {
      rpoTargetMs: 5700,
      historyMs: 4 * 3_600_000,
      journalLimitBytes: 20 * 1024 ** 3,
      checkpointIntervalMs: 1000,
      bandwidthBytesPerSec: 100_000_000,
      priority: "high",
      compression: false,
    });
    assert.deepEqual(settingsBody({ bandwidth: "unlimited" }), { bandwidthBytesPerSec: null });
    assert.throws(() => settingsBody({ journalLimit: "lots" }), /--journal-limit: "lots" is not a size/);
    assert.throws(() => settingsBody({ priority: "urgent" }), /--priority/);
    assert.throws(() => settingsBody({ compression: "yes" }), /--compression/);
  });

  it("reads disks as NAME:SIZE[:PATH], resolving the path", () => {
    assert.deepEqual(parseDiskSpec("data:4GiB"), { name: "data", sizeBytes: 4 * 1024 ** 3 });
    assert.deepEqual(parseDiskSpec("os:1M:/var/x.raw"), { name: "os", sizeBytes: 1024 ** 2, path: "/var/x.raw" });
    assert.equal(parseDiskSpec("os:1M:rel.raw").path, `${process.cwd()}/rel.raw`);
    assert.throws(() => parseDiskSpec("data"), /not NAME:SIZE/);
  });

  it("reads a VM's own settings, 'group' dropping one", () => {
    assert.deepEqual(vmUpdateBody({ memory: "2048", cpus: "group", qemuArgs: " -rtc  base=utc ", testNetwork: "prod=bubble, dmz=x", liveNetwork: "group" }), {
      memoryMiB: 2048, cpus: null, qemuArgs: ["-rtc", "base=utc"], testNetwork: { prod: "bubble", dmz: "x" }, liveNetwork: null,
    });
    assert.deepEqual(vmUpdateBody({ qemuArgs: "" }), { qemuArgs: null });
    assert.throws(() => vmUpdateBody({ memory: "2G" }), /--memory "2G" is not a whole number/);
    assert.throws(() => vmUpdateBody({ liveNetwork: "a=b,c" }), /is not FROM=TO/);
    assert.throws(() => vmUpdateBody({}), /nothing to change/);
  });

  it("reads --since as a duration ago or a time", () => {
    assert.ok(Math.abs(parseSince("1h") - (Date.now() - 3_600_000)) < 5000);
    assert.equal(parseSince("2026-01-31T12:00:00Z"), Date.parse("2026-01-31T12:00:00Z"));
    assert.throws(() => parseSince("soon"), /neither a duration/);
  });

  it("draws tables, durations and bars", () => {
    assert.equal(table(["A", "BB"], [["xxx", 1]]), "A    BB\nxxx  1\n");
    assert.equal(formatDuration(5700), "5.7s");
    assert.equal(formatDuration(null), "-");
    assert.equal(bar(50), `[${"#".repeat(15)}${"-".repeat(15)}]  50%`);
  });
});
