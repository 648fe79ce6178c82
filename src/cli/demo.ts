/**
 * `lifeline demo` (what `npm start` runs). Until the two-site demo exists, it
 * serves a demo disk over NBD and says how to attach it.
 */
import type { Command } from "commander";
import fs from "node:fs";
import path from "node:path";
import { FileDevice } from "../blockdev/index.js";
import { NbdServer, StaticExports } from "../nbd/index.js";
import { makeLogger } from "./log.js";
import { stopOnSignal } from "./nbd.js";

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run the demo on this machine (what `npm start` runs)")
    .option("--dir <DIR>", "where the demo keeps its data", "demo-data")
    .option("--port <PORT>", "NBD port", "10809")
    .action(async (opts: { dir: string; port: string }) => {
      const log = makeLogger();
      fs.mkdirSync(opts.dir, { recursive: true });
      const file = path.resolve(opts.dir, "demo-disk.raw");
      const device = await FileDevice.open(file, fs.existsSync(file) ? {} : { sizeBytes: 1024 ** 3 });
      const exports = new StaticExports().add({ name: "demo", description: "Lifeline demo disk", device });
      const server = new NbdServer({ exports, logger: log });
      const { port } = await server.listen(Number(opts.port));
      const uri = `nbd://127.0.0.1:${port}/demo`;
      process.stdout.write(
        [
          "",
          `Lifeline is serving a 1 GiB demo disk (${file}) at ${uri}`,
          "",
          "Try, from another terminal:",
          `  nbdinfo ${uri}`,
          `  qemu-io -f raw -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' ${uri}`,
          `  fio --name=demo --ioengine=nbd --uri=${uri} --rw=randwrite --bs=4k --iodepth=32 --size=256M --runtime=10 --time_based`,
          `  qemu-system-x86_64 -m 1G -drive file=${uri},format=raw,if=virtio ...`,
          "",
          "Ctrl-C stops it.",
          "",
        ].join("\n"),
      );
      await stopOnSignal(async () => {
        await server.close();
        await device.close();
      });
    });
}
