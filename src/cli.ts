import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedDatabase } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { createDatabase } from './db/client.js';
import { createOrPromoteAdmin } from './features/admin/create-admin.js';
import { registerImportSupabase } from './import/command.js';
import { readSecret } from './lib/read-secret.js';

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

program
  .command('create-admin')
  .description('create an admin, or promote (and re-enable) an existing user; the password comes from a prompt or stdin, never argv')
  .requiredOption('--email <email>', 'the admin account email')
  .action(async (opts: { email: string }) => {
    const config = loadConfig();
    const { url, stop } = await cliDatabaseUrl(config);
    const database = await createDatabase({ ...config.db, poolMax: 2 }, url);
    try {
      const result = await createOrPromoteAdmin(database.db, config, opts.email, async () => {
        const password = await readSecret('Password for the new admin: ');
        if (!password) throw new CliError('no password given (type it at the prompt or pipe it on stdin)');
        return password;
      });
      console.log(JSON.stringify({ id: result.id, email: result.email, role: 'admin', created: result.created, changed: result.changed }));
    } finally {
      await database.close();
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
