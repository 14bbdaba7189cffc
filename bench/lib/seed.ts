import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import argon2 from 'argon2';
import postgres from 'postgres';
import type { Config } from '../../src/config.js';
import { readJournal, runMigrations } from '../../src/db/migrate.js';
import { withDatabase } from './database.js';
import { TextGen, documentId, md5Uuid, userEmail, userId } from './text.js';

export const BENCH_PASSWORD = 'bench-correct-horse-battery-7';
// Bump when the generated data changes, so cached templates are rebuilt.
const SEED_VERSION = 2;
const ANALYSIS_KINDS = ['summary', 'risks', 'action_items', 'classification', 'custom'] as const;

export interface SeedShape {
  users: number;
  docsPerUser: number;
}

/** COPY text format: backslash, tab, newline and carriage return are escaped; null is \N. */
function copyField(value: string | number | null): string {
  if (value === null) return '\\N';
  return String(value).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
const copyRow = (fields: (string | number | null)[]) => fields.map(copyField).join('\t') + '\n';
const pgArray = (items: string[]) => `{${items.map((t) => `"${t}"`).join(',')}}`;

function* documentRows(shape: SeedShape, users: number[], analyses: string[]): Generator<string> {
  const day = 86_400_000;
  const base = Date.UTC(2026, 0, 1);
  for (const u of users) {
    const gen = new TextGen(u * 7919);
    for (let d = 0; d < shape.docsPerUser; d++) {
      const id = documentId(u, d);
      const content = gen.text(gen.int(1500, 4500));
      const n = gen.int(0, 2);
      const created = new Date(base - gen.int(0, 365) * day - gen.int(0, day)).toISOString();
      for (let a = 0; a < n; a++) {
        const kind = ANALYSIS_KINDS[(d + a) % ANALYSIS_KINDS.length]!;
        const result = JSON.stringify({ summary: gen.sentence(), points: [gen.sentence(), gen.sentence()], confidence: gen.int(50, 99) / 100 });
        analyses.push(copyRow([md5Uuid(`bench-analysis-${u}-${d}-${a}`), id, userId(u), kind, 'gpt-4o-mini', 'succeeded', result, null, gen.int(200, 4000), `0.00${gen.int(1000, 9999)}`, gen.int(300, 9000), created, created]));
      }
      yield copyRow([
        id, userId(u), gen.title(), gen.sentence(), (['uploaded', 'processing', 'ready', 'ready', 'ready', 'failed', 'archived'] as const)[d % 7]!,
        'bench-docs', `users/${u}/docs/${d}.pdf`, 'application/pdf', content.length * 3, createHash('sha256').update(content).digest('hex'),
        content, pgArray(gen.tags()), JSON.stringify({ pages: gen.int(1, 80), source: 'bench' }), n, created, created,
      ]);
    }
  }
}

const DOC_COLUMNS = 'id, owner_id, title, description, status, s3_bucket, s3_key, content_type, size_bytes, sha256, content_text, tags, metadata, analysis_count, created_at, updated_at';
const ANALYSIS_COLUMNS = 'id, document_id, owner_id, kind, model, status, result, error, tokens_used, cost_usd, duration_ms, created_at, updated_at';

async function copyInto(sql: postgres.Sql | postgres.TransactionSql, table: string, columns: string, rows: Iterable<string>): Promise<void> {
  const writable = await sql.unsafe(`copy ${table} (${columns}) from stdin`).writable();
  await pipeline(Readable.from(rows), writable);
}

/** The seeded template's name: changes with the shape, the seed version and the migrations. */
export function templateName(shape: SeedShape): string {
  const migrations = createHash('sha1').update(readJournal().map((e) => e.tag).join()).digest('hex').slice(0, 8);
  return `bench_seed_v${SEED_VERSION}_${shape.users}x${shape.docsPerUser}_${migrations}`;
}

/**
 * Builds the seeded template database unless it already exists. Built under a temporary
 * name and renamed at the end, so an interrupted seed is never mistaken for a complete one.
 */
export async function ensureTemplate(adminUrl: string, config: Config, shape: SeedShape, log: (m: string) => void): Promise<string> {
  const name = templateName(shape);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [found] = await admin`select 1 from pg_database where datname = ${name}`;
    if (found) {
      log(`reusing seeded template ${name}`);
      return name;
    }
    const building = `${name}_tmp`;
    await admin.unsafe(`drop database if exists ${building} with (force)`);
    await admin.unsafe(`create database ${building}`);
    const url = withDatabase(adminUrl, building);
    await runMigrations(config.db, url);
    const started = Date.now();
    await seed(url, config, shape, log);
    log(`seeded ${shape.users} users x ${shape.docsPerUser} documents in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await admin.unsafe(`alter database ${building} rename to ${name}`);
    return name;
  } finally {
    await admin.end();
  }
}

async function seed(url: string, config: Config, shape: SeedShape, log: (m: string) => void): Promise<void> {
  // One hash with the production parameters, shared by every user: logins cost what they
  // cost in production, the seed does not pay for 200 hashes.
  const hash = await argon2.hash(BENCH_PASSWORD, { type: argon2.argon2id, ...config.auth.argon2 });
  const lanes = 2;
  const sql = postgres(url, { max: lanes, onnotice: () => {}, connection: { statement_timeout: 0 } });
  try {
    await sql`
      insert into users (id, email, password_hash, full_name, email_verified_at)
      select md5('bench-user-' || n)::uuid, 'bench-user-' || n || '@example.com', ${hash}, 'Bench User ' || n, now()
      from generate_series(1, ${shape.users}) n`;
    const check = await sql<{ id: string; email: string }[]>`select id, email from users where email = ${userEmail(1)}`;
    if (check[0]?.id !== userId(1)) throw new Error('user ids are not the md5 ids the bench expects');
    log(`seeding ${shape.users * shape.docsPerUser} documents on ${lanes} connections...`);
    // Secondary indexes are built once after the load, which is several times faster than
    // maintaining them row by row (the GIN index over the tsvector most of all).
    const indexes = await sql<{ name: string; def: string }[]>`
      select indexname as name, indexdef as def from pg_indexes i
      where schemaname = 'public' and tablename in ('documents', 'analyses')
        and not exists (select 1 from pg_constraint c where c.conname = i.indexname)
        and indexdef not like 'CREATE UNIQUE%'`;
    for (const { name } of indexes) await sql.unsafe(`drop index "${name}"`);
    // Users are split over lanes; each lane COPYs its documents, then their analyses.
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const mine = Array.from({ length: shape.users }, (_, i) => i + 1).filter((u) => u % lanes === lane);
        const analyses: string[] = [];
        await copyInto(sql, 'documents', DOC_COLUMNS, documentRows(shape, mine, analyses));
        // analysis_count was written with the documents; skip the per-row counting trigger.
        await sql.begin(async (tx) => {
          await tx`set local session_replication_role = replica`;
          await copyInto(tx, 'analyses', ANALYSIS_COLUMNS, analyses);
        });
      }),
    );
    await Promise.all(indexes.map(({ def }) => sql.unsafe(def)));
    await sql`vacuum (analyze) documents`;
    await sql`vacuum (analyze) analyses`;
    await sql`vacuum (analyze) users`;
  } finally {
    await sql.end();
  }
}
