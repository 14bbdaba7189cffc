import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { integer, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timestamps } from '../../src/db/schema/columns.js';
import { users } from '../../src/db/schema/users.js';
import { dataPlan, dataResult, parseOnly, runImport, type ImportOptions, type ImportReport } from '../../src/import/run.js';
import { defineResource } from '../../src/resources/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { addGoTrueUser, createRealSupabaseSource, type RealSupabaseSource } from '../helpers/supabase-real-source.js';

// Part 8: a fourth owned table, declared only in this test (as docs/adding-a-table.md does),
// imported from a renamed Supabase table with a mapping entry: owner mapped, rows of users
// that do not come across skipped, the dry run predicting a refusal, reruns changing nothing.

const bookmarks = pgTable('bookmarks', {
  id: uuid().primaryKey().defaultRandom(),
  owner_id: uuid()
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  url: text().notNull(),
  label: text(),
  stars: integer().notNull().default(0),
  ...timestamps,
});

const bookmarksResource = defineResource({
  name: 'bookmarks',
  entity: 'bookmark',
  table: bookmarks,
  owner: 'owner_id',
  writable: ['url', 'label', 'stars'],
  filterable: ['label'],
  sortable: ['created_at'],
});

const CREATE_TARGET = `
  create table bookmarks (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null references users(id) on delete cascade,
    url text not null,
    label text,
    stars integer not null default 0 check (stars >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`;

let src: RealSupabaseSource;
let target: TestDatabase;
let dir: string;
let ann = '';
const ids: Record<string, string> = {};
const quiet = { start() {}, tick() {}, stop() {} };
const base = { bookmarks: { table: 'public.saved_links', columns: { user_id: 'owner_id', link: 'url' } } };
const fixed = { bookmarks: { ...base.bookmarks, transforms: { url: { when_null: 'about:blank' } } } };

function mapping(content: object): string {
  const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

function run(extra: Partial<ImportOptions>, lines: string[] = []): Promise<ImportReport> {
  return runImport({
    sourceUrl: src.url,
    targetUrl: target.url,
    apply: false,
    only: ['users', 'bookmarks'],
    resources: [bookmarksResource],
    batchSize: 2,
    out: (l) => lines.push(l),
    progress: quiet,
    ...extra,
  });
}

beforeAll(async () => {
  [src, target] = await Promise.all([createRealSupabaseSource(), createTestDatabase()]);
  dir = mkdtempSync(path.join(tmpdir(), 'offbase-import-any-table-'));
  await target.sql.unsafe(CREATE_TARGET);
  const s = src.sql;
  ann = await addGoTrueUser(s, { email: 'ann@example.com', password: 'ann-password-12' });
  const gone = await addGoTrueUser(s, { email: 'gone@example.com', password: 'gone-password-1', deleted: true });
  await s.unsafe(`create table public.saved_links (id uuid primary key default gen_random_uuid(), user_id uuid, link text, label text, stars integer, created_at timestamptz not null default now())`);
  await s.unsafe(`alter table public.saved_links owner to ${src.postgresRole}`);
  for (const [key, owner, link, stars] of [
    ['a', ann, 'https://a.example', 1],
    ['b', ann, 'https://b.example', 0],
    ['noLink', ann, null, 2],
    ['ofGone', gone, 'https://gone.example', 0],
    ['orphan', '00000000-0000-4000-8000-000000000001', 'https://orphan.example', 0],
  ] as const) {
    const [r] = await s<{ id: string }[]>`insert into public.saved_links (user_id, link, label, stars) values (${owner}, ${link}, ${key}, ${stars}) returning id::text`;
    ids[key] = r!.id;
  }
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([src?.drop(), target?.drop()]);
});

const rows = () => target.sql<{ id: string; owner_id: string; url: string; label: string; stars: number; updated_at: Date }[]>`
  select id::text, owner_id::text, url, label, stars, updated_at from bookmarks order by id`;

describe('import-supabase: any declared owned table', () => {
  it('a table is importable only when declared: --only and the mapping file name the declared ones', async () => {
    expect(() => parseOnly('bookmarks')).toThrow(/--only: unknown table bookmarks \(one of users, documents, analyses, audit_logs\)/);
    expect(parseOnly('bookmarks,users', [bookmarksResource])).toEqual(['users', 'bookmarks']);
    await expect(run({ resources: [], only: ['users'], mappingPath: mapping(base) })).rejects.toThrow(/mapping file: no table bookmarks is declared/);
  });

  it('the dry run plans the mapped owner, skips rows of users that do not come across and predicts the NULL refusal', async () => {
    const lines: string[] = [];
    await expect(run({ mappingPath: mapping(base), reportPath: path.join(dir, 'dry.json') }, lines)).rejects.toThrow(/^--apply would refuse: bookmarks: 1 row\(s\) offbase would refuse \(url NULL into NOT NULL 1\)/);
    const report = JSON.parse(readFileSync(path.join(dir, 'dry.json'), 'utf8')) as ImportReport;
    const p = dataPlan(report, 'bookmarks')!;
    expect(p.source_table).toBe('public.saved_links');
    expect(p.columns).toEqual(expect.arrayContaining([{ source: 'user_id', target: 'owner_id' }, { source: 'link', target: 'url' }]));
    expect(p.skipped).toEqual({ owner_deleted: 1, owner_missing: 1 });
    expect(p.will_refuse).toBe(1);
    expect(p.refusals).toEqual([{ column: 'url', problem: 'NULL into NOT NULL', count: 1, examples: [ids.noLink] }]);
    expect(p.will_import).toBe(2);
    const text = lines.join('\n');
    expect(text).toMatch(/\nbookmarks: 5 in public\.saved_links, 2 to import, skipped: (owner_deleted 1, owner_missing 1|owner_missing 1, owner_deleted 1), already in offbase 0\n/);
    expect(text).toContain(`    url: NULL into NOT NULL: 1 (e.g. ${ids.noLink})`);
    expect((await rows()).length).toBe(0);
  });

  it('--apply with a transform brings the rows under their mapped owner, and a rerun changes nothing', async () => {
    const m = mapping(fixed);
    const dry = await run({ mappingPath: m });
    expect(dry.refusals).toEqual([]);
    const r = await run({ apply: true, mappingPath: m });
    expect(dataResult(r, 'bookmarks')).toMatchObject({ inserted: 3, already_present: 0, rejected: 0 });
    expect(r.validation!.ok).toBe(true);
    expect(r.validation!.tables.bookmarks).toMatchObject({ source_count: 3, target_count: 3, missing_in_target: 0 });
    const after = await rows();
    expect(after.map((x) => [x.id, x.owner_id, x.url, x.label, x.stars])).toEqual(
      [
        [ids.a, ann, 'https://a.example', 'a', 1],
        [ids.b, ann, 'https://b.example', 'b', 0],
        [ids.noLink, ann, 'about:blank', 'noLink', 2],
      ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    );
    const [owner] = await target.sql<{ email: string }[]>`select email from users where id = ${ann}`;
    expect(owner!.email).toBe('ann@example.com');
    const again = await run({ apply: true, mappingPath: m });
    expect(dataResult(again, 'bookmarks')).toMatchObject({ inserted: 0, updated: 0, already_present: 3 });
    expect(await rows()).toEqual(after);
  });
});
