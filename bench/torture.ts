/**
 * `npm run torture -- [--minutes N] [--seed S] [--keep]`: the torture suite
 * (test/torture/torture.ts) for as long as asked, a summary table, and
 * bench/results/torture.json. A failure prints the seed that reproduces it
 * and exits 1; --keep leaves a failed run's sites on disk.
 */
import { parseArgs } from "node:util";
import { runTorture, type TortureSummary } from "../test/torture/torture.js";
import { printTable, writeResults } from "./common.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    seed: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(seed)) {
  console.error("usage: npm run torture -- [--minutes N] [--seed S] [--keep]");
  process.exit(2);
}

console.log(`torture: ${minutes} min, seed ${seed}`);
const started = Date.now();
try {
  const s = await runTorture({ minutes, seed, keepOnFailure: values.keep, log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`) });
  report(s);
} catch (err) {
  console.error(`\n${(err as Error).message}`);
  process.exit(1);
}

function report(s: TortureSummary): void {
  const MiB = 1024 * 1024;
  const sorted = [...s.convergenceMs].sort((a, b) => a - b);
  const p = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000 : 0);
  console.log();
  printTable(
    ["measure", "value"],
    [
      ["seed", String(s.seed)],
      ["duration", `${(s.durationMs / 60_000).toFixed(1)} min`],
      ["rounds (faults)", String(s.rounds)],
      ...Object.entries(s.faults).map(([k, n]): [string, string] => [`  ${k}`, String(n)]),
      ["writes acknowledged (recorded writer)", String(s.writesAcked)],
      ["MiB acknowledged (recorded writer)", (s.bytesAcked / MiB).toFixed(0)],
      ["writes in the final point, verified", String(s.finalPoint?.writes ?? 0)],
      ["points restored and judged", String(s.pointsChecked)],
      ["points history took before their restore", String(s.pointsExpired)],
      ["disk images judged", String(s.imagesJudged)],
      ["production checks after crashes", String(s.productionChecks)],
      ["storage-full alerts (journal-full faults that bit)", String(s.storageFullAlerts)],
      ["failover tests stopped by the journal limit", String(s.testsStoppedByLimit)],
      ["fio runs verified / excused (killed)", `${s.fio.verified} / ${s.fio.excused}`],
      ["largest RPO seen", `${(s.largestRpoMs / 1000).toFixed(1)} s`],
      ["convergence median / p90 / longest", `${p(0.5).toFixed(1)} / ${p(0.9).toFixed(1)} / ${(s.longestConvergenceMs / 1000).toFixed(1)} s`],
      ["bitmap syncs", `${s.bitmapSyncs.length}${s.bitmapSyncs.length ? ` (${s.bitmapSyncs.slice(0, 8).join(", ")}${s.bitmapSyncs.length > 8 ? ", …" : ""})` : ""}`],
      ["peak RSS protected / recovery", `${Math.round(s.peakRssBytes.protected / MiB)} / ${Math.round(s.peakRssBytes.recovery / MiB)} MiB`],
    ],
  );
  console.log(`\nwrote ${writeResults("torture", { ...s, date: new Date().toISOString() })}`);
}
