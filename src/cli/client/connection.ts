/**
 * How a client command finds its site and talks to it: `--site URL --token T`,
 * else LIFELINE_SITE / LIFELINE_TOKEN, else `--dir DIR` of a local site (its
 * run.json names the running daemon's address, its cli-token file an admin
 * token). Errors come back as one line naming the site, with the API's hint.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";

export interface ClientOptions {
  site?: string;
  token?: string;
  dir?: string;
  json?: boolean;
}

export class CliError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** Adds the options every client command takes, so they are accepted anywhere after its name. */
export function clientCommand(cmd: Command): Command {
  return cmd
    .option("--site <URL>", "the site's API (or LIFELINE_SITE)")
    .option("--token <TOKEN>", "a bearer token (or LIFELINE_TOKEN)")
    .option("--dir <DIR>", "a local site's directory: reads the address and a token from it")
    .option("--json", "print JSON for scripts");
}

export interface Target {
  url: string;
  token: string;
  site?: string;
}

export function resolveTarget(o: ClientOptions): Target {
  if (o.dir && !o.site) {
    const dir = path.resolve(o.dir);
    if (!fs.existsSync(path.join(dir, "lifeline.yaml"))) throw new CliError(`${dir} is not a site directory`, "make one with: lifeline site init --dir DIR --name NAME");
    let run: { apiUrl: string; site: string };
    try {
      run = JSON.parse(fs.readFileSync(path.join(dir, "run.json"), "utf8")) as { apiUrl: string; site: string };
    } catch {
      throw new CliError(`the site in ${dir} is not running`, `start it with: lifeline site start --dir ${o.dir}`);
    }
    const token = o.token ?? process.env.LIFELINE_TOKEN ?? fs.readFileSync(path.join(dir, "cli-token"), "utf8").trim();
    return { url: run.apiUrl, token, site: run.site };
  }
  const url = o.site ?? process.env.LIFELINE_SITE;
  const token = o.token ?? process.env.LIFELINE_TOKEN;
  if (!url) throw new CliError("which site? none given", "pass --site URL (or set LIFELINE_SITE), or --dir DIR for a local site");
  if (!token) throw new CliError(`no token for ${url}`, "pass --token TOKEN (or set LIFELINE_TOKEN); lifeline site init printed the first admin token");
  return { url: url.replace(/\/+$/, ""), token };
}

export async function api<T>(t: Target, method: string, route: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${t.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${t.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new CliError(`cannot reach the site at ${t.url} (${cause})`, "is `lifeline site start` running there? check --site / LIFELINE_SITE");
  }
  const site = res.headers.get("x-lifeline-site") ?? t.site;
  const where = site ? `site ${site} (${t.url})` : t.url;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new CliError(`${where} answered HTTP ${res.status} with something that is not JSON`, "is --site the Lifeline API URL?");
  }
  if (!res.ok) {
    const e = (parsed as { error?: { message?: string; hint?: string } } | undefined)?.error;
    throw new CliError(`${e?.message ?? `HTTP ${res.status}`} at ${where}`, e?.hint);
  }
  return parsed as T;
}
