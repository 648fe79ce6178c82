/**
 * The console's pure logic (web/src/lib): the timeline's arithmetic and
 * point parsing, and the number formats. web/ is compiled by Vite, not by
 * the root tsconfig, so the modules are loaded through Vite's SSR loader;
 * the few signatures used here are restated below.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createServer, type ViteDevServer } from "vite";
import { ROOT } from "./harness.js";

interface Checkpoint {
  id: string;
  seq: number;
  time: number;
  tag: string | null;
  consistent: boolean;
}
interface Range {
  fromMs: number;
  toMs: number;
}
type Pick = { kind: "latest" } | { kind: "checkpoint"; checkpoint: Checkpoint } | { kind: "time"; atMs: number; how: string };
interface TimelineLib {
  MIN_SPAN_MS: number;
  xOf(r: Range, t: number, widthPx: number): number;
  tOf(r: Range, x: number, widthPx: number): number;
  zoom(r: Range, factor: number, at: number, bounds: Range): Range;
  pan(r: Range, deltaMs: number, bounds: Range): Range;
  indexAtOrBefore(cps: Checkpoint[], t: number): number;
  consistentAtOrBefore(cps: Checkpoint[], t: number): Checkpoint | undefined;
  visibleMarks(cps: Checkpoint[], r: Range, max: number): Checkpoint[];
  ticks(r: Range, count: number): number[];
  pointText(p: Pick): string;
  parsePick(text: string, cps: Checkpoint[], nowMs: number): Pick | string;
}
interface FormatLib {
  duration(ms: number | null): string;
  bytes(n: number | null): string;
  parseDuration(text: string): number | undefined;
  parseBytes(text: string): number | undefined;
}

describe("web-console-logic", () => {
  let vite: ViteDevServer;
  let tl: TimelineLib;
  let fmt: FormatLib;
  const now = Date.UTC(2026, 11, 3, 14, 0, 0);
  const cps: Checkpoint[] = Array.from({ length: 600 }, (_, i) => ({
    id: `cp-${i}`,
    seq: i * 10,
    time: now - (600 - i) * 1000,
    tag: i === 100 ? "before-upgrade" : null,
    consistent: !(i >= 200 && i < 210),
  }));

  before(async () => {
    vite = await createServer({
      configFile: path.join(ROOT, "web/vite.config.ts"),
      logLevel: "error",
      server: { middlewareMode: true, watch: null, hmr: false },
      appType: "custom",
      optimizeDeps: { noDiscovery: true, include: [] },
    });
    tl = (await vite.ssrLoadModule("/src/lib/timeline.ts")) as unknown as TimelineLib;
    fmt = (await vite.ssrLoadModule("/src/lib/format.ts")) as unknown as FormatLib;
  });
  after(async () => {
    await vite?.close();
  });

  it("maps time to pixels and back", () => {
    const r = { fromMs: 1000, toMs: 11_000 };
    assert.equal(tl.xOf(r, 6000, 200), 100);
    assert.equal(tl.tOf(r, 100, 200), 6000);
  });

  it("zooms around a time, down to the minimum span, inside the window", () => {
    const bounds = { fromMs: 0, toMs: 100_000 };
    const z = tl.zoom(bounds, 0.5, 50_000, bounds);
    assert.deepEqual(z, { fromMs: 25_000, toMs: 75_000 });
    let r = bounds;
    for (let i = 0; i < 40; i++) r = tl.zoom(r, 0.5, 99_000, bounds);
    assert.equal(r.toMs - r.fromMs, tl.MIN_SPAN_MS);
    assert.ok(r.fromMs >= 0 && r.toMs <= 100_000);
    assert.deepEqual(tl.zoom(z, 10, 50_000, bounds), bounds, "zooming out stops at the window");
    assert.deepEqual(tl.pan({ fromMs: 90_000, toMs: 100_000 }, 5000, bounds), { fromMs: 90_000, toMs: 100_000 }, "panning stops at the window's end");
  });

  it("finds the newest consistent checkpoint at or before a time", () => {
    assert.equal(tl.indexAtOrBefore(cps, now - 10_000_000), -1);
    assert.equal(tl.indexAtOrBefore(cps, cps[5]!.time + 400), 5);
    assert.equal(tl.consistentAtOrBefore(cps, cps[205]!.time)!.id, "cp-199", "checkpoints from a bitmap sync are skipped");
  });

  it("thins checkpoints in view but keeps tagged and inconsistent ones", () => {
    const marks = tl.visibleMarks(cps, { fromMs: cps[0]!.time, toMs: now }, 50);
    assert.ok(marks.length <= 50 + 11, `${marks.length} marks`);
    assert.ok(marks.some((c) => c.tag === "before-upgrade"));
    assert.equal(marks.filter((c) => !c.consistent).length, 10);
  });

  it("puts round ticks on the axis", () => {
    const t = tl.ticks({ fromMs: 0, toMs: 60_000 }, 6);
    assert.deepEqual(t, [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
  });

  it("reads typed points and says what it sends", () => {
    assert.deepEqual(tl.parsePick("latest", cps, now), { kind: "latest" });
    assert.deepEqual(tl.parsePick("5.7s ago", cps, now), { kind: "time", atMs: now - 5700, how: "ago" });
    assert.deepEqual(tl.parsePick("2 min ago", cps, now), { kind: "time", atMs: now - 120_000, how: "ago" });
    const tagged = tl.parsePick("tag:before-upgrade", cps, now);
    assert.equal(typeof tagged === "object" && tagged.kind === "checkpoint" && tagged.checkpoint.id, "cp-100");
    assert.equal(tl.pointText(tagged as Pick), "tag:before-upgrade");
    const byId = tl.parsePick("cp-42", cps, now) as Pick;
    assert.equal(tl.pointText(byId), "cp-42");
    const iso = tl.parsePick("2026-12-03T13:59:50.250Z", cps, now) as Pick;
    assert.equal(tl.pointText(iso), "2026-12-03T13:59:50.250Z");
    assert.match(String(tl.parsePick("tag:nope", cps, now)), /no checkpoint tagged "nope"/);
    assert.match(String(tl.parsePick("yesterday-ish", cps, now)), /is not a point/);
  });

  it("formats and parses durations and sizes", () => {
    assert.equal(fmt.duration(5700), "5.7 s");
    assert.equal(fmt.duration(850), "850 ms");
    assert.equal(fmt.duration(4 * 3_600_000), "4 h");
    assert.equal(fmt.duration(null), "—");
    assert.equal(fmt.bytes(20 * 1024 ** 3), "20 GiB");
    assert.equal(fmt.bytes(1536), "1.5 KiB");
    assert.equal(fmt.bytes(42.666666666666664), "43 B", "a fractional rate is shown in whole bytes");
    assert.equal(fmt.parseDuration("30s"), 30_000);
    assert.equal(fmt.parseDuration("4h"), 14_400_000);
    assert.equal(fmt.parseDuration("500ms"), 500);
    assert.equal(fmt.parseDuration("soon"), undefined);
    assert.equal(fmt.parseBytes("20GiB"), 20 * 1024 ** 3);
    assert.equal(fmt.parseBytes("512 MiB"), 512 * 1024 ** 2);
    assert.equal(fmt.parseBytes("4096"), 4096);
    assert.equal(fmt.parseBytes("lots"), undefined);
  });
});
