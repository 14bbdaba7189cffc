import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedDatabase } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { registerImportSupabase } from './import/command.js';

// `npm run cli -- <command>`: operational commands for one-off ECS tasks and operators.
// Each command prints one clear line on failure and exits non-zero; no stack traces.

export class CliError extends Error {}

/** The database URL for a CLI command; the embedded one in development when none is set. */
export async function cliDatabaseUrl(config = loadConfig(), log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)) {
  if (config.db.url) return { url: config.db.url, stop: async () => {} };
  const embedded = await startEmbeddedDatabase(config.db, log);
  return { url: embedded.url, stop: embedded.stop };
}

export const program = new Command('offbase')
  .description('offbase operational commands')
  .showHelpAfterError()
  .exitOverride();

program
  .command('migrate')
  .description('apply pending database migrations (under an advisory lock) and exit')
  .action(async () => {
    const config = loadConfig();
    const { url, stop } = await cliDatabaseUrl(config);
    try {
      const result = await runMigrations(config.db, config.db.migrationUrl ?? url, (m) => console.log(m));
      console.log(JSON.stringify({ applied: result.applied, latest: result.latest, ran: result.ran }));
    } finally {
      await stop();
    }
  });

registerImportSupabase(program, cliDatabaseUrl);

async function run(argv: string[]) {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const message = err instanceof ConfigError ? `configuration error: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`offbase: ${message}\n`);
    process.exit(1);
  }
}

await run(process.argv);
