// npm run db:studio [-- --port N --host H]: Drizzle Studio on the configured database
// (DATABASE_URL or DB_HOST/DB_NAME/DB_USER/DB_PASSWORD), or, outside production with none
// configured, on the embedded development database, which it starts (and migrates, as
// `npm start` would) first and stops when studio exits. Studio listens on 127.0.0.1 unless
// --host says otherwise (drizzle-kit's own default, 0.0.0.0, offers the database to the network).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../src/db/embedded.js';
import { runMigrations } from '../src/db/migrate.js';

const root = path.resolve(import.meta.dirname, '..');
const say = (message: string) => process.stderr.write(`db:studio: ${message}\n`);

async function main(): Promise<number> {
  const config = loadConfig(process.env, { requireJwtSecret: false });
  let embedded: EmbeddedDatabase | undefined;
  let url = config.db.url;
  if (!url) {
    // loadConfig refuses production without a database, so this is development or test.
    say('no database configured: starting the embedded development PostgreSQL');
    embedded = await startEmbeddedDatabase(config.db, say);
    url = embedded.url;
    // The schema `npm start` would apply, so a fresh clone browses real (empty) tables.
    try {
      await runMigrations(config.db, url, say);
    } catch (err) {
      await embedded.stop();
      throw err;
    }
  }
  const args = process.argv.slice(2);
  if (!args.some((a) => a === '--host' || a.startsWith('--host='))) args.push('--host', '127.0.0.1');
  const studio = spawn(path.join(root, 'node_modules/.bin/drizzle-kit'), ['studio', ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: url },
  });
  // Ctrl-C reaches studio too (same process group); a SIGTERM sent to this process alone is
  // passed on. Either way the embedded database is stopped only once studio has exited.
  const forward = (signal: NodeJS.Signals) => studio.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const code = await new Promise<number>((resolve) => {
    studio.on('error', (err) => {
      say(`could not run drizzle-kit (${err.message}); run npm ci`);
      resolve(1);
    });
    studio.on('exit', (status, signal) => resolve(status ?? (signal ? 0 : 1)));
  });
  if (embedded) {
    say('stopping the embedded PostgreSQL');
    await embedded.stop();
  }
  return code;
}

try {
  process.exitCode = await main();
} catch (err) {
  say(err instanceof ConfigError ? `configuration error: ${err.message}` : (err as Error).message);
  process.exitCode = 1;
}
