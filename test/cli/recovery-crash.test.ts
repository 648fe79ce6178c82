/**
 * recovery-crash: two site daemons (separate processes), and SIGKILL in the
 * middle of each recovery operation that changes where a group runs: a
 * commit (its fold done, not yet recorded), reverse protection between its
 * two sites' steps, a move in each phase (the protected site quiesced, the
 * failover, the commit, reverse protection), and the *protected* site killed
 * in the middle of a move. The daemon under test is paused at the named step
 * (LIFELINE_PAUSE_AFTER_STEP: the step's work done, not yet recorded) and
 * killed there. After the restart the operation is resumed or rolled back,
 * the group ends protected one way or the other (or committed, its disks
 * served), and the production disk equals a model of every acknowledged
 * write, byte for byte.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ok, pairedSites, tempDir, until, type Daemon } from "./harness.js";

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
const PAUSED = /paused after its work/;

interface Task {
  id: string;
  kind: string;
  state: string;
  error?: string;
  steps: { name: string; state: string; detail?: string }[];
}

describe("recovery-crash", () => {
  const root = tempDir();
  let a: Daemon;
  let b: Daemon;
  const dirs: Record<"A" | "B", string> = { A: "", B: "" };
  const daemon = (site: "A" | "B") => (site === "A" ? a : b);
  /** Every write acknowledged so far, wherever the group ran. */
  const model = Buffer.alloc(SIZE);
  let nextByte = 0x10;

  const uri = (site: "A" | "B") => `nbd://127.0.0.1:${daemon(site).run.nbd.port}/erp/erp-db/data`;
  const write = (site: "A" | "B", offset: number) => {
    const byte = nextByte++;
    execFileSync("qemu-io", ["-f", "raw", "-c", `write -P ${byte} ${offset} 256k`, uri(site)], { stdio: "pipe", timeout: 60_000 });
    model.fill(byte, offset, offset + 256 * 1024);
  };
  const copyOut = (site: "A" | "B", name: string): Buffer => {
    const out = path.join(root, `${name}.raw`);
    fs.rmSync(out, { force: true });
    execFileSync("nbdcopy", [uri(site), out], { stdio: "pipe", timeout: 60_000 });
    return fs.readFileSync(out);
  };
  const status = async (site: "A" | "B") => JSON.parse(await ok(["status", "erp", "--json", "--dir", dirs[site]])) as { role: string; state: string };
  const tasks = async (site: "A" | "B") => JSON.parse(await ok(["tasks", "--all", "--json", "--dir", dirs[site]])) as Task[];

  /** Waits until the group is protected from `site`, as both sites see it, and its disk there equals the model. */
  const protectedFrom = async (site: "A" | "B", what: string) => {
    const other = site === "A" ? "B" : "A";
    await until(`${what}: erp protected from ${site}`, async () => {
      const [here, there] = [await status(site), await status(other)];
      return here.role === "protected" && here.state === "protected" && there.role === "recovery";
    });
    assert.ok(copyOut(site, what).equals(model), `${what}: every acknowledged write is on the production disk at ${site}`);
  };

  /** Restarts `site` with the pause at `step`, runs `command` without waiting, and waits until the task pauses there. */
  const pauseAt = async (site: "A" | "B", step: string, command: string[], env: Record<string, string> = {}) => {
    await daemon(site).stop();
    await daemon(site).start({ LIFELINE_PAUSE_AFTER_STEP: step, ...env });
    await ok([...command, "--no-wait", "--dir", dirs[site]]);
    await until(`the task at ${site} pauses after "${step}"`, async () => (await tasks(site)).some((t) => t.state === "running" && t.steps.some((s) => s.name.startsWith(step) && PAUSED.test(s.detail ?? ""))));
  };
  /** SIGKILL, then a start without the pause. */
  const killAndRestart = async (site: "A" | "B") => {
    await daemon(site).stop("SIGKILL");
    await daemon(site).start();
  };
  const lastTask = async (site: "A" | "B", kind: string) => (await tasks(site)).find((t) => t.kind === kind)!;

  before(async () => {
    let dirA: string;
    let dirB: string;
    ({ a, b, dirA, dirB } = await pairedSites(root));
    dirs.A = dirA;
    dirs.B = dirB;
    await ok(["group", "create", "erp", "--recovery-site", "B", "--rpo", "10s", "--dir", dirs.A]);
    await ok(["vm", "add", "erp", "erp-db", "--disk", `data:${SIZE}`, "--dir", dirs.A]);
    await until("erp protected at A", async () => (await status("A")).state === "protected");
    write("A", 0);
    write("A", MiB);
  });
  after(async () => {
    await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a commit killed after its fold is finished at restart, never rolled back", async () => {
    await ok(["checkpoint", "add", "erp", "--tag", "c1", "--dir", dirs.A]);
    await ok(["failover", "erp", "--point", "tag:c1", "--dir", dirs.B]);
    write("B", 2 * MiB);
    await pauseAt("B", "fold the journal", ["commit", "erp"]);
    await killAndRestart("B");
    assert.ok(copyOut("B", "commit-restarted").equals(model), "the recovered disk, with the recovered VM's write, is served after the restart");
    const commit = await lastTask("B", "commit");
    assert.equal(commit.state, "succeeded", `the commit was finished: ${commit.error}`);
    const again = await ok(["test", "start", "erp", "--dir", dirs.B]).catch((err: Error) => err.message);
    assert.match(again, /failed over and committed/, "the group is committed at B");
    write("B", 3 * MiB);
    assert.ok(copyOut("B", "commit-written").equals(model));
  });

  it("reverse protection killed between its two sites' steps is resumed at restart", async () => {
    await pauseAt("B", "make A the recovery site", ["reverse-protect", "erp"]);
    await killAndRestart("B");
    await protectedFrom("B", "reverse-resumed");
    assert.equal((await lastTask("B", "reverse-protect")).state, "succeeded");
    write("B", 4 * MiB);
  });

  it("a move killed in its commit finishes the commit and protection back at restart", async () => {
    // The group runs at B now: A is its recovery site and runs the move home.
    await pauseAt("A", "fold the journal", ["move", "erp"]);
    await killAndRestart("A");
    await protectedFrom("A", "move-commit-resumed");
    const move = await lastTask("A", "move");
    assert.equal(move.state, "succeeded", `the move was resumed: ${move.error}`);
    write("A", 5 * MiB);
  });

  it("a move killed once the protected site is quiesced is rolled back: the protected site's writes go on", async () => {
    await pauseAt("B", "quiesce A", ["move", "erp"]);
    await killAndRestart("B");
    await protectedFrom("A", "move-quiesce-rolled-back");
    write("A", 6 * MiB);
    assert.ok(copyOut("A", "move-quiesce-written").equals(model), "A takes writes again");
    assert.equal((await lastTask("B", "move")).state, "rolled-back");
  });

  it("a move killed after its failover is rolled back", async () => {
    await pauseAt("B", "fail over to the final checkpoint", ["move", "erp"]);
    await killAndRestart("B");
    await protectedFrom("A", "move-failover-rolled-back");
    write("A", 7 * MiB);
    assert.ok(copyOut("A", "move-failover-written").equals(model));
    assert.equal((await lastTask("B", "move")).state, "rolled-back");
  });

  it("a move killed between reverse protection's two sites' steps is resumed at restart", async () => {
    await pauseAt("B", "make A the recovery site", ["move", "erp"]);
    await killAndRestart("B");
    await protectedFrom("B", "move-reverse-resumed");
    assert.equal((await lastTask("B", "move")).state, "succeeded");
    write("B", 256 * 1024);
  });

  it("the protected site killed in the middle of a move comes back quiesced, and the move completes", async () => {
    const release = path.join(root, "release-move");
    // A, the recovery site now, pauses the move once B is quiesced; B dies and restarts meanwhile.
    await pauseAt("A", "quiesce B", ["move", "erp"], { LIFELINE_PAUSE_UNTIL_FILE: release });
    await killAndRestart("B");
    const events = JSON.parse(await ok(["events", "--json", "--dir", dirs.B])) as { kind: string; message: string }[];
    assert.ok(events.some((e) => e.kind === "quiesced" && /after a restart/.test(e.message)), "B restarted with the group still quiesced");
    fs.writeFileSync(release, "");
    await until("the move ends", async () => (await lastTask("A", "move")).state !== "running");
    const move = await lastTask("A", "move");
    assert.equal(move.state, "succeeded", `the move completed: ${move.error}`);
    await protectedFrom("A", "move-protected-killed");
  });
});
