/** What the site's operations share: who this site is, its stores, its appliance, where it listens. */
import type { Logger } from "../nbd/index.js";
import type { GroupStateName, Manager } from "../manager/index.js";
import type { Appliance } from "./appliance.js";
import type { SiteConfig } from "./config.js";
import type { SiteLayout } from "./files.js";
import type { SiteIdentity } from "./identity.js";

export interface SiteEndpoints {
  apiUrl: string;
  peerUrl: string;
  replicationHost: string;
  replicationPort: number;
}

export interface SiteContext {
  name: string;
  config: SiteConfig;
  layout: SiteLayout;
  identity: SiteIdentity;
  manager: Manager;
  appliance: Appliance;
  log: Logger;
  /** Filled in once the daemon listens (ports may be 0 in the config). */
  endpoints: SiteEndpoints;
  /** What the recovery site last said about the journal of each group protected here. */
  /**
   * Groups whose protection just changed direction (a move, reverse
   * protection), with the time until which their link being down is expected
   * (the new direction connecting) and raises no link-down alert.
   */
  linkExpectedUntil: Map<string, number>;
  remoteJournals: Map<string, { historyCoveredMs: number | null; journalBytes: number | null; state: GroupStateName; atMs: number }>;
}
