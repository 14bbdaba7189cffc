import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../helpers/app.js';
import { dataApp, newDoc, type Client } from '../../helpers/data.js';
import type { TestUser } from '../../helpers/users.js';

let t: TestApp;
let alice: TestUser;
let api: Client;
let docId: string;

beforeAll(async () => {
  ({ t, alice, api } = await dataApp());
  docId = (await api('POST', '/documents', newDoc())).json().id;
});
afterAll(() => t.close());

const expect400 = async (method: string, url: string, payload?: unknown, field?: string) => {
  const res = await api(method as 'GET', url, payload);
  expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload)?.slice(0, 80)} → ${res.body.slice(0, 200)}`).toBe(400);
  expect(res.json().code).toMatch(/^(validation_failed|invalid_json)$/);
  if (field) expect(res.json().details?.[0]?.field).toBe(field);
  return res;
};

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

describe('bad input → 400/413, never 500', () => {
  it('malformed ids in every :id route', async () => {
    for (const id of ['nope', '123', `${'0'.repeat(36)}`, "1' or '1'='1", '00000000-0000-0000-0000-00000000000g']) {
      const e = encodeURIComponent(id);
      for (const [m, u, p] of [['GET', `/documents/${e}`], ['PATCH', `/documents/${e}`, { title: 'x' }], ['DELETE', `/documents/${e}`], ['POST', `/documents/${e}/analyses`, { kind: 'summary' }], ['GET', `/documents/${e}/analyses`], ['GET', `/analyses/${e}`], ['PATCH', `/analyses/${e}`, { status: 'running' }], ['DELETE', `/analyses/${e}`]] as const) {
        await expect400(m, u, p, 'params.id');
      }
    }
  });

  it('limits, sort keys, counts and unknown query parameters', async () => {
    for (const q of ['limit=0', 'limit=201', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=1e3']) await expect400('GET', `/documents?${q}`);
    for (const q of ['sort=id', 'sort=content_text', 'sort=-search', 'sort=title;drop', 'sort=', 'sort=owner_id']) await expect400('GET', `/documents?${q}`);
    await expect400('GET', '/documents?count=planned');
    await expect400('GET', '/documents?status=deleted');
    await expect400('GET', '/documents?owner_id=me');
    await expect400('GET', '/documents?select=*');
    await expect400('GET', `/documents/${docId}/analyses?limit=500`);
    await expect400('GET', `/documents/${docId}/analyses?sort=title`);
  });

  it('garbage and forged cursors', async () => {
    const real = (await api('GET', '/documents?limit=1&sort=created_at')).json();
    await api('POST', '/documents', newDoc());
    const good = (await api('GET', '/documents?limit=1&sort=created_at')).json().next_cursor as string;
    expect(good ?? real.next_cursor).toBeTruthy();
    const forged = [
      'abc', '!!!', '%00', 'a'.repeat(5000), b64('not json'), b64(null), b64([]), b64({}), b64({ s: 'created_at.last,id.last', v: [] }),
      b64({ s: 'created_at.last,id.last', v: ['yesterday', docId] }), b64({ s: 'created_at.last,id.last', v: ['2024-01-01T00:00:00Z', 'not-a-uuid'] }),
      b64({ s: 'created_at.last,id.last', v: ["2024-01-01'; drop table documents; --", docId] }), b64({ s: 'created_at.last,id.last', v: ['0000-01-01T00:00:00Z', docId] }),
      b64({ s: 'created_at.last,id.last', v: [null, docId] }), b64({ s: 'created_at.last,id.last', v: [{ a: 1 }, docId] }), b64({ s: 'title.last,id.last', v: ['a', docId] }),
    ];
    for (const cursor of forged) await expect400('GET', `/documents?sort=created_at&cursor=${encodeURIComponent(cursor)}`, undefined, cursor.length > 4096 ? 'querystring.cursor' : 'cursor');
    for (const cursor of forged.slice(0, 4)) {
      const res = await api('GET', `/audit-logs?cursor=${encodeURIComponent(cursor)}`);
      expect(res.statusCode).toBe(400);
      expect((await api('GET', `/documents/${docId}/analyses?cursor=${encodeURIComponent(cursor)}`)).statusCode).toBe(400);
    }
  });

  it('invalid dates', async () => {
    for (const d of ['yesterday', '2024-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T25:00:00Z', '0000-01-01T00:00:00Z', '2024-01-01', '1714000000', "2024-01-01T00:00:00Z' or 1=1"]) {
      await expect400('GET', `/documents?created_after=${encodeURIComponent(d)}`);
      await expect400('GET', `/documents/count?created_before=${encodeURIComponent(d)}`);
      await expect400('GET', `/audit-logs?since=${encodeURIComponent(d)}`);
    }
  });

  it('oversize and malformed fields', async () => {
    await expect400('POST', '/documents', newDoc({ title: 'x'.repeat(501) }), 'body.title');
    await expect400('POST', '/documents', newDoc({ title: '' }), 'body.title');
    await expect400('POST', '/documents', newDoc({ title: 'nul \u0000 byte' }), 'body.title');
    await expect400('POST', '/documents', newDoc({ tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }), 'body.tags');
    await expect400('POST', '/documents', newDoc({ tags: ['a', 'a'] }), 'body.tags');
    await expect400('POST', '/documents', newDoc({ size_bytes: -1 }), 'body.size_bytes');
    await expect400('POST', '/documents', newDoc({ size_bytes: 1.5 }), 'body.size_bytes');
    await expect400('POST', '/documents', newDoc({ size_bytes: 2 ** 63 }), 'body.size_bytes');
    await expect400('POST', '/documents', newDoc({ sha256: 'abc' }), 'body.sha256');
    await expect400('POST', '/documents', newDoc({ status: 'deleted' }), 'body.status');
    await expect400('POST', '/documents', newDoc({ metadata: [] }), 'body.metadata');
    await expect400('POST', '/documents', { title: 'no key', s3_bucket: 'b' }, 'body.s3_key');
    // Accepted by JSON, refused by PostgreSQL jsonb: mapped to 400.
    await expect400('POST', '/documents', newDoc({ metadata: { note: 'nul \u0000 inside' } }));
    await expect400('POST', `/documents/${docId}/analyses`, { kind: 'summary', result: { x: '\u0000' } });
    // content_text is limited in bytes: 600k two-byte characters is 1.2 MB.
    await expect400('POST', '/documents', newDoc({ content_text: 'é'.repeat(600_000) }), 'body.content_text');
    await expect400('PATCH', `/documents/${docId}`, { content_text: 'é'.repeat(600_000) }, 'body.content_text');
    await expect400('PUT', '/documents', newDoc({ content_text: 'é'.repeat(600_000) }), 'body.content_text');
    const max = await api('POST', '/documents', newDoc({ content_text: 'x'.repeat(1_048_576) }));
    expect(max.statusCode).toBe(201);
    expect(await t.testDb.sql`select 1 from documents where id = ${max.json().id} and octet_length(content_text) = 1048576`).toHaveLength(1);
  });

  it('body limits: 413 over 2 MiB on single-document writes, over 1 MiB elsewhere', async () => {
    const huge = newDoc({ content_text: 'x'.repeat(2 * 1_048_576 + 10) });
    for (const [m, u] of [['POST', '/documents'], ['PUT', '/documents'], ['PATCH', `/documents/${docId}`]] as const) {
      const res = await api(m, u, huge);
      expect(res.statusCode, `${m} ${u}`).toBe(413);
      expect(res.json().code).toBe('payload_too_large');
    }
    const res = await api('POST', `/documents/${docId}/analyses`, { kind: 'summary', result: { blob: 'x'.repeat(1_048_576) } });
    expect(res.statusCode).toBe(413);
    expect((await api('PATCH', `/analyses/${docId}`, { result: { blob: 'x'.repeat(1_048_576) } })).statusCode).toBe(413);
  });

  it('invalid JSON and wrong content types', async () => {
    const raw = (payload: string, type = 'application/json') => t.app.inject({ method: 'POST', url: '/api/v1/documents', headers: { ...alice.headers, 'content-type': type }, payload });
    expect((await raw('{"title": ')).json().code).toBe('invalid_json');
    expect((await raw('title=x', 'application/x-www-form-urlencoded')).statusCode).toBe(415);
    expect((await raw('null')).statusCode).toBe(400);
    expect((await raw('[]')).statusCode).toBe(400);
    expect((await raw('"x"')).statusCode).toBe(400);
  });

  it('random query strings on the list routes never cause a 500', async () => {
    const key = fc.constantFrom('status', 'tag', 'created_after', 'created_before', 'sort', 'limit', 'cursor', 'count', 'owner_id', 'q', 'since', 'until', 'entity_id', 'action', 'kind');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/documents', '/documents/count', '/documents/search', '/audit-logs', `/documents/${docId}/analyses`), fc.array(fc.tuple(key, fc.string({ maxLength: 40, unit: 'binary' })), { maxLength: 4 }), async (path, pairs) => {
        const qs = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
        const res = await api('GET', `${path}?${qs}`);
        return res.statusCode < 500;
      }),
      { numRuns: 150 },
    );
  });
});
