/**
 * Runs `lifeline journal …` with only the journal commands registered, so the
 * CLI test does not depend on the rest of the command line. Inert unless
 * given "--run" (`node --test` also loads it).
 */
import { Command } from "commander";
import { registerJournalCommands } from "../../src/cli/journal.js";

if (process.argv[2] === "--run") {
  const program = new Command("lifeline").exitOverride();
  registerJournalCommands(program);
  try {
    await program.parseAsync(process.argv.slice(3), { from: "user" });
  } catch (err) {
    process.stderr.write(`lifeline: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
