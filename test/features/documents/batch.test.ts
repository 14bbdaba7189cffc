import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { client, dataApp, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;

beforeAll(async () => void ({ t, alice, api } = await dataApp()));
afterAll(() => t.close());

const countOwned = async (owner: string) => (await t.testDb.sql`select count(*)::int as n from documents where owner_id = ${owner}`)[0]!.n as number;

describe('POST /documents/batch', () => {
  it('inserts 1000 documents in one request, in request order, with one audit row each', async () => {
    const user = await createUserWithToken(t.app);
    const docs = Array.from({ length: 1000 }, (_, i) => newDoc({ title: `batch ${i}`, tags: ['batch'] }));
    const res = await client(t.app, user)('POST', '/documents/batch', { documents: docs });
    expect(res.statusCode).toBe(201);
    const data = res.json().data as { id: string; title: string; owner_id: string }[];
    expect(data.map((d) => d.title)).toEqual(docs.map((d) => d.title));
    expect(data.every((d) => d.owner_id === user.id)).toBe(true);
    expect(await countOwned(user.id)).toBe(1000);
    const audit = await t.testDb.sql`select entity_id from audit_logs where actor_id = ${user.id} and action = 'document.batch_create'`;
    expect(new Set(audit.map((a) => a.entity_id))).toEqual(new Set(data.map((d) => d.id)));
  });

  it('rejects 0 and 1001 items', async () => {
    expect((await api('POST', '/documents/batch', { documents: [] })).statusCode).toBe(400);
    const many = Array.from({ length: 1001 }, () => newDoc());
    const res = await api('POST', '/documents/batch', { documents: many });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
    expect((await api('POST', '/documents/batch', { documents: [newDoc()], extra: 1 })).statusCode).toBe(400);
    expect((await api('POST', '/documents/batch', [newDoc()])).statusCode).toBe(400);
  });

  it('a bad item → 400 naming its index and field; nothing is written', async () => {
    const before = await countOwned(alice.id);
    const docs = [newDoc(), newDoc({ title: '' }), newDoc(), newDoc({ owner_id: alice.id }), newDoc({ content_text: 'é'.repeat(600_000) })];
    const res = await api('POST', '/documents/batch', { documents: docs });
    expect(res.statusCode).toBe(400);
    const details = res.json().details as { index: number; field: string }[];
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 1, field: 'title' }),
        expect.objectContaining({ index: 3, field: 'owner_id' }),
        expect.objectContaining({ index: 4, field: 'content_text' }),
      ]),
    );
    expect(details.some((d) => d.index === 0 || d.index === 2)).toBe(false);
    expect(await countOwned(alice.id)).toBe(before);
  });

  it('a duplicate inside the batch → 409 with both indexes; nothing written', async () => {
    const before = await countOwned(alice.id);
    const dup = newDoc();
    const res = await api('POST', '/documents/batch', { documents: [newDoc(), dup, newDoc(), { ...dup, title: 'again' }] });
    expect(res.statusCode).toBe(409);
    expect(res.json().details).toEqual([expect.objectContaining({ index: 3, field: 's3_key' })]);
    expect(await countOwned(alice.id)).toBe(before);
  });

  it('a duplicate of an existing row → 409 naming the item; nothing written, no audit rows', async () => {
    const existing = newDoc();
    expect((await api('POST', '/documents', existing)).statusCode).toBe(201);
    const before = await countOwned(alice.id);
    const auditBefore = (await t.testDb.sql`select count(*)::int as n from audit_logs`)[0]!.n;
    const res = await api('POST', '/documents/batch', { documents: [newDoc(), newDoc(), { ...existing, title: 'clash' }] });
    expect(res.statusCode).toBe(409);
    expect(res.json().details).toEqual([expect.objectContaining({ index: 2 })]);
    expect(await countOwned(alice.id)).toBe(before);
    expect((await t.testDb.sql`select count(*)::int as n from audit_logs`)[0]!.n).toBe(auditBefore);
  });

  it('accepts bodies up to 16 MiB and answers 413 beyond', async () => {
    const big = 'x'.repeat(900_000);
    const ok = Array.from({ length: 18 }, () => newDoc({ content_text: big }));
    expect(JSON.stringify({ documents: ok }).length).toBeGreaterThan(15 * 1_048_576);
    const res = await api('POST', '/documents/batch', { documents: ok });
    expect(res.statusCode).toBe(201);
    const tooBig = Array.from({ length: 19 }, () => newDoc({ content_text: big }));
    const over = await api('POST', '/documents/batch', { documents: tooBig });
    expect(over.statusCode).toBe(413);
    expect(over.json().code).toBe('payload_too_large');
  });
});

describe('PUT /documents (upsert)', () => {
  it('201 when created, 200 when updated; only the given fields change; id is stable', async () => {
    const body = newDoc({ tags: ['v1'], description: 'first' });
    const first = await api('PUT', '/documents', body);
    expect(first.statusCode).toBe(201);
    const second = await api('PUT', '/documents', { s3_bucket: body.s3_bucket, s3_key: body.s3_key, title: 'renamed', status: 'ready' });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({ id: first.json().id, title: 'renamed', status: 'ready', tags: ['v1'], description: 'first' });
    const audit = await t.testDb.sql`select changes from audit_logs where entity_id = ${first.json().id} and action = 'document.upsert' order by id`;
    expect(audit).toHaveLength(2);
    expect(audit[1]!.changes).toEqual({ title: { before: body.title, after: 'renamed' }, status: { before: 'uploaded', after: 'ready' } });
  });

  it("never overwrites another user's row with the same key: each owner has their own", async () => {
    const bob = await createUserWithToken(t.app);
    const body = newDoc({ title: 'alice original' });
    const a = (await api('PUT', '/documents', body)).json();
    const b = await client(t.app, bob)('PUT', '/documents', { ...body, title: 'bob' });
    expect(b.statusCode).toBe(201);
    expect(b.json().id).not.toBe(a.id);
    expect((await api('GET', `/documents/${a.id}`)).json().title).toBe('alice original');
  });

  it('rejects owner_id in the body', async () => {
    const res = await api('PUT', '/documents', newDoc({ owner_id: alice.id }));
    expect(res.statusCode).toBe(400);
  });
});
