/** demo-cli: `lifeline demo` as `npm start` runs it: two sites, erp protected under the workload, SIGINT stops it cleanly, a second run resumes. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, describe, it } from "node:test";
import { LIFELINE, ok, tempDir, until } from "./harness.js";

/** A base port whose 14 ports after it are free now. */
async function freeBase(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer().once("error", () => resolve(false)).listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let all = true;
    for (let p = base; p < base + 14 && all; p++) all = await free(p);
    if (all) return base;
  }
}

describe("demo-cli", () => {
  const dir = path.join(tempDir(), "demo");
  after(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  async function runDemo(base: number): Promise<void> {
    const child = spawn(process.execPath, [LIFELINE, "demo", "--dir", dir, "--base-port", String(base)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until("the demo's banner", () => out.includes("Ctrl-C stops both sites"), 60_000);
      assert.match(out, new RegExp(`nbd://127.0.0.1:${base + 2}/erp/erp-db/data`));
      assert.match(out, /Console: http:\/\/127\.0\.0\.1:\d+\//);
      await until("erp protected", async () => JSON.parse(await ok(["status", "erp", "--json", "--dir", path.join(dir, "A")])).state === "protected", 60_000);
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exit, 0, err);
  }

  it("reaches protected under its workload and stops cleanly on SIGINT; run again, it resumes", async () => {
    const base = await freeBase();
    await runDemo(base);
    await runDemo(base);
  });
});
