import { randomUUID } from 'node:crypto';
import { boolean, integer, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { timestamps } from '../../src/db/schema/columns.js';
import { users } from '../../src/db/schema/users.js';
import { defineResource } from '../../src/resources/index.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// docs/adding-a-table.md, done for real: a table that exists only in this test, declared
// once, registered through buildApp's `resources` option, and served on /api/v1/notes and
// /rest/v1/notes with owner isolation, an audit row per write, keyset pages and counts.

const notes = pgTable('notes', {
  id: uuid().primaryKey().defaultRandom(),
  owner_id: uuid()
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  title: text().notNull(),
  body: text(),
  pinned: boolean().notNull().default(false),
  stars: integer().notNull().default(0),
  ...timestamps,
});

const notesResource = defineResource({
  name: 'notes',
  entity: 'note',
  table: notes,
  owner: 'owner_id',
  writable: ['title', 'body', 'pinned', 'stars'],
  filterable: ['pinned', 'title'],
  sortable: ['created_at', 'title'],
});

// What `npm run db:generate` would have written for the table above.
const CREATE_TABLE = `
  create table notes (
    id uuid primary key default gen_random_uuid(),
    owner_id uuid not null references users(id) on delete cascade,
    title text not null,
    body text,
    pinned boolean not null default false,
    stars integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`;

const ANON_KEY = 'test-anon-key-0123456789abcdef';
let t: TestApp;
let ada: TestUser;
let bob: TestUser;

beforeAll(async () => {
  const testDb = await createTestDatabase();
  await testDb.sql.unsafe(CREATE_TABLE);
  await testDb.sql.unsafe(`grant select, insert, update, delete on notes to ${inject('appRole')}`);
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY }, { testDb, resources: [notesResource] });
  ada = await createUserWithToken(t.app);
  bob = await createUserWithToken(t.app);
});

afterAll(async () => {
  await t?.close();
  await t?.testDb.drop();
});

const api = (user: TestUser, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: user.headers, ...(payload === undefined ? {} : { payload: payload as object }) });
const rest = (user: TestUser, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, prefer = 'return=representation') =>
  t.app.inject({ method, url: `/rest/v1${url}`, headers: { ...user.headers, apikey: ANON_KEY, prefer }, ...(payload === undefined ? {} : { payload: payload as object }) });

const auditRows = (id: string) => t.testDb.sql`select action, actor_id, request_id from audit_logs where entity_type = 'note' and entity_id = ${id} order by id`;

describe('a table declared once', () => {
  it('native create/get/patch/delete: owner isolation and one audit row per write', async () => {
    const created = await api(ada, 'POST', '/notes', { title: 'first', stars: 3 });
    expect(created.statusCode).toBe(201);
    const note = created.json();
    expect(note).toMatchObject({ title: 'first', body: null, pinned: false, stars: 3, owner_id: ada.id });
    expect(note.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(created.headers.location).toBe(`/api/v1/notes/${note.id}`);

    // Another user: 404 exactly like a missing id, on every by-id route; nothing changes.
    for (const [method, payload] of [['GET'], ['PATCH', { title: 'x' }], ['DELETE']] as const) {
      expect((await api(bob, method, `/notes/${note.id}`, payload)).statusCode).toBe(404);
    }
    expect((await api(bob, 'GET', `/notes/${randomUUID()}`)).statusCode).toBe(404);
    expect((await api(bob, 'GET', '/notes')).json().data).toEqual([]);

    const patched = await api(ada, 'PATCH', `/notes/${note.id}`, { pinned: true });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: note.id, pinned: true, title: 'first' });
    expect((await api(ada, 'GET', `/notes/${note.id}`)).json()).toMatchObject({ pinned: true });
    expect((await api(ada, 'DELETE', `/notes/${note.id}`)).statusCode).toBe(204);
    expect((await api(ada, 'GET', `/notes/${note.id}`)).statusCode).toBe(404);

    const trail = await auditRows(note.id);
    expect(trail.map((r) => r.action)).toEqual(['note.create', 'note.update', 'note.delete']);
    expect(trail.every((r) => r.actor_id === ada.id && r.request_id)).toBe(true);
  });

  it('bad input is a 400 in the documented shape', async () => {
    const missing = await api(ada, 'POST', '/notes', { body: 'no title' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: 'validation_failed' });
    expect((await api(ada, 'POST', '/notes', { title: 'x', owner_id: bob.id })).statusCode).toBe(400);
    expect((await api(ada, 'POST', '/notes', { title: 'nul \u0000' })).statusCode).toBe(400);
    expect((await api(ada, 'PATCH', `/notes/${randomUUID()}`, {})).statusCode).toBe(400);
    expect((await api(ada, 'GET', '/notes?sort=body')).statusCode).toBe(400);
    expect((await api(ada, 'GET', '/notes?cursor=garbage')).statusCode).toBe(400);
    expect((await api(ada, 'GET', '/notes?pinned=maybe')).statusCode).toBe(400);
  });

  it('list: filters, sort, keyset cursor and count, only the caller’s rows', async () => {
    for (let i = 0; i < 5; i++) expect((await api(ada, 'POST', '/notes', { title: `page-${i}`, pinned: i % 2 === 0 })).statusCode).toBe(201);
    await api(bob, 'POST', '/notes', { title: 'page-bob' });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await api(ada, 'GET', `/notes?sort=title&limit=2&count=exact${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.total).toBe(5);
      seen.push(...page.data.map((n: { title: string }) => n.title));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);

    const pinned = (await api(ada, 'GET', '/notes?pinned=true&count=exact')).json();
    expect(pinned.total).toBe(3);
    expect(pinned.data.every((n: { pinned: boolean }) => n.pinned)).toBe(true);
  });

  it('/rest/v1/notes: PostgREST reads and writes, owner-scoped and audited', async () => {
    const inserted = await rest(ada, 'POST', '/notes', [{ title: 'rest-a', stars: 1 }, { title: 'rest-b', stars: 2 }]);
    expect(inserted.statusCode).toBe(201);
    const rows = inserted.json() as { id: string; owner_id: string }[];
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.owner_id === ada.id)).toBe(true);
    // RLS's WITH CHECK: a row for someone else is refused.
    expect((await rest(ada, 'POST', '/notes', { title: 'x', owner_id: bob.id })).statusCode).toBe(403);

    const read = await rest(ada, 'GET', '/notes?select=title,stars&title=like.rest-*&order=stars.desc', undefined, 'count=exact');
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual([
      { title: 'rest-b', stars: 2 },
      { title: 'rest-a', stars: 1 },
    ]);
    expect(read.headers['content-range']).toBe('0-1/2');
    expect((await rest(bob, 'GET', '/notes?title=like.rest-*')).json()).toEqual([]);

    // Another user's filtered write matches nothing.
    const bobPatch = await rest(bob, 'PATCH', `/notes?id=eq.${rows[0]!.id}`, { title: 'stolen' });
    expect(bobPatch.json()).toEqual([]);
    const patched = await rest(ada, 'PATCH', '/notes?title=like.rest-*', { pinned: true });
    expect(patched.json()).toHaveLength(2);
    const deleted = await rest(ada, 'DELETE', `/notes?id=eq.${rows[1]!.id}`);
    expect(deleted.json()).toMatchObject([{ id: rows[1]!.id, pinned: true }]);

    expect((await auditRows(rows[0]!.id)).map((r) => r.action)).toEqual(['note.create', 'note.update']);
    expect((await auditRows(rows[1]!.id)).map((r) => r.action)).toEqual(['note.create', 'note.update', 'note.delete']);
    expect((await rest(ada, 'POST', '/notes?columns=nope', { title: 'x' })).json().code).toBe('PGRST204');
  });

  it('the generated routes are in the OpenAPI document with summary, tags, security and error responses', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [path, methods] of [['/api/v1/notes', ['get', 'post']], ['/api/v1/notes/{id}', ['get', 'patch', 'delete']]] as const) {
      for (const m of methods) {
        const op = spec.paths[path][m];
        expect(op.summary).toBeTruthy();
        expect(op.tags).toEqual(['notes']);
        expect(op.security).toEqual([{ bearer: [] }]);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401', '500']));
      }
    }
  });
});

describe('defineResource', () => {
  it('refuses a declaration that names columns the table does not have, or lets a body set the owner', () => {
    const base = { name: 'notes', entity: 'note', table: notes, owner: 'owner_id', writable: ['title'], filterable: [], sortable: [] };
    expect(() => defineResource({ ...base, owner: 'user_id' })).toThrow(/owner column user_id/);
    expect(() => defineResource({ ...base, writable: ['nope'] })).toThrow(/writable column nope/);
    expect(() => defineResource({ ...base, sortable: ['nope'] })).toThrow(/sortable column nope/);
    expect(() => defineResource({ ...base, writable: ['title', 'owner_id'] })).toThrow(/owner column/);
  });

  it('derives closed TypeBox bodies from the table: required where there is no default, nullable as a type list', () => {
    const { create, patch, row } = notesResource.schemas;
    expect(create.required).toEqual(['title']);
    expect(create.additionalProperties).toBe(false);
    expect(create.properties.body).toMatchObject({ type: ['string', 'null'] });
    expect(Object.keys(create.properties).sort()).toEqual(['body', 'pinned', 'stars', 'title']);
    expect(patch).toMatchObject({ additionalProperties: false, minProperties: 1 });
    expect(Object.keys(row.properties)).toContain('owner_id');
  });
});
