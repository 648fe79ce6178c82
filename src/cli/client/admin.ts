/** Client commands for pairing, tokens, alerts and events. */
import type { Command } from "commander";
import type { Alert, LifelineEvent, Peer, TokenInfo } from "../../manager/index.js";
import { api, CliError, clientCommand, resolveTarget, type ClientOptions } from "./connection.js";
import { parseSize } from "../units.js";
import { formatRate, formatTime, print, table } from "./format.js";
import { parseSince } from "./groups.js";

export function registerAdminCommands(program: Command): void {
  program
    .command("pair")
    .description("pair this site with another (both directions), using a token made there")
    .option("--site <URL>", "this site's API (or LIFELINE_SITE)")
    .option("--dir <DIR>", "this site's directory, when it runs on this machine")
    .option("--json", "print JSON for scripts")
    .requiredOption("--peer <URL>", "the other site's address, e.g. http://siteb:8080 (its host is used to reach it)")
    .requiredOption("--token <PAIRING-TOKEN>", "the token printed by `lifeline site pair-token` on the other site")
    .option("--site-token <TOKEN>", "this site's API token (or LIFELINE_TOKEN)")
    .action(async (o: ClientOptions & { peer: string; siteToken?: string }) => {
      let host: string;
      try {
        host = new URL(o.peer).hostname.replace(/^\[|\]$/g, "");
      } catch {
        throw new CliError(`--peer "${o.peer}" is not a URL`, "e.g. --peer http://10.0.0.2:8080");
      }
      // --token is the pairing token here; this site's own token comes from --site-token, LIFELINE_TOKEN or --dir.
      const t = resolveTarget({ ...o, token: o.siteToken });
      const peer = await api<Omit<Peer, "certPem">>(t, "POST", "/peers", { token: o.token, peerHost: host });
      print(o.json, peer, () => `paired with site ${peer.name} (${peer.apiUrl}), certificate ${peer.fingerprint}\n`);
    });

  clientCommand(program.command("peers").description("paired sites, with the bandwidth limit of the link to each")).action(async (o: ClientOptions) => {
    const list = await api<Omit<Peer, "certPem">[]>(resolveTarget(o), "GET", "/peers");
    print(o.json, list, () =>
      list.length === 0 ? "no paired sites\n" : table(["SITE", "API", "REPLICATION", "BANDWIDTH", "PAIRED", "CERTIFICATE"], list.map((p) => [p.name, p.apiUrl, `${p.replicationHost}:${p.replicationPort}`, p.bandwidthBytesPerSec === null ? "unlimited" : formatRate(p.bandwidthBytesPerSec), formatTime(p.pairedAt), p.fingerprint.slice(0, 23) + "…"])),
    );
  });

  const peer = program.command("peer").description("a paired site");
  clientCommand(peer.command("update <SITE>").description("the bandwidth limit of the link to SITE, shared by every group replicating over it, by priority"))
    .requiredOption("--bandwidth <RATE>", "e.g. 100MB/s, or 'unlimited'")
    .action(async (site: string, o: ClientOptions & { bandwidth: string }) => {
      let bytesPerSec: number | null;
      try {
        bytesPerSec = /^(unlimited|none|0)$/i.test(o.bandwidth) ? null : parseSize(o.bandwidth.replace(/\/s$/i, ""));
      } catch (err) {
        throw new CliError(`--bandwidth: ${(err as Error).message}`, "e.g. --bandwidth 100MB/s, or --bandwidth unlimited");
      }
      const p = await api<Omit<Peer, "certPem">>(resolveTarget(o), "PATCH", `/peers/${encodeURIComponent(site)}`, { bandwidthBytesPerSec: bytesPerSec });
      print(o.json, p, () => `replication to site ${p.name}: ${p.bandwidthBytesPerSec === null ? "no bandwidth limit" : `at most ${formatRate(p.bandwidthBytesPerSec)}`}, shared by its groups by priority\n`);
    });

  clientCommand(program.command("alerts").description("active alerts"))
    .option("--all", "include cleared ones")
    .action(async (o: ClientOptions & { all?: boolean }) => {
      const list = await api<Alert[]>(resolveTarget(o), "GET", `/alerts${o.all ? "?all=true" : ""}`);
      print(o.json, list, () =>
        list.length === 0
          ? "no alerts\n"
          : table(["SEVERITY", "KIND", "SUBJECT", "RAISED", "CLEARED", "MESSAGE"], list.map((a) => [a.severity, a.kind, a.subject, formatTime(a.raisedAt), formatTime(a.clearedAt), a.message])),
      );
    });

  clientCommand(program.command("events").description("the event log"))
    .option("--since <T>", "a duration (1h) or a time")
    .action(async (o: ClientOptions & { since?: string }) => {
      const list = await api<LifelineEvent[]>(resolveTarget(o), "GET", `/events${o.since ? `?since=${parseSince(o.since)}` : ""}`);
      print(o.json, list, () => (list.length === 0 ? "no events\n" : table(["TIME", "SEVERITY", "KIND", "MESSAGE"], list.map((e) => [formatTime(e.time), e.severity, e.kind, e.message]))));
    });

  const token = program.command("token").description("API tokens");
  clientCommand(token.command("create").description("make a token (shown once)"))
    .requiredOption("--role <viewer|operator|admin>", "what it may do")
    .option("--name <N>", "a name to recognise it by")
    .action(async (o: ClientOptions & { role: string; name?: string }) => {
      if (!["viewer", "operator", "admin"].includes(o.role)) throw new CliError(`--role "${o.role}" is not viewer, operator or admin`);
      const made = await api<TokenInfo & { token: string }>(resolveTarget(o), "POST", "/tokens", { role: o.role, ...(o.name ? { name: o.name } : {}) });
      print(o.json, made, () => `${made.token}\n(token ${made.id}, role ${made.role}: shown once, keep it safe)\n`);
    });
  clientCommand(token.command("list").description("list tokens")).action(async (o: ClientOptions) => {
    const list = await api<TokenInfo[]>(resolveTarget(o), "GET", "/tokens");
    print(o.json, list, () =>
      table(["ID", "ROLE", "NAME", "CREATED", "LAST USED", "REVOKED"], list.map((t) => [t.id, t.role, t.name, formatTime(t.createdAt), formatTime(t.lastUsedAt), formatTime(t.revokedAt)])),
    );
  });
  clientCommand(token.command("revoke <ID>").description("revoke a token")).action(async (id: string, o: ClientOptions) => {
    const t = await api<TokenInfo>(resolveTarget(o), "DELETE", `/tokens/${encodeURIComponent(id)}`);
    print(o.json, t, () => `token ${t.id} revoked\n`);
  });
}
