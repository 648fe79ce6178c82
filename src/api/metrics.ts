/**
 * Prometheus metrics at /metrics, read from the group status at scrape time
 * (nothing to keep in step). One registry per app, so tests and two sites in
 * one process do not share counters.
 */
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { groupStatus, type Site } from "../site/index.js";

export function makeRegistry(site: Site): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ site: site.name });
  collectDefaultMetrics({ register: registry, prefix: "lifeline_" });
  const ctx = site.ctx;
  const groupGauge = (name: string, help: string, value: (s: ReturnType<typeof groupStatus>) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ["group", "role"],
      registers: [registry],
      collect() {
        this.reset();
        for (const g of ctx.manager.groups.list()) {
          const s = groupStatus(ctx, g);
          const v = value(s);
          if (v !== null) this.set({ group: s.name, role: s.role }, v);
        }
      },
    });
  groupGauge("lifeline_group_rpo_seconds", "now minus the newest point held durably at the recovery site", (s) => (s.rpoMs === null ? null : s.rpoMs / 1000));
  groupGauge("lifeline_group_rpo_target_seconds", "the group's RPO target", (s) => s.rpoTargetMs / 1000);
  groupGauge("lifeline_group_replicated_bytes", "bytes replicated since the daemon started", (s) => s.replicatedBytes);
  groupGauge("lifeline_group_replicated_writes", "writes replicated since the daemon started", (s) => s.replicatedWrites);
  groupGauge("lifeline_group_compression_ratio", "bytes before compression / bytes sent", (s) => s.compressionRatio);
  groupGauge("lifeline_group_queue_bytes", "bytes queued to send", (s) => s.queueBytes);
  groupGauge("lifeline_group_throughput_bytes_per_second", "recent replication throughput", (s) => s.throughputBytesPerSec);
  groupGauge("lifeline_group_journal_bytes", "journal size at the recovery site", (s) => s.journalBytes);
  groupGauge("lifeline_group_history_seconds", "history the journal covers", (s) => (s.historyCoveredMs === null ? null : s.historyCoveredMs / 1000));
  groupGauge("lifeline_group_link_up", "1 when the replication link is up", (s) => (s.link === "up" ? 1 : 0));
  new Gauge({
    name: "lifeline_group_state",
    help: "1 for the state each group is in",
    labelNames: ["group", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const g of ctx.manager.groups.list()) this.set({ group: g.name, state: groupStatus(ctx, g).state }, 1);
    },
  });
  new Gauge({
    name: "lifeline_alerts_active",
    help: "alerts active now",
    registers: [registry],
    collect() {
      this.set(ctx.manager.events.alerts().length);
    },
  });
  return registry;
}
