/**
 * The site's configuration, a YAML file an operator may read and edit:
 * its name and where it listens. Checked when read, so a typo is reported
 * with the field's name instead of failing later somewhere else.
 */
import fs from "node:fs/promises";
import { parse, stringify } from "yaml";
import { z } from "zod";
import { writeFileAtomic } from "./files.js";

export const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const port = z.number().int().min(0).max(65535);

export const SiteConfigSchema = z.object({
  name: z.string().regex(SITE_NAME, "letters, digits, '.', '_' or '-' (at most 63)"),
  host: z.string().min(1),
  apiPort: port,
  nbdPort: port,
  replicationPort: port,
  /** The site-to-site API (HTTPS, mutual TLS); by default the API port + 1 (0 when the API port is 0). */
  peerPort: port,
  /**
   * Where peers dial this site's replication port, when not at host:replicationPort
   * (NAT, a port forward, a WAN optimiser, a test's fault proxy).
   */
  replicationAdvertise: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:]+):\d{1,5}$/, "HOST:PORT")
    .optional(),
  /** Memory for each protected group's outgoing stream; past it, a bitmap sync (default 256 MiB). */
  streamBufferBytes: z.number().int().min(1024 * 1024).optional(),
});
export type SiteConfig = z.infer<typeof SiteConfigSchema>;

export async function readConfig(file: string): Promise<SiteConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    throw Object.assign(new Error(`no site configuration at ${file}`, { cause: err }), { hint: "make the site first with: lifeline site init --dir DIR --name NAME" });
  }
  const parsed = SiteConfigSchema.safeParse(parse(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  return parsed.data;
}

export async function writeConfig(file: string, config: SiteConfig): Promise<void> {
  await writeFileAtomic(file, `# Lifeline site configuration (lifeline site init)\n${stringify(config)}`);
}
