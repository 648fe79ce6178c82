/**
 * The live routes: a group's metrics history (auth, 404, columns, `since`,
 * null RPO, OpenAPI) through app.inject, and the server-sent event stream on
 * a real port (inject waits for a response to end, and this one does not):
 * auth, the present first, then alerts, events, status changes and samples
 * as they happen, a revoked token ending the stream, and closing the server
 * ending every stream.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { bearer, openTestSite, pair, tempRoot, type TestSite } from "./harness.js";

interface Sse {
  event: string;
  data: unknown;
}

/** Reads server-sent events from a fetch() body, as the console does. */
class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  readonly #queue: Sse[] = [];
  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next event, or null when the stream ended. */
  async next(): Promise<Sse | null> {
    for (;;) {
      const queued = this.#queue.shift();
      if (queued) return queued;
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#buffer += value;
      let cut: number;
      while ((cut = this.#buffer.indexOf("\n\n")) >= 0) {
        const block = this.#buffer.slice(0, cut);
        this.#buffer = this.#buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) this.#queue.push({ event, data: JSON.parse(data) });
      }
    }
  }
  /** Skips events until one matches (the ticks go on meanwhile). */
  async until(pred: (e: Sse) => boolean, what: string): Promise<Sse> {
    for (;;) {
      const e = await this.next();
      if (!e) throw new Error(`the stream ended before ${what}`);
      if (pred(e)) return e;
    }
  }
  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

describe("api-live", () => {
  const root = tempRoot();
  let a: TestSite;
  let b: TestSite;
  let url = "";
  before(async () => {
    [a, b] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
    await pair(a, b);
    const post = (p: string, payload: object) => a.app.inject({ method: "POST", url: p, headers: bearer(a.admin), payload });
    assert.equal((await post("/api/v1/groups", { name: "erp", recoverySite: "B" })).statusCode, 201);
    assert.equal((await post("/api/v1/groups/erp/vms", { name: "db", disks: [{ name: "data", sizeBytes: 1 << 20 }] })).statusCode, 201);
    await a.app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });
  const get = (path: string, token = a.admin) => a.app.inject({ url: path, headers: bearer(token) });

  it("history: needs a token, names an unknown group, and starts empty", async () => {
    assert.equal((await a.app.inject({ url: "/api/v1/groups/erp/history" })).statusCode, 401);
    const missing = await get("/api/v1/groups/nope/history");
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "group_not_found");
    const empty = await get("/api/v1/groups/erp/history");
    assert.equal(empty.statusCode, 200);
    assert.deepEqual(empty.json(), { group: "erp", intervalMs: 1000, keepMs: 3_600_000, t: [], rpoMs: [], throughputBytesPerSec: [], queueBytes: [] });
  });

  it("history: the samples the site took, as columns, after `since` (epoch ms or ISO), RPO null while there is none", async () => {
    const now = Date.now();
    a.appliance.facts.set("erp", { rpoMs: null, throughputBytesPerSec: 10, queueBytes: 20 });
    a.site.history.sample(a.site.ctx, now - 3000);
    a.appliance.facts.set("erp", { rpoMs: 1500, throughputBytesPerSec: 11, queueBytes: 21 });
    a.site.history.sample(a.site.ctx, now - 2000);
    a.site.history.sample(a.site.ctx, now - 1000);
    const all = (await get("/api/v1/groups/erp/history")).json();
    assert.deepEqual(all.t, [now - 3000, now - 2000, now - 1000]);
    assert.deepEqual(all.rpoMs, [null, 1500, 1500]);
    assert.deepEqual(all.throughputBytesPerSec, [10, 11, 11]);
    assert.deepEqual(all.queueBytes, [20, 21, 21]);
    assert.deepEqual((await get(`/api/v1/groups/erp/history?since=${now - 2000}`)).json().t, [now - 1000]);
    assert.deepEqual((await get(`/api/v1/groups/erp/history?since=${new Date(now - 2500).toISOString()}`)).json().t, [now - 2000, now - 1000]);
    const bad = await get("/api/v1/groups/erp/history?since=yesterday");
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.field, "querystring.since");
  });

  it("both routes are in the OpenAPI document", async () => {
    const doc = (await a.app.inject({ url: "/api/docs/json" })).json() as { paths: Record<string, { get?: { description?: string } }> };
    assert.ok(doc.paths["/api/v1/groups/{name}/history"]?.get);
    assert.match(doc.paths["/api/v1/live"]?.get?.description ?? "", /text\/event-stream/);
  });

  it("live: 401 without a token, 403 never (a viewer may watch)", async () => {
    const none = await fetch(`${url}/api/v1/live`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, "unauthenticated");
    const viewer = (await a.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(a.admin), payload: { role: "viewer" } })).json().token as string;
    const res = await fetch(`${url}/api/v1/live`, { headers: bearer(viewer) });
    assert.equal(res.status, 200);
    await res.body!.cancel();
  });

  it("live: the present first, then alerts, events, status changes and samples as they happen", async () => {
    const res = await fetch(`${url}/api/v1/live`, { headers: bearer(a.admin) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.headers.get("x-lifeline-site"), "A");
    const sse = new SseReader(res.body!);
    assert.equal((await sse.next())?.event, "hello");
    const site = await sse.next();
    assert.equal(site?.event, "site");
    assert.equal((site!.data as { name: string; peers: { name: string }[] }).peers[0]!.name, "B");
    const groups = await sse.next();
    assert.equal(groups?.event, "groups");
    const g = groups!.data as { names: string[]; changed: { name: string; rpoMs: number }[] };
    assert.deepEqual(g.names, ["erp"]);
    assert.equal(g.changed[0]!.rpoMs, 1500);
    assert.equal((await sse.next())?.event, "alerts");

    a.site.ctx.manager.events.raise("rpo-breach", "erp", "warning", "group erp: RPO above target", "erp");
    const ev = await sse.until((e) => e.event === "event", "the event");
    assert.equal((ev.data as { message: string }).message, "group erp: RPO above target");
    const alerts = await sse.until((e) => e.event === "alerts", "the alert");
    assert.equal((alerts.data as { kind: string }[])[0]!.kind, "rpo-breach");

    a.appliance.facts.set("erp", { rpoMs: 4200, throughputBytesPerSec: 99, queueBytes: 7 });
    a.site.history.sample(a.site.ctx);
    const changed = await sse.until((e) => e.event === "groups", "the status change");
    assert.equal((changed.data as { changed: { rpoMs: number }[] }).changed[0]!.rpoMs, 4200);
    const tick = await sse.until((e) => e.event === "tick" && Object.keys((e.data as { samples: object }).samples).length > 0, "a tick with samples");
    const samples = (tick.data as { samples: Record<string, { rpoMs: number[]; throughputBytesPerSec: number[] }> }).samples["erp"]!;
    assert.deepEqual(samples.rpoMs, [4200], "only the sample taken since the last tick");
    assert.deepEqual(samples.throughputBytesPerSec, [99]);
    // With nothing new, the ticks still come: the heartbeat.
    const beat = await sse.until((e) => e.event === "tick", "a heartbeat");
    assert.deepEqual((beat.data as { samples: object }).samples, {});
    await sse.cancel();
  });

  it("live: revoking the token ends its stream", async () => {
    const made = (await a.app.inject({ method: "POST", url: "/api/v1/tokens", headers: bearer(a.admin), payload: { role: "viewer" } })).json() as { id: string; token: string };
    const res = await fetch(`${url}/api/v1/live`, { headers: bearer(made.token) });
    const sse = new SseReader(res.body!);
    assert.equal((await sse.next())?.event, "hello");
    assert.equal((await a.app.inject({ method: "DELETE", url: `/api/v1/tokens/${made.id}`, headers: bearer(a.admin) })).statusCode, 200);
    const started = Date.now();
    while ((await sse.next()) !== null) if (Date.now() - started > 20_000) assert.fail("the stream outlived its token");
    assert.equal((await fetch(`${url}/api/v1/live`, { headers: bearer(made.token) })).status, 401);
  });

  it("live: closing the server ends the open streams instead of waiting for them", async () => {
    const res = await fetch(`${url}/api/v1/live`, { headers: bearer(a.admin) });
    const sse = new SseReader(res.body!);
    assert.equal((await sse.next())?.event, "hello");
    await a.app.close();
    while ((await sse.next()) !== null);
  });
});
