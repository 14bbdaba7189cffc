import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from './config.js';
import { startEmbeddedDatabase } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { bootstrapRoles } from './db/roles.js';
import postgres from 'postgres';
import { createDatabase, poolOptions } from './db/client.js';
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
    // Migrations never sign or verify a token: the migrate task gets no JWT_SECRET.
    const config = loadConfig(process.env, { requireJwtSecret: false });
    const { url, stop } = await cliDatabaseUrl(config);
    try {
      const result = await runMigrations(config.db, config.db.migrationUrl ?? url, (m) => console.log(m));
      console.log(JSON.stringify({ applied: result.applied, latest: result.latest, ran: result.ran }));
    } finally {
      await stop();
    }
  });

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const roleName = (value: string) => {
  if (!ROLE_NAME.test(value)) throw new CliError(`invalid role name "${value}" (lower case letters, digits, _)`);
  return value;
};

program
  .command('db:bootstrap-roles')
  .description('as the database administrator (the RDS master user): create or update the app and migrate roles; passwords from DB_APP_PASSWORD and DB_MIGRATE_PASSWORD')
  .requiredOption('--app-role <name>', 'the role the API connects as', roleName)
  .requiredOption('--migrate-role <name>', 'the role migrations connect as; owns the schema', roleName)
  .option('--iam', 'RDS IAM authentication: grant rds_iam, no passwords')
  .action(async (opts: { appRole: string; migrateRole: string; iam?: boolean }) => {
    const config = loadConfig(process.env, { requireJwtSecret: false });
    const { url, stop } = await cliDatabaseUrl(config);
    const sql = postgres(url, await poolOptions(config.db, url, { max: 1, prepare: false, connection: { application_name: 'offbase-bootstrap-roles' } }));
    try {
      const result = await bootstrapRoles(sql, {
        appRole: opts.appRole,
        migrateRole: opts.migrateRole,
        iam: opts.iam === true,
        appPassword: opts.iam ? undefined : process.env.DB_APP_PASSWORD,
        migratePassword: opts.iam ? undefined : process.env.DB_MIGRATE_PASSWORD,
      });
      console.log(JSON.stringify({ appRole: opts.appRole, migrateRole: opts.migrateRole, iam: opts.iam === true, ...result }));
    } finally {
      await sql.end({ timeout: 5 });
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
