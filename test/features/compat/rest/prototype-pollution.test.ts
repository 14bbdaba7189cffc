import { randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePrefer, parseQuery } from '../../../../src/features/compat/rest/parser.js';
import { resolveFilters, resolveOrder, resolveSelect } from '../../../../src/features/compat/rest/resolve.js';
import { analysesResource } from '../../../../src/features/analyses/analyses.resource.js';
import { documentsResource } from '../../../../src/features/documents/documents.resource.js';

const RESOURCES = { documents: documentsResource, analyses: analysesResource };
import { compileFilter, filterableColumn, validateSort } from '../../../../src/query/index.js';
import { AppError } from '../../../../src/errors/app-error.js';
import { buildTestApp, type TestApp } from '../../../helpers/app.js';
import { builtinsSnapshot, PROTO_KEYS, scrubBuiltins } from '../../../helpers/prototypes.js';
import { createUserWithToken, type TestUser } from '../../../helpers/users.js';
import { ANON_KEY } from '../helpers.js';

// Attack review, finding 1: `GET /rest/v1/documents?__proto__.offset=1` with only the anon key
// wrote `offset` onto Object.prototype, and from then on every request of every user answered
// 500. No user-controlled name may index a plain object, on any surface: each hostile request
// here must answer a clear 4xx (or a correct 2xx that treats the name as a plain name), leave
// every built-in prototype as it was, and leave the server serving everyone else.

const HOSTILE = [...PROTO_KEYS, 'valueOf', '__defineGetter__', 'isPrototypeOf'];
const pristine = builtinsSnapshot();

let t: TestApp;
let alice: TestUser;
let bob: TestUser;
let aliceDoc: string;

const inject = (opts: InjectOptions) => t.app.inject(opts);
const rest = (url: string, user?: TestUser, extra: Partial<InjectOptions> = {}) =>
  inject({ method: 'GET', url: `/rest/v1/${url}`, ...extra, headers: { apikey: ANON_KEY, ...(user ? user.headers : {}), ...(extra.headers as Record<string, string>) } });
const api = (method: InjectOptions['method'], url: string, user: TestUser, payload?: string) =>
  inject({ method, url: `/api/v1${url}`, headers: { ...user.headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload }) });

beforeAll(async () => {
  t = await buildTestApp(
    { OFFBASE_ANON_KEY: ANON_KEY, RATE_LIMIT_ENABLED: 'false' },
    {
      // What the framework hands the routes as request.query, seen from inside.
      extend: (app) => {
        app.get('/__test/query', async (request) => ({
          // Fastify's parser (fast-querystring) builds it on a prototype that is itself null-prototype.
          inheritsObjectPrototype: Object.prototype.isPrototypeOf.call(Object.prototype, request.query as object),
          keys: Object.keys(request.query as object),
        }));
      },
    },
  );
  alice = await createUserWithToken(t.app);
  bob = await createUserWithToken(t.app);
  const created = await api('POST', '/documents', alice, JSON.stringify({ title: 'Alice only', s3_bucket: 'b', s3_key: `k/${randomUUID()}` }));
  expect(created.statusCode).toBe(201);
  aliceDoc = created.json().id;
  expect((await api('POST', `/documents/${aliceDoc}/analyses`, alice, JSON.stringify({ kind: 'summary' }))).statusCode).toBe(201);
});

afterEach(async () => {
  const now = builtinsSnapshot();
  scrubBuiltins();
  expect(now, 'a built-in prototype gained a property').toBe(pristine);
  expect(Object.keys(Object.prototype)).toEqual([]);
  // Another user's next request, and the health check, still answer.
  expect((await rest('documents?select=id', bob)).statusCode).toBe(200);
  const own = await rest('documents?select=id', alice);
  expect(own.statusCode).toBe(200);
  expect(own.json()).toEqual([{ id: aliceDoc }]);
  expect((await inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
});

afterAll(async () => {
  await t?.close();
});

const expectPostgrest = (res: { statusCode: number; json(): unknown }, status: number, code: string, what: string) => {
  expect(res.statusCode, `${what} → ${JSON.stringify(res.json())}`).toBe(status);
  expect(res.json(), what).toMatchObject({ code });
  expect(Object.keys(res.json() as object).sort(), what).toEqual(['code', 'details', 'hint', 'message']);
};

describe('/rest/v1 query strings', () => {
  it('the reported requests: 400, and the server keeps serving everyone', async () => {
    for (const user of [undefined, bob]) {
      for (const qs of ['__proto__.offset=1', 'toString.or=(title.eq.x)', '__proto__.order=title', 'constructor.order=title', '__proto__.title=eq.x']) {
        // An embedding scope that names no embedded resource: PostgREST's PGRST108.
        expectPostgrest(await rest(`documents?${qs}`, user), 400, 'PGRST108', qs);
      }
    }
  });

  it('a built-in name as an embedding scope, in every parameter: PGRST108', async () => {
    for (const name of HOSTILE) {
      for (const param of ['offset=1', 'limit=1', 'order=title', 'title=eq.x', 'or=(title.eq.x)', 'and=(title.eq.x)', 'not.or=(title.eq.x)']) {
        const qs = `${encodeURIComponent(name)}.${param}`;
        expectPostgrest(await rest(`documents?${qs}`, bob), 400, 'PGRST108', qs);
      }
    }
  });

  it('a built-in name as a column, order term, selected column or relation: 42703 / PGRST200', async () => {
    for (const name of HOSTILE) {
      const n = encodeURIComponent(name);
      expectPostgrest(await rest(`documents?${n}=eq.x`, bob), 400, '42703', `filter ${name}`);
      expectPostgrest(await rest(`documents?or=(${n}.eq.x)`, bob), 400, '42703', `or ${name}`);
      expectPostgrest(await rest(`documents?order=${n}.desc`, bob), 400, '42703', `order ${name}`);
      expectPostgrest(await rest(`documents?select=id,${n}`, bob), 400, '42703', `select ${name}`);
      expectPostgrest(await rest(`documents?select=id,${n}(*)`, bob), 400, 'PGRST200', `embed ${name}`);
      expectPostgrest(await rest(`documents?select=id,${n}!inner(id)`, bob), 400, 'PGRST200', `inner ${name}`);
      expectPostgrest(await rest(`documents?select=id,analyses(${n})`, bob), 400, '42703', `embedded column ${name}`);
      expectPostgrest(await rest(`documents?select=id,analyses(id)&analyses.${n}=eq.x`, bob), 400, '42703', `embedded filter ${name}`);
      expectPostgrest(await rest(`documents?select=id,analyses(id)&analyses.order=${n}`, bob), 400, '42703', `embedded order ${name}`);
      expectPostgrest(await rest(n, bob), 404, 'PGRST205', `table ${name}`);
    }
  });

  it('a built-in name as an operator: PGRST100', async () => {
    for (const name of HOSTILE) {
      const n = encodeURIComponent(name);
      expectPostgrest(await rest(`documents?title=${n}.x`, bob), 400, 'PGRST100', `op ${name}`);
      expectPostgrest(await rest(`documents?title=not.${n}.x`, bob), 400, 'PGRST100', `not op ${name}`);
      expectPostgrest(await rest(`documents?or=(title.${n}.x)`, bob), 400, 'PGRST100', `or op ${name}`);
    }
  });

  it('a built-in name as an alias is a plain output key (PostgREST aliases are free names)', async () => {
    const res = await rest('documents?select=__proto__:title,constructor:id,toString:analyses(kind),hasOwnProperty:status&toString.limit=1', alice);
    expect(res.statusCode, res.body).toBe(200);
    const [row] = JSON.parse(res.body) as Record<string, unknown>[];
    expect(Object.keys(row!).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe('Alice only');
    expect(row!.constructor).toBe(aliceDoc);
    expect(row!.toString).toEqual([{ kind: 'summary' }]);
    // `__proto__.limit` scopes the embedding aliased __proto__: here none, so PGRST108.
    expectPostgrest(await rest('documents?select=toString:analyses(kind)&__proto__.limit=1', alice), 400, 'PGRST108', 'scope of another alias');
    const scoped = await rest('documents?select=id,__proto__:analyses(kind)&__proto__.limit=0', alice);
    expect(scoped.statusCode, scoped.body).toBe(200);
    expect(Object.getOwnPropertyDescriptor(JSON.parse(scoped.body)[0], '__proto__')?.value).toEqual([]);
  });

  it('built-in names in on_conflict and columns are unknown columns', async () => {
    const body = JSON.stringify({ title: 'x', s3_bucket: 'b', s3_key: `k/${randomUUID()}` });
    for (const name of HOSTILE) {
      const n = encodeURIComponent(name);
      const post = (qs: string, prefer = 'return=minimal') => rest(`documents?${qs}`, bob, { method: 'POST', payload: body, headers: { 'content-type': 'application/json', prefer } });
      expectPostgrest(await post(`columns=${n}`), 400, 'PGRST204', `columns ${name}`);
      expectPostgrest(await post(`on_conflict=${n}`, 'resolution=merge-duplicates'), 400, '42P10', `on_conflict ${name}`);
    }
  });
});

describe('/rest/v1 headers', () => {
  it('a built-in name as a Prefer key is an unknown preference: ignored, or PGRST122 when strict', async () => {
    for (const name of HOSTILE) {
      for (const value of ['x', 'representation', 'exact', '1']) {
        const lenient = await rest('documents?select=id', bob, { headers: { prefer: `${name}=${value}` } });
        expect(lenient.statusCode, `${name}=${value} → ${lenient.body}`).toBe(200);
        expectPostgrest(await rest('documents?select=id', bob, { headers: { prefer: `handling=strict, ${name}=${value}` } }), 400, 'PGRST122', `strict ${name}`);
      }
    }
  });

  it('headers named after built-ins change nothing', async () => {
    const headers = Object.fromEntries(HOSTILE.filter((h) => h !== '__proto__').map((h) => [h.toLowerCase(), 'x']));
    const res = await rest('documents?select=id', alice, { headers: { ...headers, accept: 'application/json', range: '0-9' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual([{ id: aliceDoc }]);
  });
});

describe('/rest/v1 bodies', () => {
  const write = (method: 'POST' | 'PATCH', url: string, payload: string, user = bob) =>
    rest(url, user, { method, payload, headers: { 'content-type': 'application/json', prefer: 'return=representation' } });

  it('__proto__ and constructor.prototype keys are refused by the JSON parser: PGRST102', async () => {
    for (const payload of ['{"__proto__":{"polluted":1}}', '{"title":"x","metadata":{"__proto__":{"polluted":1}}}', '{"constructor":{"prototype":{"polluted":1}}}', '[{"__proto__":{"polluted":1}}]']) {
      expectPostgrest(await write('POST', 'documents', payload), 400, 'PGRST102', payload);
      expectPostgrest(await write('PATCH', `documents?id=eq.${aliceDoc}`, payload), 400, 'PGRST102', payload);
    }
  });

  it('a built-in name as a body key is an unknown column: PGRST204, nothing written', async () => {
    const valid = { title: 'x', s3_bucket: 'b', s3_key: `k/${randomUUID()}` };
    for (const name of HOSTILE.filter((n) => n !== '__proto__')) {
      const row = JSON.stringify({ ...valid, [name]: 1 });
      expectPostgrest(await write('POST', 'documents', row), 400, 'PGRST204', `insert ${name}`);
      expectPostgrest(await write('POST', 'documents', `[${JSON.stringify(valid)},${row}]`), 400, 'PGRST204', `array insert ${name}`);
      expectPostgrest(await write('PATCH', `documents?id=eq.${aliceDoc}`, JSON.stringify({ [name]: 'x' }), alice), 400, 'PGRST204', `update ${name}`);
      expectPostgrest(await write('POST', 'analyses', JSON.stringify({ document_id: aliceDoc, kind: 'summary', [name]: 1 }), alice), 400, 'PGRST204', `analysis ${name}`);
    }
    expect((await t.testDb.sql`select count(*)::int as n from documents where owner_id = ${bob.id}`)[0]!.n).toBe(0);
  });

  it('built-in names inside a JSON column are plain keys: stored and returned as sent', async () => {
    const metadata = '{"constructor":{"a":1},"toString":"x","hasOwnProperty":null,"prototype":[1],"valueOf":{"prototype":2}}';
    const res = await write('POST', 'documents', `{"title":"keys","s3_bucket":"b","s3_key":"k/${randomUUID()}","metadata":${metadata}}`);
    expect(res.statusCode, res.body).toBe(201);
    expect(JSON.parse(res.body)[0].metadata).toEqual(JSON.parse(metadata));
    await t.testDb.sql`delete from documents where owner_id = ${bob.id}`;
  });
});

describe('/api/v1 and /auth/v1', () => {
  it('the query string reaches routes as an object without Object.prototype in its chain', async () => {
    const res = await inject({ method: 'GET', url: '/__test/query?__proto__=x&constructor=y&toString=z&a[__proto__]=1&__proto__.polluted=1' });
    expect(res.json()).toEqual({ inheritsObjectPrototype: false, keys: ['__proto__', 'constructor', 'toString', 'a[__proto__]', '__proto__.polluted'] });
  });

  it('built-in names as query keys are unknown parameters: 400 validation_failed naming them', async () => {
    for (const name of HOSTILE) {
      for (const url of ['/documents', '/documents/count', '/documents/search?q=x', '/audit-logs', `/documents/${aliceDoc}/analyses`]) {
        const res = await api('GET', `${url}${url.includes('?') ? '&' : '?'}${encodeURIComponent(name)}=1`, bob);
        expect(res.statusCode, `${url} ${name} → ${res.body}`).toBe(400);
        expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ field: `querystring.${name}` }] });
      }
    }
  });

  it('__proto__ and constructor.prototype body keys: 400 invalid_json; other built-in names: 400 validation_failed', async () => {
    const doc = { title: 'x', s3_bucket: 'b', s3_key: `k/${randomUUID()}` };
    for (const payload of ['{"__proto__":{"polluted":1}}', `{"title":"x","s3_bucket":"b","s3_key":"k","metadata":{"__proto__":{"polluted":1}}}`, '{"constructor":{"prototype":{"polluted":1}}}']) {
      for (const [method, url] of [['POST', '/documents'], ['PUT', '/documents'], ['POST', '/documents/batch'], ['PATCH', `/documents/${aliceDoc}`], ['PATCH', '/auth/me']] as const) {
        const res = await api(method, url, bob, payload);
        expect(res.statusCode, `${method} ${url} ${payload}`).toBe(400);
        expect(res.json().code).toBe('invalid_json');
      }
    }
    for (const name of HOSTILE.filter((n) => n !== '__proto__')) {
      const res = await api('POST', '/documents', bob, JSON.stringify({ ...doc, [name]: 1 }));
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ field: `body.${name}` }] });
      const batch = await api('POST', '/documents/batch', bob, JSON.stringify({ documents: [{ ...doc, [name]: 1 }] }));
      expect(batch.statusCode, batch.body).toBe(400);
      expect(batch.json()).toMatchObject({ code: 'validation_failed', details: [{ index: 0, field: name }] });
    }
  });

  it('built-in names inside metadata and preferences are plain keys, kept as sent', async () => {
    const json = { constructor: { a: 1 }, toString: 'x', hasOwnProperty: null, prototype: [1], valueOf: { prototype: 2 } };
    const created = await api('POST', '/documents', bob, JSON.stringify({ title: 'x', s3_bucket: 'b', s3_key: `k/${randomUUID()}`, metadata: json }));
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().metadata).toEqual(json);
    const patched = await api('PATCH', `/documents/${created.json().id}`, bob, JSON.stringify({ metadata: { ...json, toString: 'y' } }));
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().metadata.toString).toBe('y');
    const me = await api('PATCH', '/auth/me', bob, JSON.stringify({ preferences: json }));
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json().preferences).toEqual(json);
    await t.testDb.sql`delete from documents where owner_id = ${bob.id}`;
  });

  it('GoTrue user metadata: built-in names merge as plain keys; __proto__ is 400', async () => {
    const signup = await inject({
      method: 'POST',
      url: '/auth/v1/signup',
      headers: { apikey: ANON_KEY, 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `proto-${randomUUID().slice(0, 8)}@example.com`, password: 'a long enough passphrase 1', data: { constructor: 'c', toString: { a: 1 } } }),
    });
    expect(signup.statusCode, signup.body).toBe(200);
    expect(signup.json().user.user_metadata).toMatchObject({ constructor: 'c', toString: { a: 1 } });
    const headers = { apikey: ANON_KEY, authorization: `Bearer ${signup.json().access_token}`, 'content-type': 'application/json' };
    const update = await inject({ method: 'PUT', url: '/auth/v1/user', headers, payload: JSON.stringify({ data: { hasOwnProperty: 'h', toString: null, valueOf: [1] } }) });
    expect(update.statusCode, update.body).toBe(200);
    const metadata = update.json().user_metadata;
    expect(metadata).toMatchObject({ constructor: 'c', hasOwnProperty: 'h', valueOf: [1] });
    expect(Object.hasOwn(metadata, 'toString')).toBe(false);
    const polluting = await inject({ method: 'PUT', url: '/auth/v1/user', headers, payload: '{"data":{"__proto__":{"polluted":1}}}' });
    expect(polluting.statusCode).toBe(400);
    expect(polluting.json()).toMatchObject({ code: 400, error_code: 'bad_json' });
  });
});

describe('the parsers and allowlists on their own', () => {
  const params = (qs: string) => [...new URLSearchParams(qs)];

  it('parseQuery keys embedding scopes by name in a Map', () => {
    for (const name of HOSTILE) {
      const q = parseQuery(params(`${name}.offset=1&${name}.limit=2&${name}.order=title&${name}.title=eq.x&${name}.or=(a.eq.1)`));
      expect([...q.embedded.keys()]).toEqual([name]);
      expect(q.embedded.get(name)).toMatchObject({ offset: 1, limit: 2 });
      expect(q.offset).toBeUndefined();
      const resolve = () => resolveSelect(RESOURCES.documents, q);
      expect(resolve).toThrow(expect.objectContaining({ code: 'PGRST108' }));
    }
  });

  it('resolve refuses built-in names as columns, relations and order terms', () => {
    for (const name of HOSTILE) {
      expect(() => resolveFilters(RESOURCES.documents, [{ column: name, op: 'eq', value: 'x' }])).toThrow(expect.objectContaining({ code: '42703' }));
      expect(() => resolveOrder(RESOURCES.analyses, [{ column: name, direction: 'asc' }])).toThrow(expect.objectContaining({ code: '42703' }));
      expect(() => resolveSelect(RESOURCES.documents, parseQuery(params(`select=${name}(*)`)))).toThrow(expect.objectContaining({ code: 'PGRST200' }));
    }
  });

  it('parsePrefer ignores built-in names (PGRST122 when strict)', () => {
    for (const name of HOSTILE) {
      expect(parsePrefer(`${name}=representation`)).toEqual({ return: 'minimal', missing: 'null', handling: 'lenient' });
      expect(() => parsePrefer(`handling=strict,${name}=x`)).toThrow(expect.objectContaining({ code: 'PGRST122' }));
    }
  });

  it('the query module: a built-in name is never an operator, column or sort key (400, not a TypeError)', () => {
    const table = RESOURCES.documents.spec;
    for (const name of HOSTILE) {
      const asOperator = () => compileFilter(table, { column: 'title', op: name as 'eq', value: 'x' });
      expect(asOperator).toThrow(AppError);
      expect(asOperator).toThrow(/does not support/);
      expect(() => compileFilter(table, { column: name, op: 'eq', value: 'x' })).toThrow(AppError);
      expect(() => filterableColumn(table, name)).toThrow(AppError);
      expect(() => validateSort(table, [{ column: name, direction: 'asc' }])).toThrow(AppError);
    }
  });
});
