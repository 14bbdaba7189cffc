import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { startEmbeddedServer } from '../setup/server.js';
import { testEnv } from './app.js';
import type { TestDatabase } from './db.js';

export type OwnServer = Awaited<ReturnType<typeof startEmbeddedServer>>;

/**
 * A PostgreSQL of the test file's own with one migrated database, for tests that stop and
 * start the server; the shared test server is never touched.
 */
export async function ownPostgres(name = 'offbase_fault'): Promise<{ server: OwnServer; testDb: TestDatabase }> {
  const server = await startEmbeddedServer();
  const admin = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = server.adminUrl.replace(/\/postgres$/, `/${name}`);
  const config = loadConfig(testEnv(url));
  await runMigrations(config.db, url);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  // The whole server goes away with the test; drop() only closes the inspection pool.
  return { server, testDb: { name, url, sql, drop: async () => void (await sql.end({ timeout: 1 })) } };
}
