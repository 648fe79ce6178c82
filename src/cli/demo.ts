/**
 * `lifeline demo` (what `npm start` runs): two sites on this machine, A
 * protecting group `erp` to B, with a workload writing to its disks; the
 * console, the API and the NBD URIs printed, with commands to try. Ctrl-C
 * stops both sites cleanly; running it again resumes where it was.
 */
import path from "node:path";
import type { Command } from "commander";
import { startDemo } from "../api/index.js";
import { CliError } from "./client/connection.js";
import { makeLogger } from "./log.js";
import { stopOnSignal } from "./nbd.js";

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run the two-site demo on this machine (what `npm start` runs)")
    .option("--dir <DIR>", "where the demo keeps its sites (DIR/A and DIR/B)", "demo-data")
    .option("--base-port <N>", "ports for a new demo: A's API at N (peer N+1, NBD N+2, replication N+3), B's at N+10… (default: A 8080/8081/10809/9440, B 8090/8091/10819/9450)")
    .action(async (opts: { dir: string; basePort?: string }) => {
      // The demo's own log lines would bury its banner: warnings and errors only, unless asked.
      const log = makeLogger(process.env.LIFELINE_LOG ?? "warn");
      const dir = path.resolve(opts.dir);
      const base = opts.basePort === undefined ? undefined : Number(opts.basePort);
      if (base !== undefined && (!Number.isInteger(base) || base < 1024 || base > 65_500)) throw new CliError(`--base-port "${opts.basePort}" is not a port from 1024 to 65500`);
      const at = (n: number) => ({ api: n, peer: n + 1, nbd: n + 2, replication: n + 3 });
      const demo = await startDemo({ dir, logger: log, ...(base !== undefined ? { ports: { A: at(base), B: at(base + 10) } } : {}) });
      const dirA = path.relative(process.cwd(), path.join(dir, "A")) || ".";
      const dirB = path.relative(process.cwd(), path.join(dir, "B")) || ".";
      process.stdout.write(
        demo.banner() +
          [
            `Console: ${demo.a.run.apiUrl}/ (site A) and ${demo.b.run.apiUrl}/ (site B); sign in with the admin token above.`,
            "",
            "Recovery, from another terminal (npx lifeline … in this folder):",
            `  lifeline test start erp --point "10s ago" --dir ${dirB}     # a failover test; production untouched`,
            `  lifeline test stop erp --result pass --dir ${dirB}          # and its report: lifeline reports --dir ${dirB}`,
            `  lifeline move erp --dir ${dirB}                             # planned move to B, nothing lost; protected back to A`,
            `  lifeline move erp --dir ${dirA}                             # and home again`,
            "",
          ].join("\n"),
      );
      await stopOnSignal(() => demo.stop());
    });
}
