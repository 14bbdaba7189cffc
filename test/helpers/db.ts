import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { inject } from 'vitest';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.js';
import { databaseUrl } from '../setup/global.js';

export interface TestDatabase {
  name: string;
  url: string;
  /** Superuser connection to this database, for arranging and inspecting state directly. */
  sql: postgres.Sql;
  /**
   * The URL the app connects with: the run's app role on a migrated clone (DML only, the
   * audit log append-only), the owner elsewhere. `url` is the superuser's.
   */
  appUrl: string;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template: isolated, fully migrated, fast. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDb');
  const name = `${template.replace('offbase_tpl_', 'offbase_t_')}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    // Clones of one template can collide ("source database is being accessed"): retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.unsafe(`create database ${name} template ${template}`);
        break;
      } catch (err) {
        if (attempt >= 20 || (err as { code?: string }).code !== '55006') throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  const appUrl = new URL(databaseUrl(adminUrl, name));
  appUrl.username = inject('appRole');
  appUrl.password = inject('appPassword');
  return openDatabase(adminUrl, name, appUrl.toString());
}

/** An empty database with no migrations, for boot tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminUrl');
  const name = `${inject('templateDb').replace('offbase_tpl_', 'offbase_t_')}_e${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return openDatabase(adminUrl, name);
}

function openDatabase(adminUrl: string, name: string, appUrl?: string): TestDatabase {
  const url = databaseUrl(adminUrl, name);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  return {
    name,
    url,
    appUrl: appUrl ?? url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/**
 * Applies the migrations journaled before `tag` (for a migration's backfill test: data is
 * written in the schema it started from, then `migrate` to the end runs the rest). From a
 * copy of drizzle/ with a shorter journal, removed afterwards.
 */
export async function migrateBefore(sql: postgres.Sql, tag: string): Promise<void> {
  const before = mkdtempSync(path.join(tmpdir(), 'offbase-migrations-'));
  try {
    cpSync(MIGRATIONS_FOLDER, before, { recursive: true });
    const journalPath = path.join(before, 'meta/_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const cut = journal.entries.findIndex((e) => e.tag === tag);
    if (cut <= 0) throw new Error(`no migration ${tag} after the first in the journal`);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
    await migrate(drizzle(sql), { migrationsFolder: before });
  } finally {
    rmSync(before, { recursive: true, force: true });
  }
}
