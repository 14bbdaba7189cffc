import { createHash } from 'node:crypto';
import { bigint, jsonb, numeric, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { timestamps, tstz } from '../../../src/db/schema/columns.js';
import { users } from '../../../src/db/schema/users.js';
import { defineResource } from '../../../src/resources/index.js';
import { buildTestApp, type TestApp } from '../../helpers/app.js';
import { client, newDoc, type Client } from '../../helpers/data.js';
import { createTestDatabase } from '../../helpers/db.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

// A create's audit row is built by PostgreSQL in the INSERT itself (features/audit/in-statement.ts).
// It must be the row the JavaScript path wrote before: every field of the audit view as
// { before: null, after } with the stored value as drizzle maps it, secret-looking keys dropped.

// A test-only table with the column types whose JSON form needs care.
const gadgets = pgTable('gadgets', {
  id: uuid().primaryKey().defaultRandom(),
  owner_id: uuid()
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  name: text().notNull(),
  price: numeric({ precision: 10, scale: 2 }),
  weight: bigint({ mode: 'number' }),
  due_at: tstz(),
  labels: text().array(),
  settings: jsonb(),
  api_secret: text(),
  ...timestamps,
});
const gadgetsResource = defineResource({
  name: 'gadgets',
  entity: 'gadget',
  table: gadgets,
  owner: 'owner_id',
  writable: ['name', 'price', 'weight', 'due_at', 'labels', 'settings', 'api_secret'],
  filterable: ['name'],
  sortable: ['created_at'],
});

const ANON_KEY = 'test-anon-key-0123456789abcdef';
let t: TestApp;
let alice: TestUser;
let api: Client;

beforeAll(async () => {
  const testDb = await createTestDatabase();
  // A default holding a secret-looking key: only PostgreSQL sees it, and must not let it into the trail.
  await testDb.sql.unsafe(`create table gadgets (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null references users(id) on delete cascade,
    name text not null, price numeric(10, 2), weight bigint, due_at timestamptz, labels text[],
    settings jsonb default '{"mode": "eco", "nested": [{"refresh_token": "t0"}]}', api_secret text,
    created_at timestamptz not null default now(), updated_at timestamptz not null default now())`);
  await testDb.sql.unsafe(`grant select, insert, update, delete on gadgets to ${inject('appRole')}`);
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY }, { testDb, resources: [gadgetsResource] });
  alice = await createUserWithToken(t.app);
  api = client(t.app, alice);
});
afterAll(async () => {
  await t?.close();
  await t?.testDb.drop();
});

const auditOf = async (id: string) => (await t.testDb.sql`select action, actor_id, changes from audit_logs where entity_id = ${id} order by id`) as unknown as { action: string; actor_id: string; changes: Record<string, unknown> }[];
const created = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { before: null, after: v }]));
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('audit rows built in the INSERT', () => {
  const full = {
    description: 'a "quoted" description',
    status: 'ready',
    content_type: 'application/pdf',
    size_bytes: 1234567,
    sha256: 'ab'.repeat(32),
    content_text: 'héllo wörld',
    tags: ['a', 'b c'],
    metadata: { pages: 3, nested: { list: [1, 2.5, { x: null }] }, flag: true },
  };

  it('a document create keeps every field of the view, the text as size and hash, numbers as numbers', async () => {
    const body = newDoc(full);
    const res = await api('POST', '/documents', body);
    expect(res.statusCode).toBe(201);
    const [row, ...more] = await auditOf(res.json().id);
    expect(more).toEqual([]);
    expect(row!.action).toBe('document.create');
    expect(row!.actor_id).toBe(alice.id);
    const { content_text, ...rest } = body as typeof body & typeof full;
    expect(row!.changes).toEqual(created({ owner_id: alice.id, ...rest, content_text: { bytes: Buffer.byteLength(content_text), sha256: sha256(content_text) } }));

    // Defaults come from the stored row: status, tags, metadata, the nulls.
    const minimal = newDoc();
    const id = (await api('POST', '/documents', minimal)).json().id;
    expect((await auditOf(id))[0]!.changes).toEqual(
      created({ owner_id: alice.id, ...minimal, description: null, status: 'uploaded', content_type: null, size_bytes: null, sha256: null, content_text: null, tags: [], metadata: {} }),
    );
  });

  it('a batch writes the same audit row per document as a single create', async () => {
    const single = newDoc(full);
    const one = (await api('POST', '/documents', single)).json().id;
    const docs = [newDoc(full), newDoc()];
    const res = await api('POST', '/documents/batch', { documents: docs });
    expect(res.statusCode).toBe(201);
    const [a, b] = res.json().data as { id: string }[];
    const [rowA] = await auditOf(a!.id);
    expect(rowA!.action).toBe('document.batch_create');
    expect(rowA!.changes).toEqual({ ...(await auditOf(one))[0]!.changes, title: { before: null, after: docs[0]!.title }, s3_key: { before: null, after: docs[0]!.s3_key } });
    expect((await auditOf(b!.id))[0]!.changes).toMatchObject(created({ status: 'uploaded', tags: [], metadata: {}, size_bytes: null }));
  });

  it('a secret-looking key inside metadata is stored but never reaches the trail, single or batch', async () => {
    const metadata = { keep: 1, deep: [{ Password: 'p', ok: 2 }], apiToken: 't', x: { client_secret: 's', y: 'z' } };
    const scrubbed = { keep: 1, deep: [{ ok: 2 }], x: { y: 'z' } };
    const single = (await api('POST', '/documents', newDoc({ metadata }))).json();
    expect(single.metadata).toEqual(metadata);
    const batch = (await api('POST', '/documents/batch', { documents: [newDoc({ metadata }), newDoc()] })).json().data as { id: string }[];
    for (const id of [single.id, batch[0]!.id]) {
      const rows = await auditOf(id);
      expect(rows).toHaveLength(1);
      expect((rows[0]!.changes.metadata as { after: unknown }).after).toEqual(scrubbed);
    }
    expect(await auditOf(batch[1]!.id)).toHaveLength(1);
    const [stored] = await t.testDb.sql`select metadata from documents where id = ${single.id}`;
    expect(stored!.metadata).toEqual(metadata);
  });

  it('an analysis keeps numeric as its exact text and drops the token count, whose name looks secret', async () => {
    const doc = (await api('POST', '/documents', newDoc())).json();
    const res = await api('POST', `/documents/${doc.id}/analyses`, { kind: 'summary', model: 'm1', cost_usd: '1.5', tokens_used: 42, result: { summary: 'ok', n: [1] }, duration_ms: 7 });
    expect(res.statusCode).toBe(201);
    const [row] = await auditOf(res.json().id);
    expect(row!.action).toBe('analysis.create');
    expect(row!.changes).toEqual(
      created({ document_id: doc.id, owner_id: alice.id, kind: 'summary', model: 'm1', status: 'pending', result: { summary: 'ok', n: [1] }, error: null, cost_usd: '1.500000', duration_ms: 7 }),
    );
  });

  it('a declared table: numeric and timestamps as their text, bigint as a number, secret columns and default keys dropped', async () => {
    const res = await api('POST', '/gadgets', { name: 'g', price: '12.5', weight: 9007199254740, due_at: '2026-01-02T03:04:05Z', labels: ['x', 'y'], api_secret: 'hunter2' });
    expect(res.statusCode).toBe(201);
    const [row, ...more] = await auditOf(res.json().id);
    expect(more).toEqual([]);
    expect(row!.action).toBe('gadget.create');
    expect(row!.changes).toEqual(
      created({ owner_id: alice.id, name: 'g', price: '12.50', weight: 9007199254740, due_at: '2026-01-02 03:04:05+00', labels: ['x', 'y'], settings: { mode: 'eco', nested: [{}] } }),
    );
    expect(JSON.stringify(row)).not.toMatch(/hunter2|t0/);
    const [stored] = await t.testDb.sql`select settings, api_secret from gadgets where id = ${res.json().id}`;
    expect(stored).toEqual({ settings: { mode: 'eco', nested: [{ refresh_token: 't0' }] }, api_secret: 'hunter2' });
  });

  it('several rows in one request (/rest/v1): one transaction, each audited, scrubbed when a value needs it', async () => {
    const doc = (await api('POST', '/documents', newDoc())).json();
    const rows = [
      { document_id: doc.id, kind: 'summary', result: { text: 'plain' } },
      { document_id: doc.id, kind: 'risks', result: { items: [{ password_hint: 'x', level: 2 }] } },
    ];
    const res = await t.app.inject({ method: 'POST', url: '/rest/v1/analyses', headers: { ...alice.headers, apikey: ANON_KEY, prefer: 'return=representation' }, payload: rows });
    expect(res.statusCode).toBe(201);
    const [a, b] = res.json() as { id: string; result: unknown }[];
    expect(b!.result).toEqual(rows[1]!.result);
    expect(((await auditOf(a!.id))[0]!.changes.result as { after: unknown }).after).toEqual({ text: 'plain' });
    const [rowB, ...more] = await auditOf(b!.id);
    expect(more).toEqual([]);
    expect((rowB!.changes.result as { after: unknown }).after).toEqual({ items: [{ level: 2 }] });
  });

  it('a conflict writes nothing: no row, no audit row', async () => {
    const body = newDoc();
    expect((await api('POST', '/documents', body)).statusCode).toBe(201);
    const before = (await t.testDb.sql`select count(*)::int as n from audit_logs`)[0]!.n;
    const res = await api('POST', '/documents', { ...body, title: 'again' });
    expect(res.statusCode).toBe(409);
    expect(res.json().details).toEqual([expect.objectContaining({ field: 's3_key' })]);
    expect((await t.testDb.sql`select count(*)::int as n from audit_logs`)[0]!.n).toBe(before);
    expect(await t.testDb.sql`select 1 from documents where title = 'again' and s3_key = ${body.s3_key}`).toHaveLength(0);
  });
});
