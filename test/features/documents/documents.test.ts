import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { client, dataApp, newDoc, type Client } from '../../helpers/data.js';
import { createUserWithToken, type TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;

beforeAll(async () => void ({ t, alice, api } = await dataApp()));
afterAll(() => t.close());

describe('documents CRUD', () => {
  it('creates with defaults, never returns content_text in lists, returns it on GET', async () => {
    const body = newDoc({ description: 'A contract', content_text: 'The body', tags: ['legal', 'q3'], metadata: { pages: 3 }, size_bytes: 2 ** 40, sha256: 'a'.repeat(64), content_type: 'application/pdf' });
    const res = await api('POST', '/documents', body);
    expect(res.statusCode).toBe(201);
    const doc = res.json();
    const { content_text: _ct, ...visible } = body;
    expect(doc).toMatchObject({ ...visible, owner_id: alice.id, status: 'uploaded', analysis_count: 0 });
    expect(doc).not.toHaveProperty('content_text');
    expect(doc).not.toHaveProperty('search');
    expect(doc.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(res.headers.location).toBe(`/api/v1/documents/${doc.id}`);
    expect(res.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);

    const got = await api('GET', `/documents/${doc.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual({ ...doc, content_text: 'The body' });
    expect(got.headers.etag).toBe(res.headers.etag);

    const list = await api('GET', '/documents');
    expect(list.json().data.find((d: { id: string }) => d.id === doc.id)).not.toHaveProperty('content_text');
  });

  it('owner_id, id, analysis_count and unknown fields in a body are rejected', async () => {
    for (const extra of [{ owner_id: randomUUID() }, { id: randomUUID() }, { analysis_count: 5 }, { created_at: '2020-01-01T00:00:00Z' }, { search: 'x' }, { nope: 1 }]) {
      const res = await api('POST', '/documents', newDoc(extra));
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      const [field] = Object.keys(extra);
      expect(res.json().details[0].field).toBe(`body.${field}`);
    }
  });

  it('409 on a duplicate (s3_bucket, s3_key) for the same owner, but another owner may use it', async () => {
    const body = newDoc();
    expect((await api('POST', '/documents', body)).statusCode).toBe(201);
    const dup = await api('POST', '/documents', { ...body, title: 'other' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('conflict');
    const bob = await createUserWithToken(t.app);
    expect((await client(t.app, bob)('POST', '/documents', body)).statusCode).toBe(201);
  });

  it('PATCH changes only the given fields, moves updated_at and the ETag', async () => {
    const created = (await api('POST', '/documents', newDoc({ tags: ['a'] }))).json();
    const res = await api('PATCH', `/documents/${created.id}`, { status: 'ready', metadata: { x: 1 } });
    expect(res.statusCode).toBe(200);
    const patched = res.json();
    expect(patched).toMatchObject({ title: created.title, tags: ['a'], status: 'ready', metadata: { x: 1 } });
    expect(patched).not.toHaveProperty('content_text');
    expect(Date.parse(patched.updated_at)).toBeGreaterThan(Date.parse(created.updated_at));
    expect(patched.created_at).toBe(created.created_at);
    expect(res.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const get = await api('GET', `/documents/${created.id}`);
    expect(get.headers.etag).toBe(res.headers.etag);
    expect((await api('PATCH', `/documents/${created.id}`, {})).statusCode).toBe(400);
    // Moving onto another document's S3 key is a conflict, not a 500.
    const other = (await api('POST', '/documents', newDoc())).json();
    const clash = await api('PATCH', `/documents/${created.id}`, { s3_bucket: other.s3_bucket, s3_key: other.s3_key });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().code).toBe('conflict');
  });

  it('If-Match: a stale ETag gets 412 and changes nothing; the current one, W/ or * succeeds', async () => {
    const created = await api('POST', '/documents', newDoc());
    const id = created.json().id;
    const v1 = created.headers.etag as string;
    const first = await api('PATCH', `/documents/${id}`, { title: 'editor one' }, { 'if-match': v1 });
    expect(first.statusCode).toBe(200);
    const v2 = first.headers.etag as string;
    expect(v2).not.toBe(v1);

    const stale = await api('PATCH', `/documents/${id}`, { title: 'editor two' }, { 'if-match': v1 });
    expect(stale.statusCode).toBe(412);
    expect(stale.json().code).toBe('precondition_failed');
    expect((await api('GET', `/documents/${id}`)).json().title).toBe('editor one');
    expect((await api('PATCH', `/documents/${id}`, { title: 'x' }, { 'if-match': '"garbage"' })).statusCode).toBe(412);

    expect((await api('PATCH', `/documents/${id}`, { title: 'weak' }, { 'if-match': `W/${v2}` })).statusCode).toBe(200);
    expect((await api('PATCH', `/documents/${id}`, { title: 'any' }, { 'if-match': '*' })).statusCode).toBe(200);

    const current = (await api('GET', `/documents/${id}`)).headers.etag as string;
    expect((await api('DELETE', `/documents/${id}`, undefined, { 'if-match': v2 })).statusCode).toBe(412);
    expect((await api('GET', `/documents/${id}`)).statusCode).toBe(200);
    expect((await api('DELETE', `/documents/${id}`, undefined, { 'if-match': `"x", ${current}` })).statusCode).toBe(204);
  });

  it('concurrent PATCHes with the same If-Match: exactly one wins', async () => {
    const created = await api('POST', '/documents', newDoc());
    const { id } = created.json();
    const etag = created.headers.etag as string;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => api('PATCH', `/documents/${id}`, { title: `writer ${i}` }, { 'if-match': etag })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 412)).toHaveLength(5);
    const winner = results.find((r) => r.statusCode === 200)!.json().title;
    expect((await api('GET', `/documents/${id}`)).json().title).toBe(winner);
  });

  it('If-None-Match with the current ETag answers 304 with no body', async () => {
    const created = await api('POST', '/documents', newDoc());
    const etag = created.headers.etag as string;
    const res = await api('GET', `/documents/${created.json().id}`, undefined, { 'if-none-match': etag });
    expect(res.statusCode).toBe(304);
    expect(res.body).toBe('');
    expect(res.headers.etag).toBe(etag);
    expect((await api('GET', `/documents/${created.json().id}`, undefined, { 'if-none-match': '"other"' })).statusCode).toBe(200);
  });

  it('DELETE answers 204, then 404 for GET, PATCH and DELETE', async () => {
    const { id } = (await api('POST', '/documents', newDoc())).json();
    expect((await api('DELETE', `/documents/${id}`)).statusCode).toBe(204);
    for (const [method, payload] of [['GET'], ['PATCH', { title: 'x' }], ['DELETE']] as const) {
      const res = await api(method, `/documents/${id}`, payload);
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('not_found');
    }
  });

  it('the updated_at trigger moves on every change, also from raw SQL', async () => {
    const doc = (await api('POST', '/documents', newDoc())).json();
    await t.testDb.sql`update documents set title = 'via sql' where id = ${doc.id}`;
    const after = (await api('GET', `/documents/${doc.id}`)).json();
    expect(after.title).toBe('via sql');
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(doc.updated_at));
  });

  it('the OpenAPI document describes the data routes; logs carry neither tokens nor document text', async () => {
    await api('POST', '/documents', newDoc({ content_text: 'confidential-marker-77' }));
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    for (const p of ['/api/v1/documents', '/api/v1/documents/batch', '/api/v1/documents/search', '/api/v1/documents/{id}', '/api/v1/documents/{id}/analyses', '/api/v1/analyses/{id}', '/api/v1/audit-logs']) {
      expect(paths).toContain(p);
    }
    const logs = t.logs.join('\n');
    expect(logs).not.toContain(alice.token);
    expect(logs).not.toContain('confidential-marker-77');
  });

  it('requires a valid bearer token on every route', async () => {
    const id = randomUUID();
    const routes: [string, string][] = [
      ['GET', '/documents'], ['POST', '/documents'], ['PUT', '/documents'], ['POST', '/documents/batch'], ['GET', '/documents/count'],
      ['GET', '/documents/search?q=x'], ['GET', `/documents/${id}`], ['PATCH', `/documents/${id}`], ['DELETE', `/documents/${id}`],
      ['POST', `/documents/${id}/analyses`], ['GET', `/documents/${id}/analyses`], ['GET', `/analyses/${id}`], ['PATCH', `/analyses/${id}`],
      ['DELETE', `/analyses/${id}`], ['GET', '/audit-logs'],
    ];
    for (const [method, url] of routes) {
      const none = await t.app.inject({ method: method as 'GET', url: `/api/v1${url}`, payload: method === 'GET' || method === 'DELETE' ? undefined : {} });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      const bad = await t.app.inject({ method: method as 'GET', url: `/api/v1${url}`, headers: { authorization: 'Bearer not.a.jwt' } });
      expect(bad.statusCode, `${method} ${url}`).toBe(401);
    }
  });
});
