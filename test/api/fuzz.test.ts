/**
 * api-fuzz: schema fuzzing of every route (fast-check, fixed seed; a failure
 * prints its seed and path; FC_SEED or FUZZ_SEED replays another seed,
 * FUZZ_RUNS sets the cases per route of the operators' API and per property
 * otherwise, FUZZ_SCALE multiplies the default counts).
 *
 * The routes are not listed here: they are read from the apps themselves
 * (fastify's route tree, and the OpenAPI document for their schemas), so a new
 * route is fuzzed without a change to this file. For each route, at both sites
 * of a paired A → B fixture (group g1 with VM vm1 protected at A), with a valid
 * admin token: bodies generated from the route's schema, then mutated (a field
 * deleted, of the wrong type, stringified, wrapped, an extra field), random
 * JSON, bytes that are not JSON under a JSON content type, JSON under wrong
 * content types, huge strings, deep nesting, prototype keys, duplicate keys;
 * random path parameters (known names, names the schema allows, unicode, bad
 * percent-encoding, too long) and random querystrings; sometimes another
 * method. Every answer must hold:
 * - never a 5xx: a client's mistake is a client error (the one 5xx allowed is
 *   the 503 peer_unreachable of pairing with a host that does not answer);
 * - every 4xx (and that 503) is JSON `{error: {code, message}}` with a message;
 * - a failed request changes nothing at either site: every table of both
 *   databases (but a token's last-used time), both appliances' specs and
 *   checkpoints, and the files of both site directories are as before.
 * Random Authorization headers get a 401 with a message. The site-to-site API
 * refuses anything without a paired site's certificate (app.inject shows none),
 * and is fuzzed over real mutual TLS as paired site B, from valid examples.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import fc from "fast-check";
import { buildPeerApp } from "../../src/api/index.js";
import { siteCard } from "../../src/site/index.js";
import { definitionOf } from "../../src/site/group-ops.js";
import { encodePairingToken } from "../../src/site/pairing-token.js";
import { bearer, openTestSite, pair, tempRoot, type TestSite } from "./harness.js";

const SEED = Number(process.env.FC_SEED ?? process.env.FUZZ_SEED ?? 8008);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number): number => (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : Math.max(1, Math.round(n * SCALE)));
const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

// ------------------------------------------------------------ route discovery

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
type Method = (typeof METHODS)[number];

/** The subset of JSON Schema that the zod → OpenAPI transform writes. */
interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

interface OpenApiOperation {
  parameters?: { in: string; name: string; schema?: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

interface Route {
  method: Method;
  /** Fastify's form: /api/v1/groups/:name */
  url: string;
  params: { name: string; schema: JsonSchema }[];
  query: { name: string; schema: JsonSchema }[];
  body: JsonSchema | undefined;
}

/** Every method and full path in fastify's route tree (`printRoutes`), HEAD left out (fastify adds it to each GET). */
function routesOf(app: FastifyInstance): { method: Method; url: string }[] {
  const out: { method: Method; url: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^((?:[│ ] {3})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const url = stack.join("");
    for (const method of (m[3] ?? "").split(", ").filter(Boolean)) {
      if (method !== "HEAD" && (METHODS as readonly string[]).includes(method)) out.push({ method: method as Method, url });
    }
  }
  return out;
}

/** The operators' routes, each with its schemas from the OpenAPI document (routes it hides are fuzzed without). */
async function operatorRoutes(t: TestSite): Promise<Route[]> {
  const doc = (await t.app.inject({ url: "/api/docs/json" })).json() as { paths: Record<string, Record<string, OpenApiOperation>> };
  return routesOf(t.app)
    // The live stream answers a good request with a stream that never ends (its own tests are in live.test.ts).
    .filter((r) => !r.url.startsWith("/api/docs") && r.url !== "/api/v1/live")
    .map(({ method, url }) => {
      const op = doc.paths[url.replace(/:([A-Za-z0-9_]+)/g, "{$1}")]?.[method.toLowerCase()] ?? {};
      const of = (where: string) => (op.parameters ?? []).filter((p) => p.in === where).map((p) => ({ name: p.name, schema: p.schema ?? {} }));
      const declared = of("path");
      const names = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((x) => x[1]!);
      return {
        method,
        url,
        params: names.map((name) => declared.find((p) => p.name === name) ?? { name, schema: {} }),
        query: of("query"),
        body: op.requestBody?.content?.["application/json"]?.schema,
      };
    });
}

// ------------------------------------------------------------ the fixture's names

/** Names that exist in the fixture (and some that do not), so that many cases get past the 404s. */
const KNOWN = ["g1", "vm1", "d1", "vm1/d1", "A", "B", "nope", "latest", "seq:0", "tag:x", "5s ago", "cp-1", "h1", "1700000000000", "2024-01-01T00:00:00Z"];

// ------------------------------------------------------------ arbitraries

const NASTY_STRINGS = ["", " ", "\u0000", "\uffff", "\ud800", "é", "😀", "../../etc/passwd", "%00", "null", "true", "0", "-1", "1e309", "NaN", "<script>", "' OR 1=1 --", "a\nb", "\u202e"];

function stringArb(s: JsonSchema): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = Math.max(min, Math.min(s.maxLength ?? 40, 40));
  if (s.pattern !== undefined) {
    const re = new RegExp(s.pattern);
    const known = KNOWN.filter((k) => re.test(k));
    const matching = fc.stringMatching(re).filter((x) => x.length >= min && x.length <= (s.maxLength ?? Infinity));
    return known.length ? fc.oneof(fc.constantFrom(...known), matching) : matching;
  }
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...KNOWN) },
    { weight: 3, arbitrary: fc.string({ minLength: min, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: min, maxLength: max }) },
  );
}

function integerArb(s: JsonSchema): fc.Arbitrary<number> {
  const exclusive = s.exclusiveMinimum === true ? 1 : 0;
  const min = typeof s.exclusiveMinimum === "number" ? s.exclusiveMinimum + 1 : (s.minimum ?? Number.MIN_SAFE_INTEGER) + exclusive;
  const max = Math.min(s.maximum ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const small = fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, Math.max(min, 0) + 100_000, 2 ** 31 - 1) });
  const clamp = (n: number) => Math.min(max, Math.max(min, n));
  return fc.oneof(
    { weight: 3, arbitrary: small },
    { weight: 2, arbitrary: fc.constantFrom(min, 1, 512, 4096, 1 << 20, 60_000, 2 ** 31, max).map(clamp) },
    { weight: 1, arbitrary: fc.maxSafeNat().map(clamp) },
  );
}

/** Values that the schema allows (mostly: zod's refinements are not in the JSON Schema). */
function schemaArb(s: JsonSchema): fc.Arbitrary<unknown> {
  let a: fc.Arbitrary<unknown>;
  if (s.const !== undefined) a = fc.constant(s.const);
  else if (s.enum) a = fc.constantFrom(...s.enum);
  else if (s.anyOf ?? s.oneOf) a = fc.oneof(...(s.anyOf ?? s.oneOf ?? []).map(schemaArb));
  else if (s.type === "string") a = stringArb(s);
  else if (s.type === "integer") a = integerArb(s);
  else if (s.type === "number") a = fc.double({ min: s.minimum ?? -1e9, max: s.maximum ?? 1e9, noNaN: true });
  else if (s.type === "boolean") a = fc.boolean();
  else if (s.type === "null") a = fc.constant(null);
  else if (s.type === "array") {
    const minLength = s.minItems ?? 0;
    a = fc.array(schemaArb(s.items ?? {}), { minLength, maxLength: Math.max(minLength, Math.min(s.maxItems ?? 3, 3)) });
  } else if (s.type === "object") {
    const props = Object.entries(s.properties ?? {});
    const fixed = fc.record(Object.fromEntries(props.map(([k, v]) => [k, schemaArb(v)])) as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: s.required ?? [] });
    const ap = s.additionalProperties;
    a = typeof ap === "object"
      ? fc.tuple(fc.dictionary(fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), fc.string()), schemaArb(ap), { maxKeys: 3 }), fixed).map(([extra, f]) => ({ ...extra, ...f }))
      : fixed;
  } else a = fc.jsonValue({ maxDepth: 2 });
  return s.nullable ? fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) }) : a;
}

interface Mutation {
  at: number;
  op: "delete" | "replace" | "extra" | "wrap" | "stringify" | "null" | "nasty";
  key: string;
  value: unknown;
  nasty: string;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom("delete", "replace", "extra", "wrap", "stringify", "null", "nasty"),
  key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom("constructor", "toString", "hasOwnProperty", "name", "role", "")),
  value: fc.jsonValue({ maxDepth: 3 }),
  nasty: fc.constantFrom(...NASTY_STRINGS),
});

type Node = Record<string, unknown> | unknown[];
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** One mutation of a (mostly) valid value at one of its nodes, the root included. */
function mutate(value: unknown, m: Mutation): unknown {
  const root: { v: unknown } = { v: structuredClone(value) };
  const spots: [Node | { v: unknown }, string][] = [[root, "v"]];
  const walk = (node: unknown): void => {
    if (!isNode(node)) return;
    for (const k of Object.keys(node)) {
      spots.push([node, k]);
      walk((node as Record<string, unknown>)[k]);
    }
  };
  walk(root.v);
  const [parent, key] = spots[m.at % spots.length]!;
  const p = parent as Record<string, unknown>;
  const old = p[key];
  switch (m.op) {
    case "delete":
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else if (parent === root) root.v = m.value;
      else delete p[key];
      break;
    case "replace":
      p[key] = m.value;
      break;
    case "extra":
      if (Array.isArray(old)) old.push(m.value);
      else if (isRecord(old)) old[m.key] = m.value;
      else p[key] = m.value;
      break;
    case "wrap":
      p[key] = [old];
      break;
    case "stringify":
      p[key] = typeof old === "string" ? Number(old) : JSON.stringify(old ?? null);
      break;
    case "null":
      p[key] = null;
      break;
    case "nasty":
      p[key] = m.nasty;
      break;
  }
  return root.v === undefined ? null : root.v;
}

/** What a case sends as its body: a description, rendered only when sent (so a failure prints it small). */
type Payload =
  | { kind: "none" }
  | { kind: "json"; value: unknown; contentType: string | undefined }
  | { kind: "text"; text: string; contentType: string | undefined }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "huge"; base: unknown; size: number; char: string }
  | { kind: "deep"; depth: number; shape: "array" | "object" | "proto" }
  | { kind: "proto"; base: unknown; key: "__proto__" | "constructor" }
  | { kind: "duplicate"; base: unknown; value: unknown };

const JSON_TYPE = "application/json";
const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "application/xml",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "APPLICATION/JSON",
  "application/json;",
  "application/vnd.lifeline+json",
  "text/json",
  "*/*",
  ";",
  "",
  undefined,
];
const NOT_JSON = ["{", "[1,", "nul", '{"a":}', "'x'", '{"a":1}}', "\u0000", "NaN", "undefined", "[]]", '"\\ud800"', '{"a":1,}', "// x", "\ufeff{}", "1 2", "{}{}"];

function payloadArb(body: JsonSchema | undefined): fc.Arbitrary<Payload> {
  const valid = body ? schemaArb(body) : fc.constant({});
  return fc.oneof(
    { weight: 3, arbitrary: valid.map((value): Payload => ({ kind: "json", value, contentType: JSON_TYPE })) },
    { weight: 5, arbitrary: fc.tuple(valid, mutationArb).map(([v, m]): Payload => ({ kind: "json", value: mutate(v, m), contentType: JSON_TYPE })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value): Payload => ({ kind: "json", value, contentType: JSON_TYPE })) },
    { weight: 1, arbitrary: fc.constant<Payload>({ kind: "none" }) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...NOT_JSON), fc.string()).map((text): Payload => ({ kind: "text", text, contentType: JSON_TYPE })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): Payload => ({ kind: "bytes", bytes })) },
    { weight: 2, arbitrary: fc.tuple(valid, fc.constantFrom(...CONTENT_TYPES)).map(([value, contentType]): Payload => ({ kind: "json", value, contentType })) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("huge" as const), base: valid, size: fc.constantFrom(1000, 100_000, 1_100_000), char: fc.constantFrom("a", "é", "😀", "\u0000", "\\") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("deep" as const), depth: fc.integer({ min: 10, max: 20_000 }), shape: fc.constantFrom("array" as const, "object" as const, "proto" as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("proto" as const), base: valid, key: fc.constantFrom("__proto__" as const, "constructor" as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), base: valid, value: fc.jsonValue({ maxDepth: 2 }) }) },
  );
}

function render(p: Payload): { payload?: string | Buffer; contentType?: string } {
  const obj = (base: unknown): Record<string, unknown> => (isRecord(base) ? base : { x: base });
  switch (p.kind) {
    case "none":
      return {};
    case "json":
      return { payload: JSON.stringify(p.value) ?? "null", ...(p.contentType === undefined ? {} : { contentType: p.contentType }) };
    case "text":
      return { payload: p.text, ...(p.contentType === undefined ? {} : { contentType: p.contentType }) };
    case "bytes":
      return { payload: Buffer.from(p.bytes), contentType: JSON_TYPE };
    case "huge": {
      const o = obj(p.base);
      const key = Object.keys(o)[0] ?? "x";
      return { payload: JSON.stringify({ ...o, [key]: p.char.repeat(Math.ceil(p.size / p.char.length)) }), contentType: JSON_TYPE };
    }
    case "deep": {
      const d = p.depth;
      const text = p.shape === "array" ? "[".repeat(d) + "]".repeat(d) : p.shape === "object" ? '{"a":'.repeat(d) + "1" + "}".repeat(d) : '{"a":'.repeat(d) + '{"__proto__":{"x":1}}' + "}".repeat(d);
      return { payload: text, contentType: JSON_TYPE };
    }
    case "proto": {
      const inner = p.key === "__proto__" ? '{"role":"admin"}' : '{"prototype":{"role":"admin"}}';
      const rest = JSON.stringify(obj(p.base)).slice(1);
      return { payload: `{"${p.key}":${inner}${rest === "}" ? "" : ","}${rest}`, contentType: JSON_TYPE };
    }
    case "duplicate": {
      const o = obj(p.base);
      const key = Object.keys(o)[0] ?? "x";
      const rest = JSON.stringify(o).slice(1);
      return { payload: `{${JSON.stringify(key)}:${JSON.stringify(p.value) ?? "null"}${rest === "}" ? "" : ","}${rest}`, contentType: JSON_TYPE };
    }
  }
}

/** A value as a path or query string carries it. */
const asText = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? "undefined"));

/** Percent-encodes, a lone surrogate as the bytes a careless client sends for it (not UTF-8). */
function enc(s: string): string {
  return [...s].map((ch) => (/^[\ud800-\udfff]$/.test(ch) ? "%ED%A0%80" : encodeURIComponent(ch))).join("");
}

/** A path parameter: a known name, one its schema allows, unicode, bad percent-encoding, empty, too long. */
function paramArb(schema: JsonSchema, extraKnown: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...KNOWN.filter((k) => k.length <= 100), ...extraKnown).map(enc) },
    { weight: 2, arbitrary: schemaArb(schema).map((v) => enc(asText(v))) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }).map(enc) },
    { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%00", "%2F", "..", "%2e%2e", ".", "%C0%AF", "%FF", "a%20b", "~", "*", "", ";x", "%E2%80%AE") },
    { weight: 1, arbitrary: fc.integer({ min: 64, max: 5000 }).map((n) => "x".repeat(n)) },
  );
}

function queryArb(query: Route["query"]): fc.Arbitrary<string> {
  const value = (s: JsonSchema) =>
    fc.oneof({ weight: 6, arbitrary: schemaArb(s).map(asText) }, { weight: 1, arbitrary: fc.constantFrom(...NASTY_STRINGS) }, { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) });
  const declared = fc.tuple(...query.map((q) => fc.option(fc.tuple(fc.constant(q.name), value(q.schema)), { nil: undefined })));
  const repeated = query.length ? fc.oneof({ weight: 4, arbitrary: fc.constant<[string, string][]>([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom(...query.map((q) => q.name)), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 2 }) }) : fc.constant<[string, string][]>([]);
  const extra = fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })), { maxLength: 2 });
  const tail = fc.constantFrom("", "", "", "&", "&=", "&%", "&a=%zz", "&&&", "&x[y]=1", "&a.b=c");
  return fc.tuple(declared, repeated, extra, tail).map(([d, r, e, t]) => {
    const pairs = [...d.filter((x): x is [string, string] => x !== undefined), ...r, ...e];
    const q = pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&") + t;
    return q ? `?${q}` : "";
  });
}

// ------------------------------------------------------------ checks

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * Never a 5xx, but the 503 that says a peer named in the request cannot be
 * reached (pairing with a host that does not answer: not the client's mistake,
 * not this site's failure); every error is JSON with an error code and a message.
 */
function checkAnswer(what: string, method: string, a: Answer): void {
  const unreachablePeer = a.status === 503 && /"code":"peer_unreachable"/.test(a.body);
  assert.ok(a.status < 500 || unreachablePeer, `${what} answered ${a.status}: ${a.body.slice(0, 500)}`);
  if (a.status < 400 || method === "HEAD") return;
  assert.match(a.contentType, /^application\/json/, `${what} answered ${a.status} as ${a.contentType}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.body);
  } catch {
    assert.fail(`${what} answered ${a.status} with a body that is not JSON: ${a.body.slice(0, 200)}`);
  }
  const e = isRecord(parsed) ? parsed.error : undefined;
  assert.ok(isRecord(e), `${what} answered ${a.status} without {error}: ${a.body.slice(0, 200)}`);
  assert.ok(typeof e.code === "string" && e.code.length > 0, `${what} answered ${a.status} without an error code: ${a.body.slice(0, 200)}`);
  assert.ok(typeof e.message === "string" && e.message.trim().length > 0, `${what} answered ${a.status} without a message: ${a.body.slice(0, 200)}`);
}

/** Everything a request could change at a site, but a token's last-used time (auth writes it, at most once a minute). */
function snapshot(t: TestSite): Record<string, string> {
  const db = t.site.ctx.manager.db;
  const out: Record<string, string> = {};
  for (const table of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]) {
    const rows = db.prepare(`SELECT * FROM "${table}" ORDER BY rowid`).all() as Record<string, unknown>[];
    out[`table ${table}`] = JSON.stringify(table === "tokens" ? rows.map(({ last_used_at: _used, ...r }) => r) : rows);
  }
  out["appliance specs"] = JSON.stringify([...t.appliance.specs.entries()].sort(([x], [y]) => x.localeCompare(y)));
  out["appliance checkpoints"] = JSON.stringify(t.appliance.checkpoints);
  const dir = path.dirname(t.site.ctx.layout.database);
  out.files = JSON.stringify((fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => !f.startsWith("lifeline.db")).sort());
  return out;
}

function assertUnchanged(what: string, before: Record<string, string>[], now: Record<string, string>[]): void {
  before.forEach((b, i) => {
    const n = now[i]!;
    for (const k of new Set([...Object.keys(b), ...Object.keys(n)])) {
      assert.equal(n[k], b[k], `${what} failed, yet changed ${["A", "B"][i]}'s ${k}`);
    }
  });
}

// ------------------------------------------------------------ a client of the site-to-site API over real TLS

function tlsCall(peerUrl: string, identity: { keyPem: string; certPem: string } | undefined, method: string, urlPath: string, body: { payload?: string | Buffer; contentType?: string }): Promise<Answer> {
  const u = new URL(peerUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body.contentType !== undefined) headers["content-type"] = body.contentType;
    if (body.payload !== undefined) headers["content-length"] = Buffer.byteLength(body.payload);
    const req = https.request(
      { host: u.hostname, port: u.port, path: urlPath, method, rejectUnauthorized: false, agent: false, headers, ...(identity ? { key: identity.keyPem, cert: identity.certPem } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body.payload);
  });
}

// ------------------------------------------------------------ the tests

describe("api-fuzz", () => {
  const root = tempRoot();
  let a: TestSite;
  let b: TestSite;
  let routes: Route[];
  /** Tokens that a case may revoke (never the admin token the cases use). */
  const victims: string[] = [];
  let viewer: string;
  let operator: string;

  const inject = (t: TestSite, method: Method, url: string, body: { payload?: string | Buffer; contentType?: string }, headers: Record<string, string> = bearer(t.admin)) =>
    t.app.inject({ method, url, headers: { ...headers, ...(body.contentType === undefined ? {} : { "content-type": body.contentType }) }, ...(body.payload === undefined ? {} : { payload: body.payload }) });

  /** Puts back what successful cases may have taken away: the pairing, g1, vm1. */
  async function ensureFixture(): Promise<void> {
    if (!a.site.ctx.manager.peers.find("B") || !b.site.ctx.manager.peers.find("A")) await pair(a, b);
    const ok = async (r: Promise<{ statusCode: number; body: string }>) => {
      const x = await r;
      assert.ok(x.statusCode < 300, `restoring the fixture: ${x.body}`);
    };
    if (!a.site.ctx.manager.groups.has("g1")) await ok(inject(a, "POST", "/api/v1/groups", { payload: JSON.stringify({ name: "g1", recoverySite: "B" }), contentType: JSON_TYPE }));
    if (!a.site.ctx.manager.groups.get("g1").vms.some((v) => v.name === "vm1")) {
      await ok(inject(a, "POST", "/api/v1/groups/g1/vms", { payload: JSON.stringify({ name: "vm1", disks: [{ name: "d1", sizeBytes: 1 << 20 }] }), contentType: JSON_TYPE }));
    }
  }

  before(async () => {
    [a, b] = await Promise.all([openTestSite(root, "A"), openTestSite(root, "B")]);
    await pair(a, b);
    await ensureFixture();
    const mk = async (t: TestSite, role: string) => (await inject(t, "POST", "/api/v1/tokens", { payload: JSON.stringify({ role, name: `fuzz ${role}` }), contentType: JSON_TYPE })).json<{ token: string; id: string }>();
    viewer = (await mk(a, "viewer")).token;
    operator = (await mk(a, "operator")).token;
    for (const t of [a, b]) victims.push((await mk(t, "viewer")).id);
    routes = await operatorRoutes(a);
    // Pairing tokens that decode, naming what a token must not: a string that is no URL, another scheme, this very site, a wrong secret.
    const fp = b.site.ctx.identity.fingerprint;
    for (const [site, peerUrl, fingerprint] of [["B", "not a url", fp], ["B", "http://127.0.0.1:1", fp], ["B", "ftp://x", fp], ["B", "", fp], ["A", a.site.ctx.endpoints.peerUrl, a.site.ctx.identity.fingerprint], ["B", b.site.ctx.endpoints.peerUrl, fp], ["B", b.site.ctx.endpoints.peerUrl, "AB:CD"]] as const) {
      KNOWN.push(encodePairingToken({ site, peerUrl, fingerprint, secret: "not-the-secret" }));
    }
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("finds every route of the operators' API, with the schemas of those that take input", () => {
    const names = new Set(routes.map((r) => `${r.method} ${r.url}`));
    for (const r of ["GET /api/v1/groups", "POST /api/v1/groups", "PATCH /api/v1/groups/:name/vms/:vm", "POST /api/v1/groups/:name/restore", "DELETE /api/v1/tokens/:id", "GET /api/v1/tasks/:id", "GET /metrics"]) {
      assert.ok(names.has(r), `${r} is among ${[...names].join(", ")}`);
    }
    assert.ok(routes.length >= 30, `${routes.length} routes`);
    assert.ok(routes.find((r) => r.url === "/api/v1/groups" && r.method === "POST")?.body?.properties?.name, "the schemas come from the OpenAPI document");
    assert.deepEqual(routes.find((r) => r.url === "/api/v1/groups/:name/vms/:vm")?.params.map((p) => p.name), ["name", "vm"]);
  });

  it("every route, at both sites: never a 5xx, every 4xx with a message, a failed request changes nothing", async (t) => {
    let baseline = [snapshot(a), snapshot(b)];
    const counts = new Map<string, number>();
    const perRoute = new Map<string, Record<string, number>>();
    const arb = fc.constantFrom(...routes).chain((route) =>
      fc.record({
        route: fc.constant(route),
        at: fc.constantFrom("A", "B"),
        method: fc.oneof({ weight: 12, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
        params: fc.tuple(...route.params.map((p) => paramArb(p.schema, victims))),
        query: queryArb(route.query),
        payload: payloadArb(route.body),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const { route } = c;
        const t = c.at === "A" ? a : b;
        let i = 0;
        const url = route.url.replace(/:[A-Za-z0-9_]+/g, () => c.params[i++]!) + c.query;
        const body = render(c.payload);
        const what = `${c.method} ${url} at ${c.at} (route ${route.method} ${route.url}, ${c.payload.kind} body${body.contentType === undefined ? "" : ` as ${body.contentType}`})`;
        const r = await inject(t, c.method, url, body);
        checkAnswer(what, c.method, { status: r.statusCode, contentType: String(r.headers["content-type"] ?? ""), body: r.body });
        counts.set(String(r.statusCode), (counts.get(String(r.statusCode)) ?? 0) + 1);
        const key = `${route.method} ${route.url}`;
        const answer = r.statusCode >= 400 && c.method !== "HEAD" ? `${r.statusCode} ${r.json<{ error: { code: string } }>().error.code}` : String(r.statusCode);
        perRoute.set(key, { ...perRoute.get(key), [answer]: (perRoute.get(key)?.[answer] ?? 0) + 1 });
        if (r.statusCode >= 400) {
          assertUnchanged(what, baseline, [snapshot(a), snapshot(b)]);
        } else {
          await ensureFixture();
          baseline = [snapshot(a), snapshot(b)];
        }
      }),
      params(runs(40) * routes.length),
    );
    for (const [route, statuses] of perRoute) t.diagnostic(`${route}: ${JSON.stringify(statuses)}`);
    // Not an assertion of taste: without successes and each kind of refusal, the cases would not reach the handlers.
    for (const s of ["200", "201", "400", "404"]) assert.ok(counts.has(s), `some case answered ${s}: ${JSON.stringify([...counts])}`);
  });

  it("random Authorization headers: 401 with a message, never a 5xx; a role too low: 403 with a message", async () => {
    const admin = a.admin;
    const header = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`),
      fc.constantFrom("Bearer", "Bearer ", "Bearer  ", "bearer", "Basic YWRtaW46YWRtaW4=", "Digest x", "Token x", "Bearer llt_", "Bearer null", "Bearer undefined", "Bearer \t", "Bearer a b"),
      fc.constantFrom(`Bearer ${admin}x`, `Bearer ${admin.slice(0, -1)}`, `Bearer ${admin} ${admin}`, admin, `Bearer${admin}`, `Bearer ${admin.toUpperCase()}`, `Bearer "${admin}"`, `Bearer ${admin},${admin}`, `Basic ${admin}`),
      fc.constantFrom(`Bearer ${viewer}`, `Bearer ${operator}`, `bearer ${viewer}`),
    ).filter((h) => /^[\t\x20-\x7e\x80-\xff]*$/.test(h));
    let baseline = [snapshot(a), snapshot(b)];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), header, fc.array(fc.constantFrom("g1", "vm1", "d1", "B", "nope", "tok_x"), { minLength: 2, maxLength: 2 }), async (route, h, [p1, p2]) => {
        const url = route.url.replace(":name", enc(p1!)).replace(/:[A-Za-z0-9_]+/g, enc(p2!));
        const r = await a.app.inject({ method: route.method, url, headers: { authorization: h, "content-type": JSON_TYPE }, payload: "{}" });
        const what = `${route.method} ${url} with Authorization: ${h}`;
        checkAnswer(what, route.method, { status: r.statusCode, contentType: String(r.headers["content-type"] ?? ""), body: r.body });
        const isRole = h.endsWith(viewer) || h.endsWith(operator);
        if (!isRole) {
          assert.equal(r.statusCode, 401, `${what}: ${r.body}`);
          assert.equal(r.json<{ error: { code: string } }>().error.code, "unauthenticated");
        }
        if (r.statusCode >= 400) assertUnchanged(what, baseline, [snapshot(a), snapshot(b)]);
        else {
          await ensureFixture();
          baseline = [snapshot(a), snapshot(b)];
        }
      }),
      params(runs(200)),
    );
  });

  it("the site-to-site API refuses every route without a paired site's certificate (app.inject shows none)", async () => {
    const peerApp = await buildPeerApp(a.site);
    try {
      const peerRoutes = routesOf(peerApp);
      assert.ok(peerRoutes.length >= 14, `${peerRoutes.length} site-to-site routes`);
      const baseline = [snapshot(a), snapshot(b)];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...peerRoutes), fc.tuple(paramArb({}, []), paramArb({}, [])), payloadArb(undefined), async (route, [p1, p2], payload) => {
          const url = route.url.replace(":name", p1).replace(/:[A-Za-z0-9_]+/g, p2);
          const body = render(payload);
          const r = await peerApp.inject({ method: route.method, url, headers: body.contentType === undefined ? {} : { "content-type": body.contentType }, ...(body.payload === undefined ? {} : { payload: body.payload }) });
          const what = `${route.method} ${url} to A's site-to-site API without a certificate (${payload.kind} body)`;
          checkAnswer(what, route.method, { status: r.statusCode, contentType: String(r.headers["content-type"] ?? ""), body: r.body });
          assert.ok(r.statusCode >= 400, `${what} answered ${r.statusCode}`);
          assertUnchanged(what, baseline, [snapshot(a), snapshot(b)]);
        }),
        params(runs(150)),
      );
      // A well-formed request, with no certificate behind it, is still refused as unauthenticated.
      const card = JSON.stringify(siteCard(b.site.ctx));
      const r = await peerApp.inject({ method: "PUT", url: "/peer/v1/site", headers: { "content-type": JSON_TYPE }, payload: card });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json<{ error: { code: string } }>().error.code, "peer_unauthenticated");
    } finally {
      await peerApp.close();
    }
  });

  it("the site-to-site API over mutual TLS, as paired site B: never a 5xx, every 4xx with a message, a failed request changes nothing", async () => {
    const peerApp = await buildPeerApp(a.site);
    const peerRoutes = routesOf(peerApp);
    await peerApp.close();
    const card = siteCard(b.site.ctx);
    const h1 = { ...definitionOf(a.site.ctx.manager.groups.get("g1")), name: "h1", protectedSite: "B", recoverySite: "A" };
    /** A valid request of each route, for the mutations to start from. */
    const examples: Record<string, unknown> = {
      "POST /peer/v1/pair": { secret: "not-a-secret", card },
      "PUT /peer/v1/site": card,
      "PUT /peer/v1/groups/:name": h1,
      "POST /peer/v1/groups/:name/reverse": h1,
      "POST /peer/v1/groups/:name/quiesce": { tag: "move" },
      "POST /peer/v1/recovery": { request: { op: "test-start", group: "h1", point: "latest" }, actor: "fuzz" },
    };
    const url = a.site.ctx.endpoints.peerUrl;
    let baseline = [snapshot(a), snapshot(b)];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...peerRoutes).chain((route) =>
          fc.tuple(fc.constant(route), fc.tuple(paramArb({}, []), paramArb({}, [])), examples[`${route.method} ${route.url}`] === undefined ? payloadArb(undefined) : payloadArb(undefined).chain((p) => fc.oneof(
            { weight: 1, arbitrary: fc.constant(p) },
            { weight: 3, arbitrary: mutationArb.map((m): Payload => ({ kind: "json", value: mutate(examples[`${route.method} ${route.url}`], m), contentType: JSON_TYPE })) },
          ))),
        ),
        fc.boolean(),
        async ([route, [p1, p2], payload], certificate) => {
          const target = route.url.replace(":name", p1).replace(/:[A-Za-z0-9_]+/g, p2);
          const body = render(payload);
          const what = `${route.method} ${target} to A's site-to-site API as B${certificate ? "" : " without a certificate"} (${payload.kind} body)`;
          const r = await tlsCall(url, certificate ? b.site.ctx.identity : undefined, route.method, target, body);
          checkAnswer(what, route.method, r);
          if (!certificate) assert.ok(r.status >= 400, `${what} answered ${r.status}`);
          if (r.status >= 400) assertUnchanged(what, baseline, [snapshot(a), snapshot(b)]);
          else {
            await ensureFixture();
            baseline = [snapshot(a), snapshot(b)];
          }
        },
      ),
      params(runs(200)),
    );
  });

  it("regressions: what the fuzzing found, fixed", async () => {
    const bodyOf = (r: { statusCode: number; headers: Record<string, unknown>; body: string }): Answer => ({ status: r.statusCode, contentType: String(r.headers["content-type"] ?? ""), body: r.body });
    const before = [snapshot(a), snapshot(b)];
    // A path parameter longer than fastify's limit (100) was answered by fastify's router, not in the API's error format.
    const long = await inject(a, "DELETE", `/api/v1/peers/${"x".repeat(101)}`, {});
    checkAnswer("a path parameter of 101 characters", "DELETE", bodyOf(long));
    assert.equal(long.json<{ error: { code: string } }>().error.code, "fst_err_max_param_length");
    const peerApp = await buildPeerApp(a.site);
    try {
      const r = await peerApp.inject({ method: "GET", url: `/peer/v1/groups/${"x".repeat(101)}/status` });
      checkAnswer("a path parameter of 101 characters, site-to-site", "GET", bodyOf(r));
    } finally {
      await peerApp.close();
    }
    // A pairing token naming a peer URL that is not an https URL was a 500 (a TypeError from new URL, or from https.request).
    for (const peerUrl of ["not a url", "http://127.0.0.1:1", ""]) {
      for (const peerHost of [undefined, "127.0.0.1"]) {
        const token = encodePairingToken({ site: "B", peerUrl, fingerprint: b.site.ctx.identity.fingerprint, secret: "x" });
        const r = await inject(a, "POST", "/api/v1/peers", { payload: JSON.stringify({ token, ...(peerHost ? { peerHost } : {}) }), contentType: JSON_TYPE });
        checkAnswer(`pairing with a token for ${JSON.stringify(peerUrl)}`, "POST", bodyOf(r));
        assert.equal(r.json<{ error: { code: string } }>().error.code, "pairing_token_malformed");
      }
    }
    // A paired site's card whose URL is not a URL (new URL threw) or whose certificate is not one (X509Certificate threw) was a 500.
    const card = siteCard(b.site.ctx);
    for (const [route, body] of [
      ["PUT /peer/v1/site", { ...card, apiUrl: "" }],
      ["PUT /peer/v1/site", { ...card, peerUrl: "nope" }],
      ["PUT /peer/v1/site", { ...card, certPem: "-----BEGIN CERTIFICATE-----" }],
      ["POST /peer/v1/pair", { secret: "x", card: { ...card, certPem: "x" } }],
      ["POST /peer/v1/pair", { secret: "x", card: { ...card, apiUrl: "::" } }],
    ] as const) {
      const [method, urlPath] = route.split(" ") as [string, string];
      const r = await tlsCall(a.site.ctx.endpoints.peerUrl, b.site.ctx.identity, method, urlPath, { payload: JSON.stringify(body), contentType: JSON_TYPE });
      checkAnswer(`${route} as B with ${JSON.stringify(body).slice(0, 80)}`, method, r);
      assert.equal(r.status, 400, r.body);
    }
    assertUnchanged("every regression case", before, [snapshot(a), snapshot(b)]);
  });
});
