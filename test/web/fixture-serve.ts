/**
 * Shows the console with live fixture data, for people: prints a URL and an
 * admin token, serves until Ctrl-C. Needs a built console (npm run build).
 *   node dist/test/web/fixture-serve.js [PORT]
 * `node --test dist/test/` runs every file under test/, this one too: then it does nothing.
 */
import fs from "node:fs";
import { openFixture } from "./fixture.js";
import { ensureBuilt, tempRoot } from "./harness.js";

if (process.env.NODE_TEST_CONTEXT === undefined) {
  ensureBuilt();
  const root = tempRoot();
  const fx = await openFixture(root, { port: Number(process.argv[2] ?? 0) });
  process.stdout.write(`Lifeline console (fixture data) at ${fx.url}\nadmin token: ${fx.a.admin}\nCtrl-C stops it.\n`);
  const stop = async () => {
    await fx.close();
    fs.rmSync(root, { recursive: true, force: true });
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}
