/** The `lifeline` command. */
import { Command } from "commander";
import { registerNbdCommands } from "./nbd.js";
import { registerDemoCommand } from "./demo.js";
import { registerJournalCommands } from "./journal.js";
import { registerSiteCommands } from "./site.js";
import { tuneProcess } from "./process-tuning.js";

tuneProcess();

const program = new Command("lifeline")
  .description("Lifeline: continuous data protection and disaster recovery for virtual machines")
  .showHelpAfterError();

registerNbdCommands(program);
registerDemoCommand(program);
registerJournalCommands(program);
registerSiteCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`lifeline: ${err instanceof Error ? err.message : String(err)}\n`);
  const hint = (err as { hint?: string }).hint;
  if (hint) process.stderr.write(`hint: ${hint}\n`);
  process.exitCode = 1;
}
