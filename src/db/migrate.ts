import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { DatabaseConfig } from '../config.js';
import { poolOptions } from './client.js';
import { grantAppRole } from './roles.js';

// drizzle/ sits at the package root: the nearest ancestor of this file that has it (src/db/ in
// the source tree; dist/ or dist/chunks/ in the bundle, scripts/build.ts, wherever esbuild puts it).
function migrationsFolder(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'drizzle');
    if (existsSync(path.join(candidate, 'meta/_journal.json'))) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(from, '../../drizzle');
  }
}
export const MIGRATIONS_FOLDER = migrationsFolder(path.dirname(fileURLToPath(import.meta.url)));

// Any constant works as long as every offbase process agrees on it.
const MIGRATION_LOCK_KEY = 0x0ffba5e;

interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}

export function readJournal(folder = MIGRATIONS_FOLDER): JournalEntry[] {
  const journal = JSON.parse(readFileSync(path.join(folder, 'meta/_journal.json'), 'utf8')) as { entries: JournalEntry[] };
  return journal.entries;
}

export interface MigrationResult {
  applied: number;
  latest: string | null;
  /** Migrations this call applied (0 when another process got there first). */
  ran: number;
}

/**
 * Applies pending migrations on one dedicated connection that holds a session-level
 * advisory lock, so N tasks booting at once apply each migration exactly once and none of
 * them serves before the schema is complete. Use a direct endpoint, not a transaction
 * pooler: advisory locks need the same server session for the whole run.
 */
export async function runMigrations(
  config: DatabaseConfig,
  url: string,
  log: (msg: string) => void = () => {},
): Promise<MigrationResult> {
  const sql = postgres(url, await poolOptions(config, url, { max: 1, prepare: false, connection: { application_name: 'offbase-migrate', statement_timeout: 0 } }));
  try {
    await untilReachable(config.bootWaitS, log, () => sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
    try {
      const before = await countApplied(sql);
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
      // Every run, so a table a migration adds is usable by the app role at once.
      const appRole = config.appRole;
      if (appRole) await sql.begin((tx) => grantAppRole(tx, appRole));
      const status = await migrationStatus(sql);
      const ran = status.applied - before;
      log(ran > 0 ? `applied ${ran} migration(s); schema at ${status.latest}` : `schema up to date at ${status.latest}`);
      return { ...status, ran };
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

// Errors that mean "not there yet" (refused, unresolvable, timed out, starting up or shutting
// down during a failover), as opposed to a wrong password or a broken migration.
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', '57P01', '57P02', '57P03']);
export const isUnreachable = (err: unknown): boolean => {
  const code = (err as { code?: string; errno?: string }).code ?? (err as { errno?: string }).errno;
  return typeof code === 'string' && (UNREACHABLE.has(code) || code.startsWith('08'));
};

/**
 * Runs `attempt` until the database answers, for at most `waitS` seconds: a task that boots
 * during a Multi-AZ failover waits for the new primary instead of exiting (and being
 * replaced by another that fails the same way). Other errors are thrown at once.
 */
async function untilReachable<T>(waitS: number, log: (msg: string) => void, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitS * 1000;
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isUnreachable(err)) throw err;
      if (left <= 0) throw new Error(`database unreachable after ${waitS} s (DB_BOOT_WAIT_S): ${(err as { code?: string }).code}`, { cause: err });
      const delay = Math.min(left, 500 * 2 ** Math.min(tries, 3));
      log(`waiting for the database (${(err as { code?: string }).code}); ${Math.ceil(left / 1000)} s left`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function countApplied(sql: postgres.Sql): Promise<number> {
  return (await migrationStatus(sql)).applied;
}

let journalCache: JournalEntry[] | null = null;

/** How many migrations the database has, and the tag of the newest, read from the journal. */
export async function migrationStatus(sql: postgres.Sql): Promise<{ applied: number; latest: string | null }> {
  // Two statements: a reference to a missing table fails at parse time, even in a dead branch.
  const [exists] = await sql<{ ok: boolean }[]>`select to_regclass('drizzle.__drizzle_migrations') is not null as ok`;
  if (!exists?.ok) return { applied: 0, latest: null };
  const [row] = await sql<{ n: number; last: string | null }[]>`
    select count(*)::int as n, max(created_at)::text as last from drizzle.__drizzle_migrations`;
  const applied = row?.n ?? 0;
  if (!row?.last) return { applied, latest: null };
  journalCache ??= readJournal();
  const latest = journalCache.find((e) => String(e.when) === row.last)?.tag ?? null;
  return { applied, latest };
}
