import { randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toGoTrueError } from '../../src/features/compat/auth/errors.js';
import { toPostgrestError } from '../../src/features/compat/rest/errors.js';
import { toAppError } from '../../src/errors/http.js';
import { JSON_MAX_DEPTH, jsonTooDeep } from '../../src/lib/json-depth.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { createUserWithToken, type TestUser } from '../helpers/users.js';

// Attack review, finding 2: a body whose metadata nested 5,000 levels (60 KB) answered 500
// (a RangeError from JSON.stringify), on every JSON field. JSON fields nest at most
// JSON_MAX_DEPTH (32) levels; deeper is 400 validation_failed naming the field, in each
// surface's own error shape, and no error that user data raises is a 500.

const ANON_KEY = 'test-anon-key-0123456789abcdef';
const DEEP = 5000;

/** JSON text nesting `levels` objects (or arrays), built as text: JSON.stringify itself would overflow. */
function nested(levels: number, kind: 'object' | 'array' = 'object'): string {
  return kind === 'object' ? `${'{"nested":'.repeat(levels)}1${'}'.repeat(levels)}` : `${'['.repeat(levels)}1${']'.repeat(levels)}`;
}

let t: TestApp;
let alice: TestUser;
let docId: string;
let analysisId: string;

const send = (method: InjectOptions['method'], url: string, payload: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url, payload, headers: { 'content-type': 'application/json', ...headers } });
const api = (method: InjectOptions['method'], url: string, payload: string) => send(method, `/api/v1${url}`, payload, alice.headers);
const rest = (method: InjectOptions['method'], url: string, payload: string, prefer = 'return=representation') =>
  send(method, `/rest/v1/${url}`, payload, { ...alice.headers, apikey: ANON_KEY, prefer });
const docBody = (metadata: string) => `{"title":"deep","s3_bucket":"b","s3_key":"k/${randomUUID()}","metadata":${metadata}}`;

/** Every JSON field, on every route that writes it: [what, send it with this JSON value]. */
function nativeWrites(): [string, (json: string) => ReturnType<typeof api>, string][] {
  return [
    ['POST /documents metadata', (j) => api('POST', '/documents', docBody(j)), 'body.metadata'],
    ['PUT /documents metadata', (j) => api('PUT', '/documents', docBody(j)), 'body.metadata'],
    ['PATCH /documents/:id metadata', (j) => api('PATCH', `/documents/${docId}`, `{"metadata":${j}}`), 'body.metadata'],
    ['POST /documents/:id/analyses result', (j) => api('POST', `/documents/${docId}/analyses`, `{"kind":"summary","result":${j}}`), 'body.result'],
    ['PATCH /analyses/:id result', (j) => api('PATCH', `/analyses/${analysisId}`, `{"result":${j}}`), 'body.result'],
    ['PATCH /auth/me preferences', (j) => api('PATCH', '/auth/me', `{"preferences":${j}}`), 'body.preferences'],
  ];
}

beforeAll(async () => {
  t = await buildTestApp({ OFFBASE_ANON_KEY: ANON_KEY, RATE_LIMIT_ENABLED: 'false' });
  alice = await createUserWithToken(t.app);
  docId = (await api('POST', '/documents', docBody('{}'))).json().id;
  analysisId = (await api('POST', `/documents/${docId}/analyses`, '{"kind":"summary"}')).json().id;
});
afterAll(async () => {
  await t?.close();
});

describe('jsonTooDeep', () => {
  it('counts levels of objects and arrays, without recursion', () => {
    expect(jsonTooDeep(1, 0)).toBe(false);
    expect(jsonTooDeep(null, 0)).toBe(false);
    expect(jsonTooDeep({}, 0)).toBe(true);
    expect(jsonTooDeep({}, 1)).toBe(false);
    expect(jsonTooDeep({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(jsonTooDeep({ a: [{ b: 1 }] }, 2)).toBe(true);
    expect(jsonTooDeep({ wide: Array.from({ length: 10_000 }, (_, i) => ({ i })) }, 3)).toBe(false);
    for (const kind of ['object', 'array'] as const) {
      expect(jsonTooDeep(JSON.parse(nested(JSON_MAX_DEPTH, kind)))).toBe(false);
      expect(jsonTooDeep(JSON.parse(nested(JSON_MAX_DEPTH + 1, kind)))).toBe(true);
      // Far deeper than any recursive walk survives: answered, not a stack overflow.
      expect(jsonTooDeep(JSON.parse(nested(200_000, kind)))).toBe(true);
    }
    // One deep branch among shallow ones.
    expect(jsonTooDeep({ a: 1, b: [2, 3], c: JSON.parse(nested(40)) })).toBe(true);
  });
});

describe('/api/v1: 400 validation_failed naming the field', () => {
  it(`a ${DEEP}-level (${Math.round(nested(DEEP).length / 1000)} KB) value in each JSON field`, async () => {
    expect(nested(DEEP).length).toBeGreaterThan(50_000);
    const state = () => t.testDb.sql`
      select (select count(*) from documents where owner_id = ${alice.id})::int as documents, (select count(*) from analyses where owner_id = ${alice.id})::int as analyses,
             (select count(*) from audit_logs where actor_id = ${alice.id})::int as audit, (select documents.metadata::text || users.preferences::text from documents, users where documents.id = ${docId} and users.id = ${alice.id}) as json`;
    const before = await state();
    for (const [what, write, field] of nativeWrites()) {
      for (const json of [nested(DEEP), nested(DEEP, 'array'), nested(JSON_MAX_DEPTH + 1), `{"ok":1,"deep":${nested(JSON_MAX_DEPTH)}}`]) {
        const res = await write(json);
        expect(res.statusCode, `${what} → ${res.body.slice(0, 200)}`).toBe(400);
        expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ field, message: `must not nest objects and arrays more than ${JSON_MAX_DEPTH} levels deep` }] });
      }
    }
    // Nothing was written, not even an audit row.
    expect(await state()).toEqual(before);
  });

  it(`${JSON_MAX_DEPTH} levels are accepted, stored and returned whole`, async () => {
    const metadata = `{"a":${nested(JSON_MAX_DEPTH - 1)}}`;
    const result = nested(JSON_MAX_DEPTH, 'array');
    for (const [what, write] of nativeWrites()) {
      const json = what.includes('result') ? result : metadata;
      const res = await write(json);
      expect(res.statusCode, `${what} → ${res.body.slice(0, 200)}`).toBeLessThan(300);
      const out = res.json() as Record<string, unknown>;
      expect(out.metadata ?? out.result ?? out.preferences).toEqual(JSON.parse(json));
    }
  });

  it('the batch route names the item and the field', async () => {
    const ok = JSON.parse(docBody('{}'));
    const res = await api('POST', '/documents/batch', `{"documents":[${JSON.stringify(ok)},${docBody(nested(DEEP))}]}`);
    expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ index: 1, field: 'metadata' }] });
    const fine = await api('POST', '/documents/batch', `{"documents":[${docBody(nested(JSON_MAX_DEPTH))}]}`);
    expect(fine.statusCode, fine.body.slice(0, 200)).toBe(201);
  });

  it('sign-up has no JSON field: a deep value anywhere in it is a 400, never a 500', async () => {
    for (const payload of [
      `{"email":"deep-${randomUUID().slice(0, 8)}@example.com","password":"a long enough passphrase 1","full_name":${nested(DEEP)}}`,
      `{"email":"deep-${randomUUID().slice(0, 8)}@example.com","password":"a long enough passphrase 1","data":${nested(DEEP)}}`,
      nested(DEEP),
    ]) {
      const res = await send('POST', '/api/v1/auth/register', payload);
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
  });

});

describe('/rest/v1: PostgREST shape, naming the column', () => {
  const writes: [string, (json: string) => ReturnType<typeof rest>, string][] = [
    ['insert documents.metadata', (j) => rest('POST', 'documents', docBody(j)), 'metadata'],
    ['array insert documents.metadata', (j) => rest('POST', 'documents', `[${docBody('{}')},${docBody(j)}]`), 'metadata'],
    ['upsert documents.metadata', (j) => rest('POST', 'documents', docBody(j), 'return=representation,resolution=merge-duplicates'), 'metadata'],
    ['update documents.metadata', (j) => rest('PATCH', `documents?id=eq.${docId}`, `{"metadata":${j}}`), 'metadata'],
    ['insert analyses.result', (j) => rest('POST', 'analyses', `{"document_id":"${docId}","kind":"summary","result":${j}}`), 'result'],
    ['update analyses.result', (j) => rest('PATCH', `analyses?id=eq.${analysisId}`, `{"result":${j}}`), 'result'],
  ];

  it(`a ${DEEP}-level value in each JSON column: 400 22P02`, async () => {
    for (const [what, write, column] of writes) {
      for (const json of [nested(DEEP), nested(DEEP, 'array'), nested(JSON_MAX_DEPTH + 1)]) {
        const res = await write(json);
        expect(res.statusCode, `${what} → ${res.body.slice(0, 200)}`).toBe(400);
        const body = res.json();
        expect(Object.keys(body).sort()).toEqual(['code', 'details', 'hint', 'message']);
        expect(body.code).toBe('22P02');
        expect(body.message).toContain(`column "${column}"`);
        expect(body.details).toBe(`must not nest objects and arrays more than ${JSON_MAX_DEPTH} levels deep`);
      }
    }
  });

  it(`${JSON_MAX_DEPTH} levels are accepted`, async () => {
    for (const [what, write, column] of writes) {
      const res = await write(nested(JSON_MAX_DEPTH));
      expect(res.statusCode, `${what} → ${res.body.slice(0, 200)}`).toBeLessThan(300);
      expect(JSON.parse(res.body).at(-1)[column]).toEqual(JSON.parse(nested(JSON_MAX_DEPTH)));
    }
  });

  it('a deep value in a non-JSON column or an id is a 400 too', async () => {
    for (const body of [`{"title":${nested(DEEP, 'array')},"s3_bucket":"b","s3_key":"k"}`, `{"id":${nested(DEEP, 'array')},"title":"x","s3_bucket":"b","s3_key":"k"}`]) {
      const res = await rest('POST', 'documents', body);
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json().code).toBe('22P02');
    }
    const analysis = await rest('POST', 'analyses', `{"document_id":${nested(DEEP, 'array')},"kind":"summary"}`);
    expect(analysis.statusCode, analysis.body.slice(0, 200)).toBe(400);
  });

  it('a deep JSON filter value (cs / cd on a jsonb column): 400', async () => {
    for (const op of ['cs', 'cd']) {
      const value = encodeURIComponent(nested(6000, 'array'));
      const res = await t.app.inject({ method: 'GET', url: `/rest/v1/documents?metadata=${op}.${value}`, headers: { ...alice.headers, apikey: ANON_KEY } });
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json()).toMatchObject({ code: '22P02' });
      expect(res.json().message).toContain('metadata');
    }
  });
});

describe('/auth/v1: GoTrue shape, naming the field', () => {
  it('sign-up data and PUT /user data', async () => {
    const email = () => `deep-${randomUUID().slice(0, 8)}@example.com`;
    const signup = (data: string) => send('POST', '/auth/v1/signup', `{"email":"${email()}","password":"a long enough passphrase 1","data":${data}}`, { apikey: ANON_KEY });
    for (const json of [nested(DEEP), nested(JSON_MAX_DEPTH + 1)]) {
      const res = await signup(json);
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json()).toEqual({ code: 400, error_code: 'validation_failed', msg: `body.data must not nest objects and arrays more than ${JSON_MAX_DEPTH} levels deep` });
    }
    const ok = await signup(nested(JSON_MAX_DEPTH));
    expect(ok.statusCode, ok.body.slice(0, 200)).toBe(200);
    expect(ok.json().user.user_metadata.nested).toEqual(JSON.parse(nested(JSON_MAX_DEPTH - 1)));

    const headers = { apikey: ANON_KEY, authorization: `Bearer ${ok.json().access_token}` };
    for (const json of [nested(DEEP), `{"a":${nested(JSON_MAX_DEPTH)}}`]) {
      const res = await send('PUT', '/auth/v1/user', `{"data":${json}}`, headers);
      expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
      expect(res.json()).toEqual({ code: 400, error_code: 'validation_failed', msg: `body.data must not nest objects and arrays more than ${JSON_MAX_DEPTH} levels deep` });
    }
    const merged = await send('PUT', '/auth/v1/user', `{"data":{"b":${nested(JSON_MAX_DEPTH - 1)}}}`, headers);
    expect(merged.statusCode, merged.body.slice(0, 200)).toBe(200);
  });
});

describe('errors raised by user data are 4xx', () => {
  const overflow = () => {
    const deep = JSON.parse(nested(200_000, 'array'));
    try {
      JSON.stringify(deep);
    } catch (err) {
      return err;
    }
    throw new Error('expected JSON.stringify to overflow');
  };

  it('a stack overflow and PostgreSQL class 54 (stack depth, statement too complex) are validation_failed on every surface', () => {
    const pgTooDeep = Object.assign(new Error('Failed query'), { cause: Object.assign(new Error('stack depth limit exceeded'), { code: '54001' }) });
    for (const err of [overflow(), pgTooDeep]) {
      expect(toAppError(err)).toMatchObject({ statusCode: 400, code: 'validation_failed' });
      expect(toPostgrestError(err).statusCode).toBe(400);
      expect(toGoTrueError(err)).toMatchObject({ statusCode: 400, errorCode: 'validation_failed' });
    }
    // A programming error is still a 500.
    expect(toAppError(new TypeError('x is undefined')).statusCode).toBe(500);
    expect(toPostgrestError(new TypeError('x is undefined')).statusCode).toBe(500);
  });
});
